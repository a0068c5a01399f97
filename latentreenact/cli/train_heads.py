"""``latentreenact train heads``: fit MobileStyleGAN's 8..512 px wavelet heads in closed form."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click
import torch

from ..models import mobilestylegan_heads as mh
from ..models.mobilestylegan import MobileStyleGAN
from ..output_paths import check_output
from .errors import reports_errors
from .options import progress_option, seed_option


@click.command("heads")
@click.option("--samples", type=click.IntRange(1, 100_000), default=96, show_default=True,
              help="Fitting samples (one 1024 px render each).")
@click.option("--holdout", type=click.IntRange(1, 10_000), default=16, show_default=True,
              help="Held-out samples for the PSNR table (seeded from SEED + 1000003).")
@seed_option
@click.option("--ridge", type=click.FloatRange(0.0, 1.0), default=1e-6, show_default=True,
              help="Ridge, relative to trace(F^T F) / C.")
@click.option("--modulation", type=click.Choice(["tied", "constant"]), default="tied", show_default=True,
              help="Head modulation: a copy of the next level's inverse-Haar modulation, or 1.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the IR files (default: the installed random_face package).")
@click.option("--timing/--no-timing", default=True, show_default=True,
              help="Also time 256 / 512 px renders with heads vs the full network.")
@progress_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("mobilestylegan_ffhq_heads.pt"), show_default=True, help="Heads file to write (.pt).")
@reports_errors
def heads(samples: int, holdout: int, seed: int, ridge: float, modulation: str, data_dir: Optional[Path],
          timing: bool, progress: bool, output: Path) -> None:
    """Fit MobileStyleGAN's per-level heads (8..512 px) by least squares and write them to OUTPUT."""
    check_output(output, "checkpoint")
    model = MobileStyleGAN.from_ir(data_dir)
    fit = mh.fit_heads(model, n_samples=samples, seed=seed, ridge=ridge, modulation=modulation, progress=progress)
    mh.attach_heads(model, fit.state_dict, modulation)
    holdout_seed = seed + mh.HOLDOUT_SEED_OFFSET
    with torch.no_grad():
        centre = model.mean_latent(4096, seed)  # the fit's truncation centre
    scores = mh.evaluate_heads(model, n=holdout, seed=holdout_seed, psis=fit.psis, centre=centre, progress=progress)
    meta = mh.fit_metadata(fit, scores, holdout, holdout_seed)
    times = {}
    if timing:
        times = mh.time_renders(model, MobileStyleGAN.from_ir(data_dir), sizes=(256, 512))
        meta["seconds_per_image"] = {str(s): {k: round(v, 4) for k, v in row.items()} for s, row in times.items()}
    mh.save_heads(output, fit.state_dict, meta)

    click.echo(f"fitted {len(scores)} heads on {samples} samples in {fit.seconds:.0f} s "
               f"(psi mix {list(fit.psis)}, ridge {ridge:g}, modulation {modulation})")
    click.echo(f"PSNR (dB) vs the area-downsampled 1024 px render; held out: {holdout} samples")
    click.echo(f"{'size':>6} {'train':>8} {'held-out':>9} {'worst':>8}")
    for size, row in scores.items():
        click.echo(f"{size:>6} {fit.train_psnr[size]:>8.2f} {row['psnr']:>9.2f} {row['psnr_min']:>8.2f}")
    for size, row in times.items():
        click.echo(f"{size} px: {row['heads'] * 1000:.0f} ms with the head, {row['full'] * 1000:.0f} ms "
                   f"full network + downsampling (median; min {row['heads_min'] * 1000:.0f} / "
                   f"{row['full_min'] * 1000:.0f} ms; batch 1, {model.device.type})")
    click.echo(f"wrote {output} ({output.stat().st_size / 1024:.0f} KiB)", err=True)
