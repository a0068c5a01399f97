"""Scoring A on held-out pairs: pose error (degrees), expression error, identity similarity.

For a pair (source, target) the reenacted image renders ``A.shift(w_s, rescale(p_t) - rescale(p_s))``;
the metrics compare what the estimator measures on it with the target's pose and expression, and
its identity with the source's:
- ``yaw_error`` / ``pitch_error`` / ``roll_error`` / ``pose_error``: mean |Δ| in degrees;
- ``expression_error``: mean |Δ| of the rescaled expression entries (units of the [-a, a] range);
- ``identity_similarity``: SFace cosine between reenacted and source (when the components have
  an identity loss ``1 - cos``);
- ``baseline_pose_error``: the same pose error for the source itself (no shift), for scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
from tqdm.auto import tqdm

from latentreenact.sampling import sample_wplus

from .matrix import DirectionMatrix

__all__ = ["EvalPairs", "evaluate_pairs", "make_eval_pairs"]


@dataclass
class EvalPairs:
    """Source and target W+ codes [N, L, D] of the held-out pairs."""

    w_s: torch.Tensor
    w_t: torch.Tensor

    def __len__(self) -> int:
        return int(self.w_s.shape[0])


def make_eval_pairs(generator: Any, n: int, seed: int, truncation: float = 0.7,
                    centre: Optional[torch.Tensor] = None) -> EvalPairs:
    """``n`` seeded synthetic pairs (independent of any training stream)."""

    g = torch.Generator().manual_seed(seed)
    return EvalPairs(sample_wplus(generator, n, g, truncation, centre), sample_wplus(generator, n, g, truncation, centre))


@torch.no_grad()
def evaluate_pairs(comp: Any, A: DirectionMatrix, pairs: EvalPairs, size: int, batch_size: int = 12,
                   return_images: int = 0, progress: bool = False
                   ) -> Tuple[Dict[str, float], Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(metrics, (sources, targets, reenacted) of the first ``return_images`` pairs)."""
    spec, names = comp.spec, comp.spec.names
    angle_cols = [i for i, n in enumerate(names) if n in ("yaw", "pitch", "roll")]
    exp_cols = [i for i, n in enumerate(names) if n not in ("yaw", "pitch", "roll")]
    sums: Dict[str, float] = {}
    kept: list = [[], [], []]
    n = len(pairs)
    for start in tqdm(range(0, n, batch_size), desc="evaluate A", unit="batch", disable=not progress):
        w_s = pairs.w_s[start:start + batch_size].to(comp.generator.device)
        w_t = pairs.w_t[start:start + batch_size].to(comp.generator.device)
        img_s, img_t = comp.render(w_s, size), comp.render(w_t, size)
        p_s, _ = comp.measure(img_s)
        p_t, _ = comp.measure(img_t)
        img_r = comp.render(A.shift(w_s, spec.delta(p_s, p_t)), size)
        p_r, _ = comp.measure(img_r)
        err = (p_r - p_t).abs()
        base = (p_s - p_t).abs()
        q_err = (spec.rescale(p_r) - spec.rescale(p_t)).abs()
        rows = {f"{names[c]}_error": err[:, c] for c in angle_cols}
        rows["pose_error"] = err[:, angle_cols].mean(1)
        rows["baseline_pose_error"] = base[:, angle_cols].mean(1)
        if exp_cols:
            rows["expression_error"] = q_err[:, exp_cols].mean(1)
            rows["baseline_expression_error"] = (spec.rescale(p_s) - spec.rescale(p_t)).abs()[:, exp_cols].mean(1)
        if comp.identity is not None:
            rows["identity_similarity"] = 1.0 - comp.identity(img_r, img_s)
        for key, value in rows.items():
            sums[key] = sums.get(key, 0.0) + float(value.sum())
        if sum(len(k) for k in kept[0]) < return_images:
            for lst, img in zip(kept, (img_s, img_t, img_r)):
                lst.append(img.cpu())
    metrics = {k: v / max(n, 1) for k, v in sums.items()}
    metrics["pairs"] = float(n)
    images = tuple(torch.cat(lst)[:return_images] if lst else torch.zeros(0) for lst in kept)
    return metrics, images  # type: ignore[return-value]
