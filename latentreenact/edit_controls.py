"""What an edit can ask for, turned into what moves the source: Δp for the pose vector, ΔW+ for the W-space controls.

An edit names head angles in degrees, raw expression coefficients, and expression controls. The pose-vector
controls (``mouth_open``, ``smile``; :mod:`latentreenact.net3d.controls`) add fixed Δp directions derived from
the 3D face model. The W-space controls (``eyes_closed``, ``lips_apart``; :mod:`latentreenact.latent_controls`)
are directions in W added to W+ and are not part of Δp. :class:`EditControls` holds both sets for one
reenactor (its pose-vector layout and its generator's number of W+ layers) and checks every request.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import torch

from .latent_controls import LATENT_CONTROLS, LatentControls
from .net3d.controls import CONTROLS, control_delta, control_directions
from .net3d.pose_vector import ANGLE_SCALES, PoseVectorSpec
from .shape3d import LinearShapeModel

__all__ = ["ANGLE_LIMIT", "CONTROL_LIMIT", "EditControls", "RANGE_FACTOR"]

#: An edited head is turned at most this far (degrees) from the camera, about any axis.
ANGLE_LIMIT = 90.0
#: An edited entry may lie at most this many times the pose vector's common range (``spec.shift_scale``, the span
#: A was trained on) from its middle: beyond it the generator renders noise, so such a value is a mistake.
RANGE_FACTOR = 3.0
#: The largest magnitude of a W-space control value (1 is a full edit; the drivers ask for at most 3).
CONTROL_LIMIT = 10.0

_NO_CONTROLS_FILE = ("this model has no W-space controls file (the default model ships one; a model directory "
                     "names it as 'controls' in reenactor.json)")


class EditControls:
    """The edit vocabulary of one reenactor: ``spec`` (its pose vector), ``n_latent`` (its generator's W+ layers)
    and ``latent`` (its W-space controls, or None)."""

    def __init__(self, spec: PoseVectorSpec, n_latent: int, latent: Optional[LatentControls] = None) -> None:
        self.spec, self.n_latent, self.latent = spec, int(n_latent), latent
        self._pose_directions: Optional[Dict[str, torch.Tensor]] = None

    def names(self) -> Tuple[str, ...]:
        """The expression controls offered: the pose-vector ones, then the W-space ones of ``latent``."""
        return (*CONTROLS, *(self.latent.names if self.latent is not None else ()))

    def offset(self, controls: Optional[Mapping[str, float]]) -> Optional[torch.Tensor]:
        """ΔW+ [1, n_latent, D] of the W-space controls among ``controls`` (None when there are none); ValueError
        for a W-space control without a direction here."""
        values = {k: float(v) for k, v in (controls or {}).items() if k in LATENT_CONTROLS}
        if not values:
            return None
        if self.latent is None:
            raise ValueError(f"{', '.join(values)}: {_NO_CONTROLS_FILE}")
        return self.latent.offset(values, self.n_latent)

    def series(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """ΔW+ [N, n_latent, D] of one W-space control taking ``values`` [N] (e.g. ``eyes_closed`` per frame)."""
        if self.latent is None:
            raise ValueError(f"{name}: {_NO_CONTROLS_FILE}")
        values = torch.as_tensor(values, dtype=torch.float32)
        if not torch.isfinite(values).all():
            raise ValueError(f"{name} values contains NaN or Inf")
        return values[:, None, None] * self.latent.offset({name: 1.0}, self.n_latent)

    def _check_range(self, values: Mapping[str, float], target: torch.Tensor) -> None:
        """ValueError for an edited entry beyond :data:`ANGLE_LIMIT` (angles) or :data:`RANGE_FACTOR` times the
        common range (any entry, rescaled), naming what was asked."""
        limit = RANGE_FACTOR * self.spec.shift_scale
        rescaled = self.spec.rescale(target)[0]
        for name, value in values.items():
            i = self.spec.names.index(name)
            if name in ANGLE_SCALES and abs(float(target[0, i])) > ANGLE_LIMIT:
                raise ValueError(f"{name} {value:g}: the edited head would be turned {float(target[0, i]):.0f} "
                                 f"degrees; edits are limited to ±{ANGLE_LIMIT:g} degrees (the generator's faces turn "
                                 "about ±30)")
            if abs(float(rescaled[i])) > limit:
                raise ValueError(f"{name} {value:g}: the edited face would lie at {float(rescaled[i]):.1f} in the "
                                 f"direction matrix's units, beyond ±{limit:g} ({RANGE_FACTOR:g} times the ±"
                                 f"{self.spec.shift_scale:g} its directions were trained on), where the generator "
                                 "renders noise")

    def pose_directions(self) -> Dict[str, torch.Tensor]:
        """Raw Δp [k] of a value of 1 of each pose-vector control (loaded once); ValueError for pose vectors
        without BFM expressions."""
        if self._pose_directions is None:
            self._pose_directions = control_directions(LinearShapeModel.load(), self.spec)
        return self._pose_directions

    def delta(self, p: torch.Tensor, yaw: Optional[float] = None, pitch: Optional[float] = None,
              roll: Optional[float] = None, expression: Optional[Mapping[int, float]] = None,
              jaw: Optional[float] = None, absolute: bool = False,
              controls: Optional[Mapping[str, float]] = None) -> torch.Tensor:
        """Δp [1, k] that moves a face with raw pose vector ``p`` [1, k]: angles in degrees, expressions
        (``{index: value}``) in raw units, added to ``p`` (default) or set (``absolute=True``); None leaves an entry
        as is. The pose-vector ``controls`` are added on top; W-space ones are only checked (:meth:`offset`)."""
        values: Dict[str, float] = {k: _number(v, k) for k, v in (("yaw", yaw), ("pitch", pitch), ("roll", roll),
                                                                   ("jaw", jaw)) if v is not None}
        values.update({f"exp_{_index(i)}": _number(v, f"expression[{i!r}]") for i, v in _mapping(expression,
                                                                                               "expression").items()})
        unknown = [n for n in values if n not in self.spec.names]
        if unknown:
            raise ValueError(f"entries {unknown} are not in this model's pose vector ({', '.join(self.spec.names)})")
        control_values = {k: _number(v, f"controls[{k!r}]") for k, v in _mapping(controls, "controls").items()}
        if not all(math.isfinite(v) for v in [*values.values(), *control_values.values()]):
            raise ValueError(f"edit values must be finite (not NaN or Inf), got {values} {control_values}")
        base = p.detach().float().cpu()
        target = base.clone()
        for name, value in values.items():
            i = self.spec.names.index(name)
            target[0, i] = value if absolute else target[0, i] + value
        self._check_range(values, target)
        too_large = {n: v for n, v in control_values.items() if abs(v) > CONTROL_LIMIT}
        if too_large:
            raise ValueError(f"expression control values {too_large} are too large: they are limited to "
                             f"±{CONTROL_LIMIT:g} (1 is a full edit)")
        unknown = [n for n in control_values if n not in CONTROLS and n not in LATENT_CONTROLS]
        if unknown:
            raise ValueError(f"unknown expression controls {unknown}; choose from {', '.join(self.names())}")
        self.offset(control_values)  # a W-space control this model lacks fails here
        pose_controls = {n: v for n, v in control_values.items() if n in CONTROLS}
        if pose_controls:
            target = target + control_delta(self.pose_directions(), pose_controls).unsqueeze(0)
        return self.spec.delta(base, target)


def _mapping(values: Optional[Mapping[Any, Any]], what: str) -> Mapping[Any, Any]:
    """``values`` (None: empty) when it is a mapping; ``TypeError`` naming ``what`` otherwise."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise TypeError(f"{what} must be a mapping such as {{0: 1.5}} or {{'smile': 1.0}}, got {type(values).__name__}")
    return values


def _index(key: Any) -> int:
    """An expression coefficient's index: an integer (``3`` or ``3.0``), never a rounded fraction or a name."""
    if isinstance(key, bool) or not isinstance(key, (int, float, np.integer, np.floating)) or float(key) != int(key):
        raise ValueError(f"expression keys are coefficient indices (0, 1, ...), got {key!r}")
    return int(key)


def _number(value: Any, what: str) -> float:
    """``value`` as a float; ``TypeError`` naming ``what`` for anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) and not (
            torch.is_tensor(value) and value.numel() == 1):
        raise TypeError(f"{what} must be a number, got {value!r}")
    return float(value)
