"""``latentreenact sample``: a grid of random samples from a generator."""

from __future__ import annotations

from pathlib import Path

import click

from ..checkpoints.loading import load_generator
from ..images import make_grid, save_image
from ..output_paths import check_output
from ..sampling import sample_images
from .errors import reports_errors
from .options import device_option, generator_option, parse_device, progress_option, seed_option


@click.command()
@generator_option
@click.option("-n", "--num", "num", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Number of samples.")
@seed_option
@click.option("--truncation", type=click.FloatRange(0.0, 2.0), default=0.7, show_default=True,
              help="Truncation psi (1 = none); centre: the checkpoint's average w, else the mean of 4096 samples.")
@click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const", show_default=True,
              help="Per-pixel noise of the synthesis layers: const (the generator's fixed noise buffers, "
                   "repeatable), random (fresh noise from the seed) or none (zero noise).")
@click.option("--batch-size", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Samples per generator pass (more: faster, more memory).")
@click.option("--size", type=click.IntRange(8, 4096), default=None,
              help="Pixels per sample in the grid (default: min(generator resolution, 256)).")
@click.option("--columns", type=click.IntRange(1, 64), default=None, help="Grid columns (default: square).")
@device_option
@progress_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("grid.png"),
              show_default=True, help="Output image (.png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff).")
@reports_errors
def sample(generator_path: str, num: int, seed: int, truncation: float, noise_mode: str, batch_size: int,
           size: int, columns: int, device: str, progress: bool, output: Path) -> None:
    """Render NUM random samples from a generator into one grid image."""
    check_output(output, "image")  # a bad suffix or an unwritable path fails before any work

    generator = load_generator(generator_path, device=parse_device(device))
    size = size or min(generator.resolution, 256)
    if size > generator.resolution:
        raise ValueError(f"--size {size} exceeds the generator's resolution ({generator.resolution} px)")
    images = sample_images(generator, num, seed=seed, truncation=truncation, noise_mode=noise_mode,
                           batch_size=batch_size, size=size, progress=progress)
    save_image(make_grid(images, columns), output)
    click.echo(f"wrote {num} samples to {output}", err=True)
