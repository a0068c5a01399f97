"""``latentreenact faces``: face alignment (and, later, pose) from the command line."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import List, Optional

import click
from tqdm import tqdm

from ..faces.align_file import align_image_file
from ..fileio import staged_directory
from ..output_paths import check_not_input, check_output
from .errors import EXIT_BAD_INPUT, fail, reports_errors
from .options import detector_option, progress_option

log = logging.getLogger("latentreenact.cli.faces")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@click.group()
def faces() -> None:
    """Face detection, landmarks and alignment."""


def _inputs(source: Path) -> List[Path]:
    if not source.exists():
        raise FileNotFoundError(f"input not found: {source}")
    if source.is_file():
        return [source]
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in directory {source}")
    return files


@faces.command("align")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory: <name>.png (crop) and <name>.json (box, landmarks, transform) per image.")
@click.option("--size", type=click.IntRange(16, 4096), default=256, show_default=True, help="Crop size in pixels.")
@click.option("--mode", type=click.Choice(["ffhq", "vox"]), default="ffhq", show_default=True,
              help="ffhq: eye/mouth quad (FFHQ-family generators); vox: landmark-box crop (VoxCeleb models).")
@detector_option()
@click.option("--upsample", type=click.IntRange(0, 4), default=1, show_default=True,
              help="Times the dlib detectors double the image (finds smaller faces, slower).")
@click.option("--index", type=click.IntRange(min=0), default=None,
              help="Which face, largest first (default: the largest).")
@click.option("--keep-going", is_flag=True, help="In a directory, skip images that fail and report them at the end.")
@progress_option
@reports_errors
def align(source: Path, output: Path, size: int, mode: str, detector: str, upsample: int, index: Optional[int],
          keep_going: bool, progress: bool) -> None:
    """Detect, align and crop the face in SOURCE (an image or a directory of images)."""
    files = _inputs(source)
    check_output(output, "directory")
    check_not_input(output, source)
    for path in files:  # a crop written over its own photo (OUT is the photo's folder)
        check_not_input(output / f"{path.stem}.png", path)
    failed: List[str] = []
    bar = tqdm(files, desc="align", unit="img", disable=not progress or len(files) == 1)
    # --keep-going writes each crop as it comes; otherwise all of them appear together, or none on a failure
    with contextlib.nullcontext(output) if keep_going else staged_directory(output) as folder:
        for path in bar:
            try:
                align_image_file(path, folder, size, mode, detector, upsample, index)
            except ValueError as exc:
                if not keep_going:
                    raise
                log.warning("%s", exc)
                failed.append(path.name)
    done = len(files) - len(failed)
    click.echo(f"aligned {done} of {len(files)} image(s) into {output}", err=True)
    if failed:
        fail(f"{len(failed)} image(s) failed: {', '.join(failed[:10])}{' ...' if len(failed) > 10 else ''}",
             EXIT_BAD_INPUT)
