"""``latentreenact eval directions``: score direction matrices on the same seeded held-out pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import click

from directions.matrix import DirectionMatrix

from ..checkpoints.loading import load_generator
from ..evaluation.directions import compare_matrices, comparison_table, write_comparison
from ..output_paths import check_output
from .errors import reports_errors
from .options import device_option, parse_device, progress_option


@click.command("directions")
@click.argument("matrices", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--name", "names", multiple=True, help="Row label per matrix (default: the file's parent folder).")
@click.option("--generator", "generator_path", default="mobilestylegan-ffhq-heads", show_default=True,
              help="Registered name or checkpoint that renders the pairs.")
@click.option("--pairs", type=click.IntRange(1, None), default=500, show_default=True, help="Held-out pairs.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the pairs (not a training seed).")
@click.option("--render-size", type=click.IntRange(16, 1024), default=128, show_default=True,
              help="Pixels the pairs are rendered and measured at.")
@click.option("--truncation", type=float, default=0.7, show_default=True,
              help="Truncation psi of the pairs' latents (1 = none).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the markdown table here (.md or .txt; the numbers as JSON beside it).")
@device_option
@progress_option
@reports_errors
def directions(matrices: Tuple[Path, ...], names: Tuple[str, ...], generator_path: str, pairs: int, seed: int,
               render_size: int, truncation: float, output: Optional[Path], device: str, progress: bool) -> None:
    """Pose error (deg), expression error and identity similarity of each MATRIX on PAIRS seeded
    synthetic pairs, plus the no-shift row (the source itself) for scale."""
    if names and len(names) != len(matrices):
        raise click.BadParameter(f"{len(names)} names for {len(matrices)} matrices", param_hint="--name")
    if output is not None:
        check_output(output, "table")
    torch_device = parse_device(device)
    generator = load_generator(generator_path, device=torch_device)
    loaded = [DirectionMatrix.load(m, device=torch_device) for m in matrices]
    labels = names or [m.parent.name for m in matrices]
    rows = compare_matrices(generator, list(zip(labels, loaded)), pairs, seed=seed, render_size=render_size,
                            truncation=truncation, device=torch_device, progress=progress)
    table = comparison_table(rows)
    click.echo(table)
    if output is not None:
        write_comparison(output, table, rows, {"pairs": pairs, "seed": seed, "render_size": render_size,
                                               "generator": generator_path})
