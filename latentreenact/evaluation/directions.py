"""Direction matrices compared on the same seeded held-out synthetic pairs
(``latentreenact eval directions``): pose error, expression error and identity similarity per
matrix, plus the no-shift row (the source itself) for scale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from directions.components import build_components, spec_from_matrix
from directions.evaluate import evaluate_pairs, make_eval_pairs
from directions.matrix import DirectionMatrix

from ..fileio import atomic_path
from ..sampling import truncation_centre

#: the columns of :func:`comparison_table`
COLUMNS = ("yaw_error", "pitch_error", "roll_error", "pose_error", "expression_error", "identity_similarity")
#: the label of the row that measures the unshifted source
NO_SHIFT = "no shift (source)"


def compare_matrices(generator: Any, matrices: Sequence[Tuple[str, DirectionMatrix]], pairs: int = 500, seed: int = 1,
                     render_size: int = 128, truncation: float = 0.7,
                     device: Union[str, torch.device] = "cpu", progress: bool = False) -> Dict[str, Dict[str, float]]:
    """Metrics of each ``(label, matrix)`` on ``pairs`` seeded pairs, then the no-shift row.

    The pose layout and ranges come from the first matrix; ``truncation`` is psi around the
    generator's truncation centre (seed 0) for the pairs.
    """
    spec = spec_from_matrix(matrices[0][1])
    comp = build_components(generator, spec.ranges_array(), device=device, perceptual="none")
    centre = truncation_centre(generator, seed=0).to(device) if truncation != 1 else None
    eval_set = make_eval_pairs(generator, pairs, seed=seed, truncation=truncation, centre=centre)
    rows: Dict[str, Dict[str, float]] = {}
    for label, matrix in matrices:
        comp.spec = spec_from_matrix(matrix)
        metrics, _ = evaluate_pairs(comp, matrix.eval(), eval_set, render_size, progress=progress)
        rows[label] = metrics
    base = dict(rows[next(iter(rows))])
    rows[NO_SHIFT] = {"pose_error": base["baseline_pose_error"],
                      "expression_error": base["baseline_expression_error"], "identity_similarity": 1.0}
    return rows


def comparison_table(rows: Mapping[str, Mapping[str, float]], columns: Sequence[str] = COLUMNS) -> str:
    """A markdown table of ``rows`` (``-`` where a row lacks a column)."""
    lines = ["| A | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for label, m in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{m[c]:.3f}" if c in m else "-" for c in columns) + " |")
    return "\n".join(lines)


def write_comparison(output: Path, table: str, rows: Mapping[str, Any], meta: Optional[Mapping[str, Any]] = None) -> None:
    """The table to ``output`` and ``{**meta, "rows": rows}`` as JSON beside it (both atomically)."""
    with atomic_path(output) as tmp:
        tmp.write_text(table + "\n", encoding="utf-8")
    with atomic_path(output.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({**(meta or {}), "rows": rows}, indent=1,
                                  default=lambda x: float(np.asarray(x))), encoding="utf-8")
