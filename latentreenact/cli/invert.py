"""``latentreenact invert``: align a face, invert it into W+ (e4e or the projector), optionally tune G.

Outputs in ``-o DIR``: ``aligned.png``, ``reconstruction.png``, ``latent.pt`` (the latent file of
:mod:`inversion.latent_file`), ``side_by_side.png`` (aligned | reconstruction [| tuned])
and, with ``--tune``, ``tuned.png`` and ``generator_tuned.pt`` (via ``save_generator``: state dict
+ config; StyleGAN2 and MobileStyleGAN). Everything is written into a staging folder beside
DIR and moved in at the end, so a failed run leaves nothing in DIR.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import click
import numpy as np
import torch

from inversion import load_encoder
from inversion.invert import DEFAULT_PROJECTOR_STEPS, invert_and_tune
from inversion.latent_file import LATENT_FORMAT, LATENT_FORMAT_VERSION, latent_payload

from ..checkpoints.loading import load_generator
from ..checkpoints.loading import save_generator as write_generator
from ..faces import face_crop, find_face, read_image
from ..fileio import staged_directory, write_outputs
from ..images import make_grid, resize_square, save_image, to_uint8
from ..models.mobilestylegan import MobileStyleGAN
from ..models.stylegan2 import StyleGAN2Generator
from ..output_paths import check_output
from .errors import reports_errors
from .options import (detector_option, device_option, generator_option, parse_device, progress_option, seed_option,
                     tune_option, tune_steps_option)

log = logging.getLogger("latentreenact.cli.invert")

MAX_WORK_SIZE = 256
__all__ = ["DEFAULT_PROJECTOR_STEPS", "LATENT_FORMAT", "LATENT_FORMAT_VERSION", "aligned_face", "can_save_generator",
           "invert", "staged_directory", "work_size", "write_outputs"]


def work_size(generator: Any, size: Optional[int] = None) -> int:
    """Resolution the inversion works at: ``size`` or min(generator resolution, 256)."""
    size = size or min(generator.resolution, MAX_WORK_SIZE)
    if size > generator.resolution or size < 8 or size & (size - 1):
        raise ValueError(f"--size must be a power of two in [8, {generator.resolution}] for this generator, got {size}")
    return size


def aligned_face(image: np.ndarray, size: int, align: bool = True, detector: str = "hog",
                 landmarks: Optional[np.ndarray] = None, name: str = "input") -> np.ndarray:
    """The crop of :func:`latentreenact.faces.face_crop` (``align=False``: the square image resized)."""
    return face_crop(image, size, align, detector=detector, landmarks=landmarks, name=name).crop


def can_save_generator(generator: Any) -> bool:
    """Whether ``save_generator`` can write this generator (StyleGAN2 and MobileStyleGAN)."""
    return isinstance(generator, (StyleGAN2Generator, MobileStyleGAN))


@click.command()
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@generator_option
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE|NAME",
              help="Encoder: an e4e checkpoint, a light encoder file or a registered name "
                   "(encoder-mobilestylegan-ffhq); invert with it instead of the projector.")
@tune_option()
@click.option("--steps", type=click.IntRange(1, 100000), default=DEFAULT_PROJECTOR_STEPS, show_default=True,
              help="Projector steps (without --encoder).")
@tune_steps_option
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
    check_output(output, "directory")  # before any work: an unwritable output fails now, not at the end
    photo = read_image(image)
    landmarks = None if no_align else find_face(photo, detector=detector, name=str(image),
                                                     warn_several=True).landmarks
    torch_device = parse_device(device)
    generator = load_generator(generator_path, device=torch_device)
    if tune != "none" and save_generator and not can_save_generator(generator):
        raise ValueError(f"saving a tuned {type(generator).__name__} is not supported (save_generator writes "
                         f"StyleGAN2 and MobileStyleGAN); rerun with --no-save-generator or --tune none")
    size = work_size(generator, size)
    encoder = load_encoder(encoder_path, device=torch_device).eval() if encoder_path is not None else None
    crop_size = encoder.input_size if encoder is not None else size
    aligned = aligned_face(photo, crop_size, align=not no_align, landmarks=landmarks, name=str(image))
    run = invert_and_tune(generator, aligned, size, encoder=encoder, steps=steps, w_plus=space == "wplus",
                          perceptual=perceptual, tune=tune, tune_steps=tune_steps, seed=seed, progress=progress)
    metadata: Dict[str, Any] = {
        "source": str(image), "generator": str(generator_path), "generator_resolution": int(generator.resolution),
        "n_latent": int(generator.n_latent), "style_dim": int(generator.style_dim), "size": size, "seed": seed,
        "aligned": not no_align, "perceptual": perceptual, "tune": tune, **run.info}
    tiles = [resize_square(aligned, size), to_uint8(run.reconstruction)[0]]
    if run.tuned_image is not None:
        tiles.append(to_uint8(run.tuned_image)[0])
    writers: Dict[str, Callable[[Path], Any]] = {
        "aligned.png": lambda p: save_image(aligned, p),
        "reconstruction.png": lambda p: save_image(tiles[1], p),
        "latent.pt": lambda p: torch.save(latent_payload(run.wplus, metadata), p),
        "side_by_side.png": lambda p: save_image(make_grid(np.stack(tiles), columns=len(tiles)), p),
    }
    if run.tuned is not None:
        writers["tuned.png"] = lambda p: save_image(tiles[2], p)
        if save_generator:
            writers["generator_tuned.pt"] = lambda p: write_generator(run.tuned, p)
    write_outputs(output, writers)
    summary = f"mse {metadata['mse']:.4f}" + (f", tuned {metadata['mse_tuned']:.4f}" if run.tuned is not None else "")
    click.echo(f"inverted {image} ({metadata['method']}, {size} px, {summary}) into {output}", err=True)
