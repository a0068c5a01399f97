"""``latentreenact reenact``: move a source face with the pose and expression of driving images or a video.

Driving a video writes a video (``.mp4`` etc. with the driving clip's audio, or ``.gif``) at the
clip's frame rate. Driving one image writes an image file, or ``OUT/<driving name>.png`` when OUT
is a directory; a folder (or several images) writes one image per driving image into the
directory OUT. Outputs are written atomically; a failed run leaves nothing behind. The source,
the driving input and the output path are checked before any model loads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Tuple

import click

from ..reenact_files import (check_driving, check_outputs_not_inputs, check_reenact_output, check_saved_source,
                             load_and_invert, load_prepared, reenact_to_files)
from ..reenact_files import check_source as check_source_file
from ..reenact_files import write_images as write_images  # the old import path
from ..output_paths import check_not_input
from ..reenact_video import OUTPUT_MAX_SIDE, ReenactOptions, control_missing
from ..driving_landmarks import FOLLOWERS
from ..reenactor import ROLL_MODES
from ..source_file import is_source_file
from ..video import warnings_once
from .errors import reports_errors
from .options import (detector_option, device_option, expression_option, eyes_option, limit_of, limit_option,
                      max_side_option, mouth_option, parse_device, progress_option, seed_option, tune_option,
                      tune_steps_option)

log = logging.getLogger("latentreenact.cli.reenact")


def model_options(func: Any) -> Any:
    """``--model``, ``--exact``, ``--truncation``, ``--roll-mode``, ``--calibrate``: shared by ``reenact``, ``edit``,
    ``eval`` and ``demo``."""
    func = click.option("--calibrate/--no-calibrate", default=True, show_default=True,
                        help="After inversion, measure how far A turns this source's face in pitch and yaw per degree "
                             "asked, and how far its expression entries turn it in yaw (renders read by the Net3D "
                             "estimator); the driving yaw loses that turn, then pitch and yaw are scaled by the "
                             "measured turn.")(func)
    func = click.option("--roll-mode", type=click.Choice(ROLL_MODES), default="rotate", show_default=True,
                        help="How head roll moves the face: 'rotate' turns the rendered face region in the image "
                             "plane (the generator draws level eyes); 'latent' uses the direction matrix's roll "
                             "column, as in the paper (it hardly rolls the face).")(func)
    func = click.option("--truncation", type=float, default=None,
                        help="Compat setting: render centre + psi*(w - centre) after the shift (the official "
                             "renders use 0.7). Default: off.")(func)
    func = click.option("--exact", is_flag=True,
                        help="With --model default: render with the exact 1024 px generator (slow) instead of the "
                             "fast fitted 256 px heads.")(func)
    return click.option("--model", default="default", show_default=True,
                        help="'default' (registered models) or a directory with reenactor.json / generator.pt, "
                             "encoder.pt, directions.pt.")(func)


def source_options(func: Any) -> Any:
    """``--source``, ``--tune``, ``--tune-steps``, ``--no-align``: shared by ``reenact`` and ``edit``."""
    func = click.option("--no-align", is_flag=True,
                        help="Inputs are already FFHQ-aligned square face crops: skip face detection.")(func)
    func = tune_steps_option(func)
    func = tune_option()(func)
    func = click.option("--save-source", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Also save the prepared source (inverted, tuned, calibrated) to this .lrsource file; "
                             "--source FILE.lrsource uses it again in a fraction of a second, with the same "
                             "model.")(func)
    return click.option("--source", "sources", type=click.Path(path_type=Path), required=True, multiple=True,
                        help="Source face image. Repeat it to add more photos of the same person: the first is "
                             "reenacted, all of them are used by the tuning (joint tuning; the recipe must tune). "
                             "Or a prepared source saved by --save-source (.lrsource): no inversion or tuning "
                             "(--tune and --tune-steps do not apply).")(func)


def check_source(sources: Sequence[Path], tune: str, save_source: Optional[Path] = None) -> Path:
    """Before any model is loaded: ``FileNotFoundError`` (exit 3) for a missing source image,
    ``ValueError`` (exit 5) for a directory, a file that is not an image or one too large, for several
    photos with a recipe that does not tune, or for a prepared source among other sources; an unsupported
    ``--save-source`` path (exit 2). Returns the first photo (the one reenacted)."""
    for source in sources:
        check_source_file(source)
    if len(sources) > 1 and any(is_source_file(s) for s in sources):
        raise ValueError("a prepared source (.lrsource) is given alone: it was tuned already, so further photos "
                         "cannot be added to it")
    check_saved_source(save_source)
    if len(sources) > 1 and tune in ("none", "pivot"):
        raise ValueError(f"{len(sources)} source photos were given, but recipe {tune!r} does not tune; the extra "
                         f"photos are used only by tuning (choose released, pti, local or editable)")
    return sources[0]


def _given(name: str) -> bool:
    """Whether the running command's option ``name`` was given on the command line (not its default)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def load_source(sources: Sequence[Path], model: str, exact: bool, truncation: Optional[float], device: str,
                seed: int, detector: str, tune: str, tune_steps: Optional[int], no_align: bool, progress: bool,
                roll_mode: str = "rotate", calibrate: bool = True, save_source: Optional[Path] = None,
                no_align_drives: bool = False, check: Optional[Callable[[Any], None]] = None) -> Any:
    """Load the reenactor and invert the first source photo (tuning on all of them), or load a prepared source
    (``.lrsource``): ``(reenactor, source)``; with ``save_source``, also save the prepared source there.
    ``no_align_drives``: ``--no-align`` also applies to the driving inputs (``reenact``), so a prepared source
    does not make it moot. ``check(reenactor)``: what the command will ask of the model, before the inversion."""
    if is_source_file(sources[0]):
        moot = ("tune", "tune_steps") if no_align_drives else ("tune", "tune_steps", "no_align")
        given = [f"--{name.replace('_', '-')}" for name in moot if _given(name)]
        if given:
            log.warning("%s ignored: %s is a prepared source, already inverted and tuned", " and ".join(given),
                        sources[0])
        reenactor, src = load_prepared(sources[0], model, exact=exact, truncation=truncation,
                                       device=parse_device(device), seed=seed, detector=detector, roll=roll_mode,
                                       calibrate=calibrate, check=check)
    else:
        reenactor, src = load_and_invert(sources[0], model, exact=exact, truncation=truncation,
                                         device=parse_device(device), seed=seed, detector=detector, tune=tune,
                                         tune_steps=tune_steps, align=not no_align, progress=progress,
                                         also=list(sources[1:]), roll=roll_mode, calibrate=calibrate, check=check)
    if save_source is not None:
        reenactor.save_source(src, save_source)
        click.echo(f"saved the prepared source -> {save_source}", err=True)
    return reenactor, src


def check_followers(reenactor: Any, follow_eyes: Optional[bool], follow_mouth: Optional[bool]) -> None:
    """``--follow-eyes`` / ``--follow-mouth`` (required) on a model without the W-space control they drive: a
    ValueError before the source is prepared (was: after the inversion and tuning)."""
    for measure, option, wanted in (("eye", "--follow-eyes", follow_eyes), ("mouth", "--follow-mouth", follow_mouth)):
        missing = control_missing(FOLLOWERS[measure], reenactor) if wanted else None
        if missing is not None:
            raise ValueError(f"{option}: {missing}")


@click.command()
@source_options
@click.option("--driving", type=click.Path(path_type=Path), required=True,
              help="Driving video, image, or folder of images.")
@click.option("--relative/--absolute", default=True, show_default=True,
              help="Relative: a video or folder moves the source by the motion relative to its first frame with a "
                   "face (a single image: relative to the source). Absolute: every frame's pose against the source.")
@expression_option
@eyes_option
@mouth_option
@limit_option
@click.option("--smoothing", type=click.FloatRange(0.0, 1.0, max_open=True), default=None,
              help="Exponential moving average of the driving pose, in [0, 1) (0 = off). Default: 0.5 for videos, "
                   "0 for images.")
@click.option("--paste-back/--no-paste-back", default=True, show_default=True,
              help="Paste the reenacted face back into the source photo (else output the aligned face).")
@max_side_option(OUTPUT_MAX_SIDE, "With --paste-back: scale the source photo down so that its longer side is at most "
                 "this many pixels before pasting (a phone photo then makes a 1080p-class video that players decode, "
                 "several times faster); with --side-by-side, the whole frame; 0 = the photo's own size.")
@click.option("--side-by-side/--no-side-by-side", default=False, show_default=True,
              help="Output [driving frame | result].")
@click.option("--max-frames", type=click.IntRange(1), default=None,
              help="Use only the first N frames of a driving video (default: all).")
@model_options
@click.option("--batch-size", type=click.IntRange(1, 1024), default=8, show_default=True,
              help="Frames per Net3D / generator pass.")
@detector_option()
@device_option
@seed_option
@progress_option
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="A driving video makes a video (.mp4, .mov, .mkv, .webm or .gif); a driving image an image "
                   "file (.png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff) or OUT/<name>.png in a directory; a folder a "
                   "directory.")
@reports_errors
def reenact(sources: Tuple[Path, ...], save_source: Optional[Path], tune: str, tune_steps: Optional[int],
            no_align: bool, driving: Path, relative: bool, expression: str, follow_eyes: Optional[bool],
            follow_mouth: Optional[bool], expression_limit: Optional[float],
            smoothing: Optional[float], paste_back: bool, max_side: Optional[int], side_by_side: bool,
            max_frames: Optional[int], model: str, exact: bool,
            truncation: Optional[float], roll_mode: str, calibrate: bool, batch_size: int, detector: str, device: str,
            seed: int,
            progress: bool, output: Path) -> None:
    """Reenact the face in --source with the pose and expression of --driving."""
    start = time.perf_counter()
    check_source(sources, tune, save_source)
    if not driving.exists():
        raise FileNotFoundError(f"driving input not found: {driving}")
    check_reenact_output(output, driving)
    check_outputs_not_inputs(output, driving, *sources)
    if save_source is not None:
        check_not_input(save_source, driving, output, *sources)
    with warnings_once():  # a damaged clip is probed and decoded several times: one warning
        check_driving(driving)  # every driving input is read before any model loads
        reenactor, src = load_source(sources, model, exact, truncation, device, seed, detector, tune, tune_steps,
                                     no_align, progress, roll_mode, calibrate, save_source, no_align_drives=True,
                                     check=lambda r: check_followers(r, follow_eyes, follow_mouth))
        setup = time.perf_counter() - start
        start = time.perf_counter()
        options = ReenactOptions(relative=relative, absolute_expression=expression == "absolute",
                                 follow_eyes=follow_eyes, follow_mouth=follow_mouth, align=not no_align,
                                 expression_limit=limit_of(expression_limit),
                                 smoothing=smoothing, paste_back=paste_back, max_side=max_side,
                                 side_by_side=side_by_side, batch_size=batch_size, progress=progress)
        frames, missing = reenact_to_files(reenactor, src, driving, output, options, max_frames=max_frames)
    seconds = time.perf_counter() - start
    what = ("loading the models and the prepared source" if is_source_file(sources[0])
            else "loading the models and inverting" + (" and tuning" if tune != "none" else "") + " the source")
    click.echo(f"reenacted {frames} frame(s), {missing} without a face, {seconds / max(frames, 1):.3f} s/frame "
               f"({seconds:.1f} s for the frames, {setup:.1f} s {what}) -> {output}", err=True)
