"""Options shared by several sub-commands."""

from __future__ import annotations

import click
import torch


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
