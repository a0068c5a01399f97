"""An inverted source face: what inversion makes and every reenactment, edit and prepared file uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict

import numpy as np
import torch

from .images import is_greyscale

__all__ = ["Source"]


@dataclass
class Source:
    """An inverted source face.

    ``crop``: the aligned uint8 crop [S, S, 3] (S = the reenactor's ``align_size``); ``wplus``
    [1, L, D]; ``p`` [1, k]: the raw pose vector (degrees, coefficients); ``generator``: a tuned
    copy, or the reenactor's shared generator; ``transform``: 3x3 crop->photo transform (for
    paste-back); ``image``: the source photo (uint8 [H, W, 3]); ``pose_gains``: per pose-vector entry, how far
    the estimator sees this source's face move per unit asked of A (``Reenactor.calibrate``; empty: none);
    ``pose_leaks``: per angle, how far the estimator sees this source's head turn per unit asked of each
    expression entry (``Reenactor.calibrate_leaks``; empty: none).
    """

    crop: np.ndarray
    wplus: torch.Tensor
    p: torch.Tensor
    generator: Any
    transform: np.ndarray
    image: np.ndarray
    name: str = "source"
    info: Dict[str, Any] = field(default_factory=dict)
    pose_gains: Dict[str, float] = field(default_factory=dict)
    pose_leaks: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.wplus.ndim != 3 or self.wplus.shape[0] != 1:
            raise ValueError(f"{self.name}: W+ must be [1, n_latent, style_dim], got {tuple(self.wplus.shape)}")
        if self.p.ndim != 2 or self.p.shape[0] != 1:
            raise ValueError(f"{self.name}: the pose vector p must be [1, k], got {tuple(self.p.shape)}")
        if not torch.isfinite(self.wplus).all():
            raise ValueError(f"{self.name}: W+ contains NaN or Inf; invert the source again")
        if not torch.isfinite(self.p).all():
            raise ValueError(f"{self.name}: the pose vector contains NaN or Inf (no usable face?)")

    @cached_property
    def greyscale(self) -> bool:
        """Whether the face crop is grey (a black-and-white photo), so that its renders are shown in grey; measured
        once per source (about 4 ms), not per rendered batch."""
        return is_greyscale(self.crop)
