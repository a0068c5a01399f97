"""``PoseParams``: what every Net3D backend returns, and the pose vector p built from it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from .pose_vector import LAYOUTS

__all__ = ["PoseParams", "MissingEntryError"]

ANGLE_NAMES: Tuple[str, ...] = ("yaw", "pitch", "roll")


class MissingEntryError(ValueError):
    """A pose-vector layout asks for an entry that the backend does not measure."""


@dataclass
class PoseParams:
    """Head pose, expression and shape of B faces, batch-first torch tensors.

    ``angles`` [B, 3]: yaw, pitch, roll in degrees (docs/architecture.md §6 convention);
    ``expression`` [B, E]: expression coefficients of the backend's model;
    ``jaw`` [B] or None: the x-component of the jaw axis-angle in radians (DECA only);
    ``identity`` [B, I] or None: identity/shape coefficients;
    ``landmarks`` [B, 68, 2]: the model's 68 landmarks in pixels of the input image (x right, y down);
    ``vertices`` [B, V, 3] or None: model vertices (the backend's model frame);
    ``found`` [B] bool: False where no face was found (those rows hold NaN);
    ``backend``: the estimator's registry name; ``extras``: backend-specific tensors
    (DECA: the raw code split, camera, 3D landmarks, crop transforms; BFM: rotation, scale, ...).
    """

    angles: torch.Tensor
    expression: torch.Tensor
    landmarks: torch.Tensor
    backend: str
    jaw: Optional[torch.Tensor] = None
    identity: Optional[torch.Tensor] = None
    vertices: Optional[torch.Tensor] = None
    found: Optional[torch.Tensor] = None
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        batch = self.angles.shape[0]
        if self.angles.ndim != 2 or self.angles.shape[1] != 3:
            raise ValueError(f"angles must be [B, 3] (yaw, pitch, roll), got {tuple(self.angles.shape)}")
        if self.expression.ndim != 2 or self.expression.shape[0] != batch:
            raise ValueError(f"expression must be [{batch}, E], got {tuple(self.expression.shape)}")
        if self.landmarks.shape != (batch, 68, 2):
            raise ValueError(f"landmarks must be [{batch}, 68, 2], got {tuple(self.landmarks.shape)}")
        if self.jaw is not None and self.jaw.shape != (batch,):
            raise ValueError(f"jaw must be [{batch}], got {tuple(self.jaw.shape)}")
        if self.found is None:
            self.found = torch.ones(batch, dtype=torch.bool, device=self.angles.device)

    def __len__(self) -> int:
        return int(self.angles.shape[0])

    @property
    def yaw(self) -> torch.Tensor:
        """[B] degrees."""
        return self.angles[:, 0]

    @property
    def pitch(self) -> torch.Tensor:
        """[B] degrees."""
        return self.angles[:, 1]

    @property
    def roll(self) -> torch.Tensor:
        """[B] degrees."""
        return self.angles[:, 2]

    def entry(self, name: str) -> torch.Tensor:
        """One named entry of p as [B]: ``yaw``, ``pitch``, ``roll``, ``jaw`` or ``exp_<i>``."""
        if name in ANGLE_NAMES:
            return self.angles[:, ANGLE_NAMES.index(name)]
        if name == "jaw":
            if self.jaw is None:
                raise MissingEntryError(f"backend {self.backend!r} does not measure the jaw angle "
                                        "(only DECA does); use a layout without 'jaw', e.g. 'bfm'")
            return self.jaw
        if name.startswith("exp_") and name[4:].isdigit():
            index = int(name[4:])
            if index >= self.expression.shape[1]:
                raise MissingEntryError(f"backend {self.backend!r} has {self.expression.shape[1]} expression "
                                        f"coefficients; entry {name!r} does not exist")
            return self.expression[:, index]
        raise MissingEntryError(f"unknown pose-vector entry {name!r} (expected yaw, pitch, roll, jaw or exp_<i>)")

    def to_vector(self, layout: Union[str, Sequence[str]]) -> torch.Tensor:
        """p as [B, k] for a layout: a name of ``latentreenact.net3d.pose_vector.LAYOUTS`` or entry names."""
        if isinstance(layout, str):
            if layout not in LAYOUTS:
                raise ValueError(f"unknown pose-vector layout {layout!r}; choose from {', '.join(LAYOUTS)}")
            names: Sequence[str] = LAYOUTS[layout]
        else:
            names = tuple(layout)
        try:
            return torch.stack([self.entry(n) for n in names], dim=1)
        except MissingEntryError as exc:
            where = f"layout {layout!r}" if isinstance(layout, str) else "the layout"
            raise MissingEntryError(f"{where} cannot be built: {exc}") from exc

    def range_names(self) -> List[str]:
        """Entries measured by the backend, in the ranges-file order: angles, jaw (if any), exp_0.."""
        names = list(ANGLE_NAMES) + (["jaw"] if self.jaw is not None else [])
        return names + [f"exp_{i}" for i in range(self.expression.shape[1])]

    def range_vector(self) -> torch.Tensor:
        """[B, n] of the entries named by :meth:`range_names`."""
        return torch.stack([self.entry(n) for n in self.range_names()], dim=1)

    def select(self, index: Union[torch.Tensor, slice, Sequence[int]]) -> "PoseParams":
        """The faces picked by ``index`` (a mask, indices or a slice)."""
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return replace(self, angles=self.angles[index], expression=self.expression[index],
                       landmarks=self.landmarks[index], jaw=pick(self.jaw), identity=pick(self.identity),
                       vertices=pick(self.vertices), found=pick(self.found),
                       extras={k: v[index] for k, v in self.extras.items()})
