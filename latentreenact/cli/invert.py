"""``latentreenact invert``: align a face, invert it into W+ (e4e or the projector), optionally tune G.

Outputs in ``-o DIR``: ``aligned.png``, ``reconstruction.png``, ``latent.pt`` (``{"format":
"latentreenact.latent", "format_version": 1, "wplus": [1, L, D], "metadata": {...}}``, readable
with ``torch.load(weights_only=True)``), ``side_by_side.png`` (aligned | reconstruction [| tuned])
and, with ``--tune``, ``tuned.png`` and ``generator_tuned.pt`` (via ``save_generator``: state dict
+ config; StyleGAN2 and MobileStyleGAN). Everything is written into a staging folder beside
DIR and moved in at the end, so a failed run leaves nothing in DIR.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import click
import numpy as np
import torch

from inversion import load_encoder
from inversion.invert import invert_aligned
from inversion.projector import render_with_noise
from inversion.pti import tune as run_tuning

from .. import load_generator
from ..checkpoints.loading import save_generator as write_generator
from ..faces import align_ffhq, find_face, read_image
from ..images import from_uint8, make_grid, resize_square, save_image, to_uint8
from ..models.mobilestylegan import MobileStyleGAN
from ..models.stylegan2 import StyleGAN2Generator
from .errors import reports_errors
from .options import detector_option, device_option, generator_option, parse_device, progress_option, seed_option

log = logging.getLogger("latentreenact.cli.invert")

LATENT_FORMAT = "latentreenact.latent"
LATENT_FORMAT_VERSION = 1
MAX_WORK_SIZE = 256
DEFAULT_PROJECTOR_STEPS = 200  # the --steps default; inversion.invert.invert_aligned has the same default


def work_size(generator: Any, size: Optional[int] = None) -> int:
    """Resolution the inversion works at: ``size`` or min(generator resolution, 256)."""
    size = size or min(generator.resolution, MAX_WORK_SIZE)
    if size > generator.resolution or size < 8 or size & (size - 1):
        raise ValueError(f"--size must be a power of two in [8, {generator.resolution}] for this generator, got {size}")
    return size


def aligned_face(image: np.ndarray, size: int, align: bool = True, detector: str = "hog",
                 landmarks: Optional[np.ndarray] = None, name: str = "input") -> np.ndarray:
    """The FFHQ-aligned ``size`` px crop of the largest face (``NoFaceError`` if none), or, with
    ``align=False``, the (square) image itself resized to ``size``."""
    if not align:
        h, w = image.shape[:2]
        if h != w:
            raise ValueError(f"{name}: --no-align needs a square, already aligned face image, got {w}x{h}")

        return resize_square(image, size)

    if landmarks is None:
        landmarks = find_face(image, detector=detector, name=name).landmarks
    return align_ffhq(image, landmarks, size=size).crop


def can_save_generator(generator: Any) -> bool:
    """Whether ``save_generator`` can write this generator (StyleGAN2 and MobileStyleGAN)."""
    return isinstance(generator, (StyleGAN2Generator, MobileStyleGAN))


@contextlib.contextmanager
def staged_directory(output: Path):  # type: ignore[no-untyped-def]
    """Yield a staging folder beside ``output``; on success move its files into ``output``
    (created if needed), on failure delete it, leaving ``output`` untouched."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"output {output} exists and is not a directory")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the final folder gets the usual mode
    try:
        yield staging
        if not output.exists():
            os.replace(staging, output)
        else:
            for item in sorted(staging.iterdir()):
                os.replace(item, output / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_outputs(output: Path, writers: Dict[str, Callable[[Path], Any]]) -> None:
    """Run ``writers[name](path)`` for every file inside a staging folder, then move them into ``output``."""
    with staged_directory(output) as staging:
        for name, write in writers.items():
            write(staging / name)


@click.command()
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@generator_option
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="e4e checkpoint: invert with the encoder instead of the projector.")
@click.option("--tune", type=click.Choice(["released", "pti", "none"]), default="none", show_default=True,
              help="Tune a copy of the generator around the inverted latent (pivotal tuning preset).")
@click.option("--steps", type=click.IntRange(1, 100000), default=DEFAULT_PROJECTOR_STEPS, show_default=True,
              help="Projector steps (without --encoder).")
@click.option("--tune-steps", type=click.IntRange(0, 100000), default=None,
              help="Tuning steps (default: the preset's, 200 released / 350 pti).")
@click.option("--space", type=click.Choice(["w", "wplus"]), default="w", show_default=True,
              help="Projector search space: w (one code for all layers, as PTI) or wplus (per layer).")
@click.option("--size", type=click.IntRange(8, 4096), default=None,
              help="Working resolution (default: min(generator resolution, 256)).")
@click.option("--perceptual", type=click.Choice(["default", "sface", "none"]), default="default", show_default=True,
              help="Perceptual loss: default = SFace feature L1 (offline, not LPIPS) if installed, else none.")
@click.option("--no-align", is_flag=True, help="IMAGE is already an aligned square face crop; skip detection.")
@detector_option()
@click.option("--save-generator/--no-save-generator", default=True, show_default=True,
              help="With --tune, write generator_tuned.pt (state dict + config).")
@seed_option
@device_option
@progress_option
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory.")
@reports_errors
def invert(image: Path, generator_path: str, encoder_path: Optional[Path], tune: str, steps: int,
           tune_steps: Optional[int], space: str, size: Optional[int], perceptual: str, no_align: bool, detector: str,
           save_generator: bool, seed: int, device: str, progress: bool, output: Path) -> None:
    """Invert the face in IMAGE into the generator's W+ space (and optionally tune the generator)."""
    photo = read_image(image)
    landmarks = None if no_align else find_face(photo, detector=detector, name=str(image)).landmarks
    torch_device = parse_device(device)
    generator = load_generator(generator_path, device=torch_device)
    if tune != "none" and save_generator and not can_save_generator(generator):
        raise ValueError(f"saving a tuned {type(generator).__name__} is not supported (save_generator writes "
                         f"StyleGAN2 and MobileStyleGAN); rerun with --no-save-generator or --tune none")
    size = work_size(generator, size)
    encoder = None

    if encoder_path is not None:
        encoder = load_encoder(encoder_path, device=torch_device).eval()
    crop_size = encoder.input_size if encoder is not None else size
    aligned = aligned_face(photo, crop_size, align=not no_align, landmarks=landmarks, name=str(image))
    wplus, recon, info = invert_aligned(generator, aligned, size, encoder=encoder, steps=steps,
                                        w_plus=space == "wplus", perceptual=perceptual, seed=seed, progress=progress)

    target = from_uint8(resize_square(aligned, size), torch_device)
    metadata: Dict[str, Any] = {
        "source": str(image), "generator": str(generator_path), "generator_resolution": int(generator.resolution),
        "n_latent": int(generator.n_latent), "style_dim": int(generator.style_dim), "size": size, "seed": seed,
        "aligned": not no_align, "perceptual": perceptual, "tune": tune,
        "mse": float(torch.nn.functional.mse_loss(recon, target)), **info}
    tiles = [resize_square(aligned, size), to_uint8(recon)[0]]
    tuned = None
    if tune != "none":
        result = run_tuning(generator, wplus, target, preset=tune, steps=tune_steps, perceptual=perceptual,
                            seed=seed, progress=progress)
        tuned = result.generator
        with torch.no_grad():
            tuned_image = render_with_noise(tuned, wplus, size)
        metadata.update({"tune_steps_run": result.steps_run, "tune_stopped_early": result.stopped_early,
                         "mse_tuned": float(torch.nn.functional.mse_loss(tuned_image, target))})
        tiles.append(to_uint8(tuned_image)[0])

    payload = {"format": LATENT_FORMAT, "format_version": LATENT_FORMAT_VERSION,
               "wplus": wplus.detach().cpu().clone(), "metadata": metadata}
    writers: Dict[str, Callable[[Path], Any]] = {
        "aligned.png": lambda p: save_image(aligned, p),
        "reconstruction.png": lambda p: save_image(tiles[1], p),
        "latent.pt": lambda p: torch.save(payload, p),
        "side_by_side.png": lambda p: save_image(make_grid(np.stack(tiles), columns=len(tiles)), p),
    }
    if tuned is not None:
        writers["tuned.png"] = lambda p: save_image(tiles[2], p)
        if save_generator:
            writers["generator_tuned.pt"] = lambda p: write_generator(tuned, p)
    write_outputs(output, writers)
    summary = f"mse {metadata['mse']:.4f}" + (f", tuned {metadata['mse_tuned']:.4f}" if tuned is not None else "")
    click.echo(f"inverted {image} ({info['method']}, {size} px, {summary}) into {output}", err=True)
