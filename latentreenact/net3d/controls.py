"""Expression controls a person understands (mouth open, smile, ...) as directions in the pose vector p.

Each control is a geometric measure on the 68 landmarks of the linear 3D face model (BFM, the model
whose expression coefficients are p's ``exp_*`` entries), in units of the inter-ocular distance:

* ``mouth_open``: mean inner-lip gap (landmarks 61-67, 62-66, 63-65);
* ``smile``: mouth width (48-54).

The model's 10 expression components barely move the eyelids and brows (an eyes-closed or brow-raise
step of 0.02 eye-distance needs 10 to 13 units of rescaled p, beyond A's ±6 range), and A's columns,
trained on what they do move, rendered no visible eye or brow change when tried (docs/editing.md). So
``eyes_closed`` is a direction in the generator's W instead (:mod:`latentreenact.latent_controls`); there is
no brow control.

The landmarks are linear in the expression coefficients, so near the mean expression a measure
changes at the rate of its gradient ``g`` (raw coefficients). A control moves p along the direction
that changes the measure fastest per unit of the *rescaled* p that the matrix A reads (docs/
architecture.md §7), so that the latent shift it asks of A is as small as possible:
``Δq = g_q * t / |g_q|^2`` with ``g_q`` the gradient with respect to rescaled coefficients, mapped
back to raw units. A control value ``v`` asks for a change of ``v * unit`` in the measure (``unit``:
see :data:`CONTROLS`). The effect in the image is checked independently by the judge's landmarks
(``benchmarks/bench_controls.py``, ``tests/test_controls.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Tuple

import torch

from latentreenact.shape3d import LinearShapeModel

from .pose_vector import PoseVectorSpec

Measure = Callable[[torch.Tensor], torch.Tensor]


def _dist(v: torch.Tensor, a: int, b: int) -> torch.Tensor:
    return (v[..., a, :] - v[..., b, :]).norm(dim=-1)


def _iod(v: torch.Tensor) -> torch.Tensor:
    return _dist(v, 36, 45)


def mouth_gap(v: torch.Tensor) -> torch.Tensor:
    """Mean inner-lip gap over the inter-ocular distance, of 68 landmarks [..., 68, 3]."""
    return (_dist(v, 61, 67) + _dist(v, 62, 66) + _dist(v, 63, 65)) / 3 / _iod(v)


def mouth_width(v: torch.Tensor) -> torch.Tensor:
    """Mouth-corner distance over the inter-ocular distance."""
    return _dist(v, 48, 54) / _iod(v)


@dataclass(frozen=True)
class ExpressionControl:
    """One control: its landmark measure, the measure change of a control value of 1, a description, and the
    range of values offered (sliders, tests: both ends keep the person)."""

    name: str
    measure: Measure
    unit: float
    description: str
    range: Tuple[float, float] = (-1.0, 1.5)


#: The controls by name; a value of 1 changes the measure by ``unit`` (fractions of the inter-ocular distance).
CONTROLS: Dict[str, ExpressionControl] = {c.name: c for c in (
    ExpressionControl("mouth_open", mouth_gap, 0.10, "opens the mouth (1 = lips 0.1 eye-distance further apart)",
                      (-0.5, 1.5)),
    ExpressionControl("smile", mouth_width, 0.08, "widens the mouth (1 = corners 0.08 eye-distance further apart)"),
)}


def _exp_names(spec: PoseVectorSpec, n_exp: int) -> Tuple[str, ...]:
    names = tuple(f"exp_{i}" for i in range(n_exp))
    missing = [n for n in names if n not in spec.names]
    if missing:
        raise ValueError(f"expression controls need the BFM layout's {n_exp} expression entries; this pose vector "
                         f"({', '.join(spec.names)}) lacks {', '.join(missing)}")
    return names


def control_directions(model: LinearShapeModel, spec: PoseVectorSpec) -> Dict[str, torch.Tensor]:
    """Raw Δp [k] of a control value of 1, for every control in :data:`CONTROLS` (see the module docstring)."""
    names = _exp_names(spec, model.num_exp)
    half_range = torch.tensor([(spec.ranges[n][1] - spec.ranges[n][0]) / (2 * spec.shift_scale) for n in names],
                              dtype=torch.float64)
    exp = model.exp_mean.detach().double().cpu().unsqueeze(0).requires_grad_(True)
    vertices = _landmarks(model, exp)
    out: Dict[str, torch.Tensor] = {}
    for name, control in CONTROLS.items():
        grad_raw, = torch.autograd.grad(control.measure(vertices), exp, retain_graph=True)
        grad_q = grad_raw[0] * half_range  # d measure / d rescaled coefficient
        step_q = grad_q * control.unit / grad_q.pow(2).sum().clamp_min(1e-12)
        dp = torch.zeros(spec.k, dtype=torch.float64)
        for i, n in enumerate(names):
            dp[spec.names.index(n)] = step_q[i] * half_range[i]
        out[name] = dp.float()
    return out


def _landmarks(model: LinearShapeModel, exp: torch.Tensor) -> torch.Tensor:
    """The model's 68 landmarks [68, 3] (float64) of the mean identity with expression ``exp`` [1, n_exp]."""
    identity = model.id_mean.detach().double().cpu()
    return (model.lmk_mean.detach().double().cpu()
            + torch.einsum("vki,i->vk", model.lmk_id_basis.detach().double().cpu(), identity)
            + torch.einsum("vke,e->vk", model.lmk_exp_basis.detach().double().cpu(), exp[0]))


def control_delta(directions: Mapping[str, torch.Tensor], values: Mapping[str, float]) -> torch.Tensor:
    """Raw Δp [k]: the sum of ``value * direction`` over the named controls (ValueError for unknown names)."""
    unknown = [n for n in values if n not in directions]
    if unknown:
        raise ValueError(f"unknown expression controls {unknown}; choose from {', '.join(directions)}")
    total = None
    for name, value in values.items():
        step = directions[name] * float(value)
        total = step if total is None else total + step
    if total is None:
        raise ValueError("no expression control values given")
    return total
