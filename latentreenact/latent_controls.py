"""Controls as directions in the generator's W space: what the 3D face model cannot express (eyes closed), or
expresses only with head motion (lips apart).

The BFM expression components that p carries barely move the eyelids (docs/editing.md), so ``eyes_closed`` is
not a direction in p but a direction ``d`` in W, added to layers ``[lo, hi)`` of W+: a control value ``v`` adds
``v * unit * d`` where ``d`` changes the eye opening measured by dlib's 68 landmarks
(:func:`latentreenact.faces.measures.eye_opening_68`) by -1 per unit length of the step in the generator's
faces, while holding the pose vector and the identity embedding fixed to first order. ``lips_apart`` changes
the inner-lip gap (:func:`latentreenact.faces.measures.mouth_opening_68`) by +1 per unit length, holding the
head angles, the identity embedding, the eye opening and the mouth width to first order (a second mouth channel,
driven by the driving face's landmarks, next to A's expression columns; the judge still sees the head nod by
about as much per unit of opening as with those columns, docs/editing.md). Both are fitted by
``latentreenact train controls``
(:func:`directions.latent_fit.fit_latent_controls`).

File format (``save`` / ``load``, written atomically): ``{"format", "format_version", "names", "directions"
[C, D], "layers" [lo, hi], "config"}``; ``config`` records how it was fitted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

from .checkpoints.errors import CheckpointFormatError
from .fileio import atomic_path, read_format_file

__all__ = ["LATENT_CONTROLS", "LatentControl", "LatentControls"]

FORMAT = "latentreenact.latent-controls"
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class LatentControl:
    """One control: a value of 1 changes its 68-landmark measure by ``unit`` (``eyes_closed`` lowers the eye
    opening, ``lips_apart`` raises the inner-lip gap) on the generator's faces; ``range``: the values offered
    (sliders, tests: both ends keep the person)."""

    name: str
    unit: float
    description: str
    range: Tuple[float, float]


#: The W-space controls by name (their directions ship per generator, see ``controls-mobilestylegan-ffhq``).
LATENT_CONTROLS: Dict[str, LatentControl] = {c.name: c for c in (
    LatentControl("eyes_closed", 0.25, "closes the eyes (1 asks dlib's eye aspect ratio to drop by 0.25; the "
                                       "renders narrow to a squint or nearly shut; negative opens them wider)",
                  (-0.4, 1.2)),
    LatentControl("lips_apart", 0.1, "parts the lips (1 asks dlib's inner-lip gap over the eye-corner distance to "
                                     "grow by 0.1; fitted with the head angles, the eyes and the mouth's width "
                                     "held, though the head still nods a little)", (-0.5, 3.0)),
)}


class LatentControls:
    """Directions ``[C, D]`` in W for the controls ``names``, added to W+ layers ``layers = (lo, hi)``."""

    def __init__(self, names: Sequence[str], directions: torch.Tensor, layers: Tuple[int, int],
                 config: Optional[Mapping[str, Any]] = None) -> None:
        names = tuple(str(n) for n in names)
        unknown = [n for n in names if n not in LATENT_CONTROLS]
        if unknown:
            raise ValueError(f"unknown latent controls {unknown}; known: {', '.join(LATENT_CONTROLS)}")
        if directions.ndim != 2 or directions.shape[0] != len(names):
            raise ValueError(f"directions must be [{len(names)}, D], got {tuple(directions.shape)}")
        if not torch.isfinite(directions).all():
            raise ValueError("the control directions contain NaN or Inf")
        lo, hi = (int(v) for v in layers)
        if not 0 <= lo < hi:
            raise ValueError(f"layers must be 0 <= lo < hi, got {layers}")
        self.names, self.layers = names, (lo, hi)
        self.directions = directions.detach().float().cpu()
        self.config: Dict[str, Any] = dict(config or {})

    @property
    def style_dim(self) -> int:
        """D, the width of W."""
        return int(self.directions.shape[1])

    def check_fits(self, n_latent: int, style_dim: int, source: str = "the latent controls") -> None:
        """ValueError unless the directions fit a generator with W+ [n_latent, style_dim]."""
        if style_dim != self.style_dim or self.layers[1] > n_latent:
            raise ValueError(f"{source} (layers {self.layers[0]}..{self.layers[1] - 1}, D={self.style_dim}) do not "
                             f"fit the generator (n_latent={n_latent}, style_dim={style_dim})")

    def offset(self, values: Mapping[str, float], n_latent: int) -> torch.Tensor:
        """ΔW+ [1, n_latent, D] of the control ``values`` (``{"eyes_closed": 1.0}``); ValueError for unknown
        names or values that are not finite."""
        unknown = [n for n in values if n not in self.names]
        if unknown:
            raise ValueError(f"unknown latent controls {unknown}; this model has {', '.join(self.names) or 'none'}")
        bad = {n: v for n, v in values.items() if not math.isfinite(float(v))}
        if bad:
            raise ValueError(f"control values must be finite (not NaN or Inf), got {bad}")
        self.check_fits(n_latent, self.style_dim)
        step = torch.zeros(self.style_dim)
        for name, value in values.items():
            step += float(value) * LATENT_CONTROLS[name].unit * self.directions[self.names.index(name)]
        out = torch.zeros(1, n_latent, self.style_dim)
        out[:, self.layers[0]:self.layers[1]] = step
        return out

    def save(self, path: PathLike) -> Path:
        """Write the directions and their config atomically."""
        with atomic_path(path) as tmp:
            torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "names": list(self.names),
                        "directions": self.directions.clone(), "layers": list(self.layers), "config": self.config},
                       tmp)
        return Path(path)

    @classmethod
    def load(cls, path: PathLike) -> "LatentControls":
        """Read a file written by :meth:`save` (CheckpointFormatError naming the file when it is not one)."""
        file = Path(path).expanduser()
        if not file.is_file():
            raise FileNotFoundError(f"latent-controls file not found: {file}")
        obj = read_format_file(file, FORMAT, FORMAT_VERSION, "latent-controls file")
        try:
            return cls(obj["names"], torch.as_tensor(obj["directions"]), tuple(obj["layers"]), obj.get("config"))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointFormatError(f"{file}: {exc}") from exc
