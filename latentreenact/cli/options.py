"""Options shared by several sub-commands."""

from __future__ import annotations

from typing import Optional

import click
import torch

from ..pose_delta import EXPRESSION_LIMIT


def parse_device(value: str) -> torch.device:
    """A torch device from ``cpu``, ``cuda``, ``cuda:1``, ...; clear error when unavailable."""
    try:
        device = torch.device(value)
    except RuntimeError as exc:
        raise click.BadParameter(f"{value!r} is not a device ({exc})", param_hint="--device") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("CUDA was requested but no CUDA device is available", param_hint="--device")
    return device


device_option = click.option("--device", default="cpu", show_default=True,
                             help="Torch device: cpu, cuda, cuda:1, ...")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
progress_option = click.option("--progress/--no-progress", default=True, show_default=True,
                               help="Show progress bars on stderr.")
generator_option = click.option("--generator", "generator_path", default="mobilestylegan-ffhq", show_default=True,
                                help="Registered model name or generator checkpoint file.")
DETECTOR_CHOICES = ("hog", "mmod", "yunet")  # latentreenact.faces.DETECTORS, kept here so --help stays cheap


def detector_option(help: str = "Face detector.") -> "click.decorators.FC":  # noqa: A002 - click's keyword
    """The ``--detector`` option (default ``hog``) with a command-specific help text."""
    return click.option("--detector", type=click.Choice(DETECTOR_CHOICES), default="hog", show_default=True,
                        help=help)

# inversion.recipes.RECIPES and DEFAULT_RECIPE, kept here so --help stays cheap (tests/test_controls.py checks them)
RECIPE_CHOICES = ("none", "released", "pti", "pivot", "local", "editable")
DEFAULT_RECIPE = "released"
RECIPE_HELP = ("Inversion recipe after the encoder: released (the paper's tuning; the default everywhere), editable "
               "(pivot search, then tuning with PTI's locality term), pti, local (locality tuning only), pivot "
               "(pivot search only), none (the encoder's code: fast, often another person). See docs/editing.md.")


def tune_option(help: str = RECIPE_HELP) -> "click.decorators.FC":  # noqa: A002 - click's keyword
    """The ``--tune`` option: an inversion recipe, default :data:`DEFAULT_RECIPE`."""
    return click.option("--tune", type=click.Choice(RECIPE_CHOICES), default=DEFAULT_RECIPE, show_default=True,
                        help=help)


tune_steps_option = click.option("--tune-steps", type=click.IntRange(0, 100000), default=None,
                                 help="Tuning steps (default: the recipe's tuning preset's).")
expression_option = click.option(
    "--expression", type=click.Choice(["relative", "absolute"]), default="relative", show_default=True,
    help="With relative motion: relative moves the source's expression by the driving face's change of expression "
         "since its first frame; absolute gives the source the driving face's expression itself (the head motion "
         "stays relative). Absolute opens a closed-mouthed source's mouth with the driving mouth, at some cost in "
         "identity and head motion (docs/driving.md).")
eyes_option = click.option(
    "--follow-eyes/--no-follow-eyes", default=None,
    help="Open and close the source's eyes with the driving eyes (dlib's eye landmarks on the driving face, "
         "rendered along the model's eyes_closed direction). Default: where the model can (the default model "
         "does); --follow-eyes makes it an error when it cannot.")
mouth_option = click.option(
    "--follow-mouth/--no-follow-mouth", default=None,
    help="Part the source's lips with the driving mouth (dlib's inner-lip landmarks on the driving face, rendered "
         "along the model's lips_apart direction, on top of the mouth that the expression entries open). Default: "
         "where the model can (the default model does); --follow-mouth makes it an error when it cannot.")
limit_option = click.option(
    "--expression-limit", type=click.FloatRange(min=0.0), default=None,
    help="Keep the source's expression plus the driving change within this bound, in the rescaled units of the "
         "direction matrix (6: the generated faces' whole range); a laugh driving a smiling source then stops at "
         "the bound instead of breaking the mouth. 0 turns it off. Default: 6 "
         "(latentreenact.pose_delta.EXPRESSION_LIMIT; docs/driving.md).")


def limit_of(value: Optional[float]) -> Optional[float]:
    """The ``--expression-limit`` value for :class:`ReenactOptions`: the library's default when not given, None
    (off) for 0."""
    if value is None:
        return EXPRESSION_LIMIT
    return None if value == 0 else float(value)


def _side_or_off(ctx: click.Context, param: click.Parameter, value: int) -> Optional[int]:
    """``--max-side``: None for 0 (the photo's size); under 16 pixels refused."""
    if 0 < value < 16:
        raise click.BadParameter(f"{value} is too small; give at least 16 pixels, or 0 for the photo's own size")
    return value or None


def max_side_option(default: int, help: str) -> "click.decorators.FC":  # noqa: A002 - click's keyword
    """``--max-side`` (pixels, 0 = the photo's size, as None) with a command-specific default and help text."""
    return click.option("--max-side", type=click.IntRange(0), default=default, show_default=True,
                        callback=_side_or_off, help=f"{help} Give 0 or at least 16.")
