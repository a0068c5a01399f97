"""``latentreenact edit``: change the head pose / expression of a source face with the direction matrix.

Angles are in degrees; ``--mouth-open`` and ``--smile`` are expression controls
(latentreenact.net3d.controls), ``--eyes-closed`` and ``--lips-apart`` W-space controls
(latentreenact.latent_controls), ``--exp``
raw expression coefficients; values are added to the
source's (default) or set (``--absolute``). One edit writes an image; ``--sweep NAME:START:STOP:N``
(repeatable) renders N values of one entry: a PNG/JPEG grid (one row per sweep) or a GIF
(each sweep forwards and back).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import click
import numpy as np

from ..images import save_image
from ..latent_controls import LATENT_CONTROLS
from ..net3d.controls import CONTROLS
from ..output_paths import check_not_input, check_output
from ..reenact_files import render_sweeps, write_sweeps
from ..output_frame import canvas_source
from ..reenact_video import OUTPUT_MAX_SIDE
from .errors import reports_errors
from .options import detector_option, device_option, max_side_option, progress_option, seed_option
from .reenact import check_source, load_source, model_options, source_options

#: every entry a sweep may name: the angles, jaw, the expression controls (both registries) and exp_I
_SWEPT = ("yaw", "pitch", "roll", "jaw", *CONTROLS, *LATENT_CONTROLS)
_SWEEP = re.compile(rf"^({'|'.join(_SWEPT)}|exp_?(\d+)):([^:]+):([^:]+):(\d+)$")


def parse_expression(values: Tuple[str, ...]) -> Dict[int, float]:
    """``("0=1.5", "3=-2")`` -> ``{0: 1.5, 3: -2.0}``."""
    out: Dict[int, float] = {}
    for item in values:
        index, sep, value = item.partition("=")
        try:
            out[int(index)] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected INDEX=VALUE, e.g. 0=1.5", param_hint="--exp") from None
        if not sep:
            raise click.BadParameter(f"{item!r}: expected INDEX=VALUE, e.g. 0=1.5", param_hint="--exp")
    return out


def parse_sweep(text: str) -> Tuple[str, List[float]]:
    """``yaw:-30:30:7`` -> ``("yaw", [-30, -20, ..., 30])``; ``exp_0`` / ``exp0`` name expressions."""
    match = _SWEEP.match(text.strip())
    start, stop, count = 0.0, 0.0, 0
    if match is not None:
        try:
            start, stop, count = float(match.group(3)), float(match.group(4)), int(match.group(5))
        except ValueError:
            count = 0
    if count < 1 or not np.isfinite([start, stop]).all():
        raise click.BadParameter(f"{text!r}: expected NAME:START:STOP:N with NAME {', '.join(_SWEPT)} or exp_I "
                                 f"and N >= 1, e.g. yaw:-30:30:7", param_hint="--sweep")
    name = f"exp_{match.group(2)}" if match.group(2) is not None else match.group(1)
    return name, [float(v) for v in np.linspace(start, stop, count)]


@click.command()
@source_options
@click.option("--yaw", type=float, default=None, help="Yaw in degrees (added, or set with --absolute).")
@click.option("--pitch", type=float, default=None, help="Pitch in degrees.")
@click.option("--roll", type=float, default=None, help="Roll in degrees (layouts with roll).")
@click.option("--jaw", type=float, default=None, help="Jaw (DECA layouts only).")
@click.option("--mouth-open", type=float, default=None,
              help="Open the mouth (1: lips 0.1 eye-distance further apart in the 3D model; negative closes it).")
@click.option("--smile", type=float, default=None,
              help="Smile (1: mouth corners 0.08 eye-distance further apart in the 3D model).")
@click.option("--eyes-closed", type=float, default=None,
              help="Close the eyes (1 asks dlib's eye aspect ratio to drop by 0.25: a squint or nearly shut; "
                   "negative opens them wider).")
@click.option("--lips-apart", type=float, default=None,
              help="Part the lips (1 asks dlib's inner-lip gap to grow by 0.1 eye-distance; a W-space mouth control "
                   "next to --mouth-open; the head still nods a little).")
@click.option("--exp", "expression", multiple=True, metavar="I=V",
              help="Raw expression coefficient I (repeatable; prefer --mouth-open, --smile, --eyes-closed, "
                   "--lips-apart).")
@click.option("--sweep", "sweeps", multiple=True, metavar="NAME:START:STOP:N",
              help="Render N values of one entry (repeatable): a grid image, or the frames of a GIF.")
@click.option("--absolute", is_flag=True, help="Set the given values instead of adding them to the source's.")
@click.option("--paste-back/--no-paste-back", default=False, show_default=True,
              help="Paste the edited face back into the source photo (else output the aligned face).")
@max_side_option(OUTPUT_MAX_SIDE, "With --paste-back and --sweep: each grid tile or GIF frame is the source photo scaled "
                 "down to at most this many pixels on its longer side; 0 = the photo's own size. A single edit keeps "
                 "the photo's size.")
@click.option("--fps", type=click.FloatRange(0.1, 100), default=8.0, show_default=True, help="GIF frame rate.")
@model_options
@detector_option()
@device_option
@seed_option
@progress_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output image (.png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff) or, with --sweep, a .gif.")
@reports_errors
def edit(sources: Tuple[Path, ...], save_source: Optional[Path], tune: str, tune_steps: Optional[int], no_align: bool,
         yaw: Optional[float],
         pitch: Optional[float], roll: Optional[float], jaw: Optional[float], mouth_open: Optional[float],
         smile: Optional[float], eyes_closed: Optional[float], lips_apart: Optional[float],
         expression: Tuple[str, ...],
         sweeps: Tuple[str, ...], absolute: bool, paste_back: bool, max_side: Optional[int], fps: float, model: str,
         exact: bool,
         truncation: Optional[float], roll_mode: str, calibrate: bool, detector: str, device: str, seed: int,
         progress: bool,
         output: Path) -> None:
    """Edit the head pose and expression of the face in --source."""
    parsed = [parse_sweep(s) for s in sweeps]
    if output.suffix.lower() == ".gif" and not parsed:
        raise click.BadParameter("a GIF needs at least one --sweep", param_hint="-o")
    controls = {k: v for k, v in (("mouth_open", mouth_open), ("smile", smile), ("eyes_closed", eyes_closed),
                                  ("lips_apart", lips_apart)) if v is not None}
    fixed = {"yaw": yaw, "pitch": pitch, "roll": roll, "jaw": jaw, "expression": parse_expression(expression),
             "controls": controls, "absolute": absolute, "paste_back": paste_back}
    given = {*(k for k in ("yaw", "pitch", "roll", "jaw") if fixed[k] is not None), *controls,
             *(f"exp_{i}" for i in fixed["expression"])}
    both = [name for name, _ in parsed if name in given]
    if both:
        raise click.BadParameter(f"{', '.join(sorted(set(both)))} is both given a value and swept; the sweep sets it, "
                                 "so drop one of the two", param_hint="--sweep")
    source = check_source(sources, tune, save_source)
    check_output(output, *(("image", "gif") if parsed else ("image",)))  # before any model loads
    check_not_input(output, *sources)
    if save_source is not None:
        check_not_input(save_source, output, *sources)
    swept = [{name: 1.0} for name, _ in parsed if name in LATENT_CONTROLS]  # a W-space control the model may lack
    reenactor, src = load_source(sources, model, exact, truncation, device, seed, detector, tune, tune_steps,
                                 no_align, progress, roll_mode, calibrate, save_source,
                                 check=lambda r: [r.control_offset(c) for c in [controls, *swept]])
    if not parsed:
        save_image(reenactor.edit(src, **fixed), output)
        click.echo(f"edited {source} -> {output}", err=True)
        return
    if paste_back:  # a grid or GIF of full-size phone photos is unwieldy
        src = canvas_source(src, max_side)
    rows = render_sweeps(reenactor, src, fixed, parsed)
    write_sweeps(rows, output, fps)
    click.echo(f"rendered {sum(map(len, rows))} edit(s) of {source} "
               f"({', '.join(f'{n} {v[0]:g}..{v[-1]:g}' for n, v in parsed)}) -> {output}", err=True)
