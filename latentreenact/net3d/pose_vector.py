"""The pose vector p: layouts per Net3D backend and the rescaling to [-a, a] (docs/architecture.md §7).

Angles (degrees) are scaled by ``a / 40`` (yaw) and ``a / 20`` (pitch, roll), not clamped. Jaw
and expression coefficients are mapped linearly so that their ``[min, max]`` over generated
samples goes to ``[-a, a]``. Only differences of rescaled vectors are fed to the matrix A.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Sequence, Tuple, Union

import numpy as np
import torch

from latentreenact.fileio import atomic_path

SHIFT_SCALE = 6.0
ANGLE_SCALES: Dict[str, float] = {"yaw": 40.0, "pitch": 20.0, "roll": 20.0}

#: Row names of the released ranges file (float64 [54, 2]: yaw, pitch, roll, jaw, exp_0..exp_49).
RELEASED_RANGE_NAMES: Tuple[str, ...] = ("yaw", "pitch", "roll", "jaw") + tuple(f"exp_{i}" for i in range(50))

#: The entries of p per backend.
LAYOUTS: Dict[str, Tuple[str, ...]] = {
    "deca-voxceleb": ("yaw", "pitch", "roll", "jaw") + tuple(f"exp_{i}" for i in range(11)),  # k = 15
    "deca-ffhq": ("yaw", "pitch", "jaw") + tuple(f"exp_{i}" for i in range(12)),  # k = 15, no roll
    "bfm": ("yaw", "pitch", "roll") + tuple(f"exp_{i}" for i in range(10)),  # k = 13
}


@dataclass(frozen=True)
class PoseVectorSpec:
    """A layout (entry names) with the ``(min, max)`` range of every non-angle entry."""

    names: Tuple[str, ...]
    ranges: Dict[str, Tuple[float, float]]
    shift_scale: float = SHIFT_SCALE

    def __post_init__(self) -> None:
        missing = [n for n in self.names if n not in ANGLE_SCALES and n not in self.ranges]
        if missing:
            raise ValueError(f"no (min, max) range for pose-vector entries {missing}")
        flat = [n for n in self.names if n not in ANGLE_SCALES and not self.ranges[n][1] > self.ranges[n][0]]
        if flat:
            raise ValueError(f"ranges must have max > min; not so for {flat}")

    @property
    def k(self) -> int:
        """Length of p."""
        return len(self.names)

    def _affine(self, device: torch.device, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        """``rescaled = p * mul + add`` coefficients, each [k]."""
        a = self.shift_scale
        mul, add = [], []
        for name in self.names:
            if name in ANGLE_SCALES:
                mul.append(a / ANGLE_SCALES[name])
                add.append(0.0)
            else:
                lo, hi = self.ranges[name]
                mul.append(2 * a / (hi - lo))
                add.append(-a - 2 * a * lo / (hi - lo))
        return torch.tensor(mul, device=device, dtype=dtype), torch.tensor(add, device=device, dtype=dtype)

    def rescale(self, p: torch.Tensor) -> torch.Tensor:
        """Raw p [..., k] (degrees, coefficients) -> rescaled p in the common range [-a, a]."""
        if p.shape[-1] != self.k:
            raise ValueError(f"pose vector must have {self.k} entries ({', '.join(self.names)}), got {p.shape[-1]}")
        mul, add = self._affine(p.device, p.dtype)
        return p * mul + add

    def unscale(self, q: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`rescale`."""
        mul, add = self._affine(q.device, q.dtype)
        return (q - add) / mul

    def delta(self, p_source: torch.Tensor, p_target: torch.Tensor) -> torch.Tensor:
        """Δp = rescale(p_target) - rescale(p_source): the input of the direction matrix."""
        return self.rescale(p_target) - self.rescale(p_source)

    def ranges_array(self) -> np.ndarray:
        """float64 [k, 2] of (min, max) per entry (angles: ±their scale)."""
        rows = [(-ANGLE_SCALES[n], ANGLE_SCALES[n]) if n in ANGLE_SCALES else self.ranges[n] for n in self.names]
        return np.asarray(rows, dtype=np.float64)


def spec_from_ranges(layout: Union[str, Sequence[str]], ranges: np.ndarray,
                     range_names: Sequence[str] = RELEASED_RANGE_NAMES,
                     shift_scale: float = SHIFT_SCALE) -> PoseVectorSpec:
    """Build a spec from a layout (a name of :data:`LAYOUTS` or entry names) and a ranges array.

    ``ranges`` is float [n, 2] of (min, max) with rows named by ``range_names`` (default: the
    released file's 54 rows).
    """
    names = LAYOUTS[layout] if isinstance(layout, str) else tuple(layout)
    ranges = np.asarray(ranges, dtype=np.float64)
    if ranges.ndim != 2 or ranges.shape[1] != 2 or ranges.shape[0] != len(range_names):
        raise ValueError(f"ranges must be [{len(range_names)}, 2] (min, max) for rows {tuple(range_names)[:4]}..., "
                         f"got {ranges.shape}; for a file written by `latentreenact stats` use "
                         f"load_ranges_with_names() and pass its names as range_names")
    if not np.isfinite(ranges).all():
        raise ValueError("ranges contain NaN or Inf")
    table = {n: (float(lo), float(hi)) for n, (lo, hi) in zip(range_names, ranges)}
    return PoseVectorSpec(names, {n: table[n] for n in names if n not in ANGLE_SCALES}, shift_scale)


def load_ranges_with_names(path: Union[str, Path]) -> Tuple[np.ndarray, Tuple[str, ...]]:
    """A ranges file and its row names: from the sidecar ``<file>.json`` written by
    ``latentreenact stats`` when present, else the released file's 54 rows."""
    array = load_ranges(path)
    sidecar = Path(path).with_suffix(".json")
    if sidecar.is_file():
        rows = tuple(json.loads(sidecar.read_text()).get("rows", ()))
        if len(rows) != array.shape[0]:
            raise ValueError(f"{sidecar} names {len(rows)} rows but {path} has {array.shape[0]}")
        return array, rows
    if array.shape[0] != len(RELEASED_RANGE_NAMES):
        raise ValueError(f"{path} has {array.shape[0]} rows and no sidecar {sidecar.name} naming them "
                         f"({{\"rows\": [\"yaw\", ...]}}, as `latentreenact stats` writes; in Python, pass range_names "
                         f"to spec_from_ranges)")
    return array, RELEASED_RANGE_NAMES


def load_ranges(path: Union[str, Path]) -> np.ndarray:
    """Read a ranges file (``.npy`` float64 [n, 2]) without allowing pickles; ``ValueError`` naming the file for
    anything else (a pickle, a text file, a torch checkpoint)."""
    try:
        array = np.load(Path(path), allow_pickle=False)
    except (ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a ranges file (a .npy array of [n, 2] (min, max) rows, as "
                         "`latentreenact stats` writes)") from exc
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise ValueError(f"{path}: not a ranges file (a .npy array of [n, 2] (min, max) rows)")
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{path}: a ranges file holds [n, 2] (min, max) rows, got shape {array.shape}")
    return array.astype(np.float64)


def save_ranges(path: Union[str, Path], ranges: np.ndarray) -> Path:
    """Write a ranges file (float64 [n, 2] ``.npy``) atomically."""
    array = np.asarray(ranges, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"ranges must be [n, 2], got {array.shape}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    return Path(path)
