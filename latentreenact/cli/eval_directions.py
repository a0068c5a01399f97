"""``latentreenact eval directions``: score direction matrices on the same seeded held-out pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Tuple

import click
import numpy as np

from directions.components import build_components, spec_from_matrix
from directions.evaluate import evaluate_pairs, make_eval_pairs
from directions.matrix import DirectionMatrix

from ..checkpoints.loading import load_generator
from ..fileio import atomic_path
from ..sampling import truncation_centre
from .errors import reports_errors
from .options import device_option, parse_device, progress_option

COLUMNS = ("yaw_error", "pitch_error", "roll_error", "pose_error", "expression_error", "identity_similarity")


@click.command("directions")
@click.argument("matrices", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--name", "names", multiple=True, help="Row label per matrix (default: the file's parent folder).")
@click.option("--generator", "generator_path", default="mobilestylegan-ffhq-heads", show_default=True)
@click.option("--pairs", type=click.IntRange(1, None), default=500, show_default=True, help="Held-out pairs.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the pairs (not a training seed).")
@click.option("--render-size", type=click.IntRange(16, 1024), default=128, show_default=True)
@click.option("--truncation", type=float, default=0.7, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a markdown table here (and the numbers as JSON beside it).")
@device_option
@progress_option
@reports_errors
def directions(matrices: Tuple[Path, ...], names: Tuple[str, ...], generator_path: str, pairs: int, seed: int,
               render_size: int, truncation: float, output: Optional[Path], device: str, progress: bool) -> None:
    """Pose error (deg), expression error and identity similarity of each MATRIX on PAIRS seeded
    synthetic pairs, plus the no-shift row (the source itself) for scale."""
    if names and len(names) != len(matrices):
        raise click.BadParameter(f"{len(names)} names for {len(matrices)} matrices", param_hint="--name")
    torch_device = parse_device(device)
    generator = load_generator(generator_path, device=torch_device)
    loaded = [DirectionMatrix.load(m, device=torch_device) for m in matrices]
    spec = spec_from_matrix(loaded[0])
    comp = build_components(generator, spec.ranges_array(), device=torch_device, perceptual="none")
    centre = truncation_centre(generator, seed=0).to(torch_device) if truncation != 1 else None
    eval_set = make_eval_pairs(generator, pairs, seed=seed, truncation=truncation, centre=centre)
    rows = {}
    for label, matrix in zip(names or [m.parent.name for m in matrices], loaded):
        comp.spec = spec_from_matrix(matrix)
        metrics, _ = evaluate_pairs(comp, matrix.eval(), eval_set, render_size, progress=progress)
        rows[label] = metrics
    base = dict(rows[next(iter(rows))])
    rows["no shift (source)"] = {"pose_error": base["baseline_pose_error"],
                                 "expression_error": base["baseline_expression_error"], "identity_similarity": 1.0}
    lines = ["| A | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for label, m in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{m[c]:.3f}" if c in m else "-" for c in COLUMNS) + " |")
    table = "\n".join(lines)
    click.echo(table)
    if output is not None:
        with atomic_path(output) as tmp:
            tmp.write_text(table + "\n", encoding="utf-8")
        with atomic_path(output.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps({"pairs": pairs, "seed": seed, "render_size": render_size,
                                       "generator": generator_path, "rows": rows}, indent=1,
                                      default=lambda x: float(np.asarray(x))), encoding="utf-8")
