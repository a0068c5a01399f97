"""``latentreenact train net3d``: train the ``bfm-net`` regressor on a ``net3d dataset`` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..net3d.train import train_net3d
from ..output_paths import check_output
from .errors import reports_errors
from .options import device_option, parse_device, progress_option, seed_option


@click.command("net3d")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
              help="Dataset folder written by `latentreenact net3d dataset`.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder (checkpoint.pt, metrics.jsonl, best.pt, last.pt).")
@click.option("--steps", type=click.IntRange(1, None), required=True, help="Optimiser steps.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True,
              help="Images per optimiser step.")
@click.option("--lr", type=click.FloatRange(0.0, None, min_open=True), default=1e-3, show_default=True,
              help="Peak AdamW learning rate (linear warm-up, cosine decay).")
@seed_option
@click.option("--val-every", type=click.IntRange(1, None), default=1000, show_default=True,
              help="Validate (and export best.pt when it improves) every N steps.")
@click.option("--checkpoint-every", type=click.IntRange(1, None), default=None,
              help="Write checkpoint.pt every N steps [default: --val-every].")
@click.option("--input-size", type=click.IntRange(8, 1024), default=128, show_default=True,
              help="Size the model resizes its input to.")
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.1, show_default=True,
              help="Share of samples (by index) in the validation split.")
@click.option("--resume", is_flag=True, help="Continue the run in OUTPUT/checkpoint.pt (same options).")
@device_option
@progress_option
@reports_errors
def net3d(data_dir: Path, output: Path, steps: int, batch_size: int, lr: float, seed: int, val_every: int,
          checkpoint_every: Optional[int], input_size: int, val_fraction: float, resume: bool, device: str,
          progress: bool) -> None:
    """Train the bfm-net regressor (angles, BFM identity/expression, 68 landmarks) on DATA.

    Writes OUTPUT/best.pt (lowest validation loss) and OUTPUT/last.pt in the regressor format,
    usable as get_estimator("bfm-net", weights=...), plus metrics.jsonl and checkpoint.pt;
    --resume continues an interrupted run exactly.
    """
    check_output(output, "directory")
    summary = train_net3d(data_dir, output, steps, batch_size=batch_size, lr=lr, seed=seed, val_every=val_every,
                          resume=resume, progress=progress, device=parse_device(device),
                          checkpoint_every=checkpoint_every, model_config={"input_size": input_size},
                          val_fraction=val_fraction)
    best = summary["best"]
    metrics = best["metrics"]
    if metrics:
        click.echo(f"best step {best['step']}: |yaw| {metrics['angle_mae_yaw']:.2f}, |pitch| "
                   f"{metrics['angle_mae_pitch']:.2f}, |roll| {metrics['angle_mae_roll']:.2f} deg, landmark NME "
                   f"{metrics['landmark_nme_iod_percent']:.2f}%, expression MAE {metrics['expression_mae']:.4f}; "
                   f"weights: {summary['best_path']}", err=True)
