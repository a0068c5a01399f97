"""``latentreenact net3d dataset``: pseudo-labelled generator samples for training a Net3D regressor."""

from __future__ import annotations

from pathlib import Path

import click

from ..checkpoints.loading import load_generator
from ..net3d import get_estimator
from ..net3d.dataset import build_dataset
from ..output_paths import check_output
from .errors import reports_errors
from .options import detector_option, device_option, generator_option, parse_device, progress_option, seed_option


@click.command("dataset")
@generator_option
@click.option("-n", "--num", type=click.IntRange(1, 100_000_000), required=True, help="Number of generated samples.")
@seed_option
@click.option("--size", type=click.IntRange(8, 4096), default=256, show_default=True,
              help="Image size in pixels (at most the generator's resolution; exact area-downsample).")
@click.option("--truncation", type=click.FloatRange(0.0, 2.0), default=0.7, show_default=True,
              help="Truncation psi (1 = none).")
@click.option("--shard-size", type=click.IntRange(1, 1_000_000), default=256, show_default=True,
              help="Samples per shard (dropped ones included).")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Faces rendered and measured per pass.")
@click.option("--max-fit-error", type=click.FloatRange(0.0, None, min_open=True), default=0.05, show_default=True,
              help="Drop faces whose landmark-fit error exceeds this fraction of the inter-ocular distance.")
@detector_option("Face detector of the bfm-fit labeller.")
@click.option("--resume", is_flag=True, help="Continue the run recorded in OUTDIR/manifest.json.")
@device_option
@progress_option
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (shard_*.pt and manifest.json).")
@reports_errors
def dataset(generator_path: str, num: int, seed: int, size: int, truncation: float, shard_size: int,
            batch_size: int, max_fit_error: float, detector: str, resume: bool, device: str, progress: bool,
            output: Path) -> None:
    """Render NUM seeded faces, label them with bfm-fit and write shards plus a manifest.

    Labels: yaw/pitch/roll (degrees), 40 identity and 10 expression coefficients, 68 landmarks
    (px of the SIZE image) and the fit error (px). Faces without a usable fit are dropped and
    counted by reason in manifest.json, which is rewritten atomically after every shard;
    --resume continues an interrupted run exactly.
    """
    check_output(output, "directory")
    torch_device = parse_device(device)
    estimator = get_estimator("bfm-fit", device=torch_device, detector=detector)
    generator = load_generator(generator_path, device=torch_device)
    manifest = build_dataset(generator, output, num, seed=seed, size=size, truncation=truncation,
                             shard_size=shard_size, max_fit_error=max_fit_error, progress=progress, resume=resume,
                             estimator=estimator, batch_size=batch_size,
                             config={"generator": str(generator_path), "detector": detector})
    dropped = ", ".join(f"{k} {v}" for k, v in manifest["dropped"].items())
    speed = manifest["timing"]["images_per_s"]
    click.echo(f"kept {manifest['n_kept']} of {num} samples (dropped: {dropped}) in {len(manifest['shards'])} "
               f"shards under {output}" + (f"; {speed:.2f} images/s" if speed else ""), err=True)
