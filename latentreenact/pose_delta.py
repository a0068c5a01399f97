"""What becomes of a rescaled pose change Δp before the direction matrix A sees it (docs/architecture.md §2):
the head turn that A's expression columns cause is taken out of the angle entries (per-source leaks), per-source
gains divide some entries (calibration), and with roll applied as an image rotation the roll entry is taken out
and returned in degrees. Pure tensor arithmetic on a :class:`PoseVectorSpec`; the renders that
measure the gains and leaks are :mod:`latentreenact.source_calibration`'s."""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from .net3d.pose_vector import ANGLE_SCALES, PoseVectorSpec

#: the pose-vector entries calibrated per source, with the edit (degrees, either way) that measures them
CALIBRATION_STEPS = {"pitch": 8.0, "yaw": 10.0}
#: the angles whose change caused by A's expression columns is taken out per source (pitch: the estimator misreads
#: the pitch of renders, and compensating it broke pitch; docs/driving.md, "Yaw: the expression columns' turn taken
#: out, then calibrated")
LEAK_ANGLES = ("yaw",)
#: the expression edit (rescaled units, either way) that measures each column's leak
LEAK_STEP = 4.0
#: measured gains outside this range are clipped (a render the estimator misreads must not blow up Δp)
GAIN_LIMITS = (0.25, 4.0)
#: the default bound on the source's rescaled expression plus Δp (:func:`limit_expression`): the generated faces'
#: whole range, judged on 5 photos x 3 clips and a whole 472-frame clip (docs/driving.md, "Expressions beyond the
#: generated faces'")
EXPRESSION_LIMIT: Optional[float] = 6.0


def split_roll(spec: PoseVectorSpec, dp: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Δp [B, k] without its roll entry, and that entry in degrees [B]; ``(Δp, None)`` for layouts without roll."""
    if "roll" not in spec.names:
        return dp, None
    column = list(spec.names).index("roll")
    dp = torch.as_tensor(dp, dtype=torch.float32)
    degrees = spec.unscale(dp)[:, column]  # angles have no offset: unscale(Δ) is the change in degrees
    latent = dp.clone()
    latent[:, column] = 0.0
    return latent, degrees


def apply_gains(spec: PoseVectorSpec, dp: torch.Tensor, gains: Mapping[str, float]) -> torch.Tensor:
    """Δp [B, k] with each entry named in ``gains`` divided by its gain, clipped to :data:`GAIN_LIMITS`."""
    if not gains:
        return dp
    dp = torch.as_tensor(dp, dtype=torch.float32).clone()
    for name, gain in gains.items():
        dp[:, list(spec.names).index(name)] /= min(max(gain, GAIN_LIMITS[0]), GAIN_LIMITS[1])
    return dp


def check_expression_limit(limit: Optional[float]) -> None:
    """``ValueError`` unless ``limit`` is None (no bound) or a number above 0."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0):
        raise ValueError(f"the expression limit must be > 0 (or None for no bound), got {limit!r}")


def limit_expression(spec: PoseVectorSpec, dp: torch.Tensor, source: torch.Tensor,
                     limit: Optional[float]) -> torch.Tensor:
    """Δp [B, k] whose non-angle (expression) entries are cut so that the source's rescaled pose ``source`` [k]
    plus Δp stays within ``[-limit, limit]``, or, for an entry the source itself lies beyond, between ``limit``
    and the source's value (so a Δp of 0 is never changed). ``None``: Δp unchanged. The rescaled range
    [-6, 6] spans the generated faces' expressions from the smallest to the largest; targets beyond it
    extrapolate A's linear columns (docs/driving.md, "Expressions beyond the generated faces'")."""
    if limit is None:
        return dp
    check_expression_limit(limit)
    dp = torch.as_tensor(dp, dtype=torch.float32)
    source = torch.as_tensor(source, dtype=torch.float32).reshape(1, -1)
    if source.shape[1] != spec.k or dp.ndim != 2 or dp.shape[1] != spec.k:
        raise ValueError(f"Δp [B, {spec.k}] and the source's pose [{spec.k}] expected, got {tuple(dp.shape)} and "
                         f"{tuple(source.shape)}")
    low = torch.minimum(source, torch.full_like(source, -float(limit)))
    high = torch.maximum(source, torch.full_like(source, float(limit)))
    wanted = source + dp
    target = torch.maximum(torch.minimum(wanted, high), low)
    expression = torch.tensor([name not in ANGLE_SCALES for name in spec.names])
    return torch.where(expression[None] & (target != wanted), target - source, dp)  # uncut entries keep their bits


def expression_entries(spec: PoseVectorSpec) -> List[str]:
    """The layout's expression entries (``exp_0``, ``exp_1``, ...): the columns whose head turn is compensated."""
    return [n for n in spec.names if n.startswith("exp_")]


def leak_deltas(spec: PoseVectorSpec, step: float = LEAK_STEP) -> Tuple[List[str], torch.Tensor]:
    """The expression entries and the rescaled Δp [2 n, k] that edit each by -step and +step alone (rows: -step,
    +step per entry)."""
    names = expression_entries(spec)
    rows = torch.zeros(2 * len(names), spec.k)
    for i, name in enumerate(names):
        rows[2 * i:2 * i + 2, list(spec.names).index(name)] = torch.tensor([-step, step])
    return names, rows


def leaks_from_readings(spec: PoseVectorSpec, names: Sequence[str], p: torch.Tensor, found: torch.Tensor,
                        step: float = LEAK_STEP,
                        angles: Sequence[str] = LEAK_ANGLES) -> Dict[str, Dict[str, float]]:
    """Leaks from the estimator's readings ``p`` [2 n, k] (raw) of the renders of :func:`leak_deltas`: for each
    angle of ``angles`` in the layout, ``{entry: rescaled change of the angle per rescaled unit of the entry}``.
    Entries not found in both renders, or with a reading that is not finite, are left out."""
    slopes = spec.delta(p[0::2], p[1::2]) / (2 * step)  # [n, k]: each entry's -step and +step renders
    both = found[0::2].bool() & found[1::2].bool()
    leaks: Dict[str, Dict[str, float]] = {}
    for angle in (a for a in angles if a in spec.names):
        column = list(spec.names).index(angle)
        leaks[angle] = {name: float(slopes[i, column]) for i, name in enumerate(names)
                        if bool(both[i]) and math.isfinite(float(slopes[i, column]))}
    return leaks


def remove_leaks(spec: PoseVectorSpec, dp: torch.Tensor, leaks: Mapping[str, Mapping[str, float]]) -> torch.Tensor:
    """Δp [B, k] with each angle's leak taken out: ``Δp[angle] -= Σ_e leaks[angle][e] · Δp[e]``, so that the turn
    the expression entries cause plus the one asked of the angle's own column add up to the Δp's angle."""
    if not any(leaks.values()):
        return dp
    dp = torch.as_tensor(dp, dtype=torch.float32)
    out = dp.clone()
    names = list(spec.names)
    for angle, per_entry in leaks.items():
        for entry, slope in per_entry.items():
            out[:, names.index(angle)] -= slope * dp[:, names.index(entry)]
    return out


def calibration_deltas(spec: PoseVectorSpec, p: torch.Tensor,
                       steps: Mapping[str, float]) -> Tuple[List[str], torch.Tensor]:
    """The entries of ``steps`` in the layout and the Δp [2 n, k] that move the raw pose ``p`` [1, k] by -step and
    +step of each (rows: -step, +step per entry)."""
    names = [n for n in steps if n in spec.names]
    base = p.detach().float().cpu()
    rows = []
    for name in names:
        for sign in (-1.0, 1.0):
            moved = base.clone()
            moved[:, list(spec.names).index(name)] += sign * float(steps[name])
            rows.append(spec.delta(base, moved))
    return names, torch.cat(rows) if rows else torch.zeros(0, spec.k)


def gains_from_readings(spec: PoseVectorSpec, names: Sequence[str], steps: Mapping[str, float], p: torch.Tensor,
                        found: torch.Tensor) -> Tuple[Dict[str, float], Dict[str, Tuple[bool, float]]]:
    """Gains from the estimator's readings ``p`` [2 n, k] of the renders of :func:`calibration_deltas`:
    (measured change) / (2 step) per entry; entries not found in both renders, or with a gain that is not a
    positive number, go to the second dict (name -> (found, gain)) instead."""
    gains: Dict[str, float] = {}
    failed: Dict[str, Tuple[bool, float]] = {}
    for i, name in enumerate(names):
        column = list(spec.names).index(name)
        gain = float(p[2 * i + 1, column] - p[2 * i, column]) / (2 * float(steps[name]))
        both = bool(found[2 * i]) and bool(found[2 * i + 1])
        if both and math.isfinite(gain) and gain > 0:
            gains[name] = gain
        else:
            failed[name] = (both, gain)
    return gains, failed
