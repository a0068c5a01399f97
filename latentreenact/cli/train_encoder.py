"""``latentreenact train encoder``: train a light W+ encoder for a generator on a ``net3d dataset`` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from inversion.encoder_train import train_encoder
from inversion.light_encoder import DEFAULT_CONFIG

from ..checkpoints.loading import load_generator
from ..output_paths import check_output
from .errors import reports_errors
from .options import device_option, generator_option, parse_device, progress_option, seed_option


@click.command("encoder")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
              help="Dataset folder written by `latentreenact net3d dataset` with the same generator.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder (checkpoint.pt, metrics.jsonl, best.pt, last.pt).")
@generator_option
@click.option("--steps", type=click.IntRange(1, None), required=True, help="Optimiser steps.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="Latent/image pairs per optimiser step.")
@click.option("--lr", type=click.FloatRange(0.0, None, min_open=True), default=5e-4, show_default=True,
              help="Peak AdamW learning rate (linear warm-up, cosine decay).")
@seed_option
@click.option("--val-every", type=click.IntRange(1, None), default=500, show_default=True,
              help="Validate (and export best.pt when it improves) every N steps.")
@click.option("--image-batch", type=click.IntRange(0, None), default=4, show_default=True,
              help="Rows per step that also get the image losses (0: latent regression only).")
@click.option("--image-every", type=click.IntRange(0, None), default=10, show_default=True,
              help="Apply the image losses every N steps (0: never).")
@click.option("--image-size", type=click.IntRange(8, 1024), default=128, show_default=True,
              help="Render size for the image losses.")
@click.option("--input-size", type=click.Choice(["64", "128", "256"]), default="128", show_default=True,
              help="Encoder input size (the aligned crop is resized to it).")
@click.option("--init-from", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE|NAME",
              help="Start from a trained light encoder of the same architecture (e.g. a latent-only run's "
                   "best.pt, or 'encoder-mobilestylegan-ffhq') to fine-tune it.")
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.1,
              show_default=True, help="Share of samples (by index) in the validation split.")
@click.option("--resume", is_flag=True, help="Continue the run in OUTPUT/checkpoint.pt (same options).")
@device_option
@progress_option
@reports_errors
def encoder(data_dir: Path, output: Path, generator_path: str, steps: int, batch_size: int, lr: float, seed: int,
            val_every: int, image_batch: int, image_every: int, image_size: int, input_size: str,
            init_from: Optional[Path], val_fraction: float, resume: bool, device: str, progress: bool) -> None:
    """Train a light encoder (images -> W+) on (w, G(w)) pairs from DATA.

    Loss: latent MSE, e4e's delta regulariser, and on IMAGE_BATCH rows every IMAGE_EVERY steps
    pixel MSE, identity and perceptual distances between renders of the predicted and true W+.
    Writes OUTPUT/best.pt and OUTPUT/last.pt, usable as `invert --encoder` and
    inversion.load_encoder; --resume continues an interrupted run exactly.
    """
    check_output(output, "directory")
    size = int(input_size)
    widths = {64: DEFAULT_CONFIG["widths"][1:], 128: DEFAULT_CONFIG["widths"],
              256: [32] + list(DEFAULT_CONFIG["widths"])}[size]
    torch_device = parse_device(device)
    generator = load_generator(generator_path, device=torch_device)
    summary = train_encoder(generator, data_dir, output, steps, batch_size=batch_size, lr=lr, seed=seed,
                            val_every=val_every, resume=resume, progress=progress, device=torch_device,
                            generator_id=str(generator_path), model_config={"input_size": size, "widths": widths},
                            image_batch=min(image_batch, batch_size), image_every=image_every, image_size=image_size,
                            init_from=init_from, val_fraction=val_fraction)
    best = summary["best"]
    if best["metrics"]:
        detail = ", ".join(f"{k} {v:.4f}" for k, v in best["metrics"].items())
        click.echo(f"best step {best['step']}: {detail}; weights: {summary['best_path']}", err=True)
