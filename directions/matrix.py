"""The direction matrix A: Δw = A Δp, added to the first L layers of W+ (docs/architecture.md §7).

Two file formats: ours (``save``/``load``: config inside, written atomically) and the released
``A_matrix.pt`` layout (``save_released``/``load_released``).
"""

from __future__ import annotations

import math

import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch
from torch import nn

from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.checkpoints.strict import check_state_dict
from latentreenact.fileio import atomic_path, read_torch_file
from latentreenact.net3d.pose_vector import ANGLE_SCALES, LAYOUTS, PoseVectorSpec, spec_from_ranges

FORMAT = "latentreenact.directions"
FORMAT_VERSION = 1
INIT_STD = 0.03

PathLike = Union[str, "os.PathLike[str]"]


class DirectionMatrix(nn.Module):
    """``Linear(k -> L * style_dim)`` with bias; ``forward(dp)`` gives Δw [B, L, style_dim].

    ``config`` carries what is needed to use the matrix: the pose-vector layout and ranges,
    the Net3D backend and the generator it was trained for (free-form, JSON-like).
    """

    def __init__(self, k: int, num_layers: int = 8, style_dim: int = 512, shift_scale: float = 6.0,
                 seed: Optional[int] = 0, config: Optional[Dict[str, Any]] = None):
        """Weight ~ N(0, 0.03) from ``seed`` (``None``: left uninitialised, for loading), bias 0.

        Never draws from torch's global random generator.
        """
        super().__init__()
        if k < 1 or num_layers < 1 or style_dim < 1:
            raise ValueError(f"k, num_layers and style_dim must be positive, got {k}, {num_layers}, {style_dim}")
        self.k, self.num_layers, self.style_dim, self.shift_scale = k, num_layers, style_dim, float(shift_scale)
        self.config: Dict[str, Any] = dict(config or {})
        self.linear = nn.Linear(k, num_layers * style_dim, device="meta").to_empty(device="cpu")
        with torch.no_grad():
            self.linear.bias.zero_()
            if seed is None:
                self.linear.weight.zero_()
            else:
                g = torch.Generator().manual_seed(seed)
                self.linear.weight.copy_(torch.randn(self.linear.weight.shape, generator=g) * INIT_STD)

    def forward(self, dp: torch.Tensor) -> torch.Tensor:
        """Δp [B, k] (rescaled) -> Δw [B, L, style_dim]."""
        if dp.ndim != 2 or dp.shape[1] != self.k:
            raise ValueError(f"Δp must be [B, {self.k}], got {tuple(dp.shape)}")
        if not torch.isfinite(dp).all():
            raise ValueError("Δp contains NaN or Inf")
        return self.linear(dp).view(dp.shape[0], self.num_layers, self.style_dim)

    def shift(self, wplus: torch.Tensor, dp: torch.Tensor) -> torch.Tensor:
        """W+ [B, n_latent, style_dim] with Δw added to layers ``0..L-1`` (a new tensor)."""
        if wplus.ndim != 3 or wplus.shape[2] != self.style_dim or wplus.shape[1] < self.num_layers:
            raise ValueError(f"W+ must be [B, >= {self.num_layers}, {self.style_dim}], got {tuple(wplus.shape)}")
        dw = self(dp)
        return torch.cat([wplus[:, : self.num_layers] + dw, wplus[:, self.num_layers:]], 1)

    # ------------------------------------------------------------------ our format
    def save(self, path: PathLike) -> Path:
        """Write state dict + configuration atomically."""
        return _write(path, {"format": FORMAT, "format_version": FORMAT_VERSION, "k": self.k,
                             "num_layers": self.num_layers, "style_dim": self.style_dim,
                             "shift_scale": self.shift_scale, "config": self.config,
                             "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}})

    @classmethod
    def load(cls, path: PathLike, device: Union[str, torch.device] = "cpu") -> "DirectionMatrix":
        """Read a file written by :meth:`save` or a released ``A_matrix.pt`` (detected), frozen
        (``requires_grad_(True)`` to train it further)."""
        obj = _read(path)
        if obj.get("format") != FORMAT:
            if "A_matrix" in obj:
                return cls._from_released(obj, str(path)).to(device).eval().requires_grad_(False)
            raise _format_error(f"{path}: not a direction-matrix file (keys {sorted(map(str, obj))[:8]})")
        if obj.get("format_version") != FORMAT_VERSION:
            raise _format_error(f"{path}: direction file version {obj.get('format_version')} is not supported")
        try:
            shift_scale = float(obj["shift_scale"])
            if not (math.isfinite(shift_scale) and shift_scale > 0):
                raise ValueError(f"shift_scale must be a positive number, got {obj['shift_scale']!r}")
            matrix = cls(int(obj["k"]), int(obj["num_layers"]), int(obj["style_dim"]), shift_scale, seed=None,
                         config=obj.get("config"))
            state = obj["state_dict"]
        except (KeyError, TypeError, ValueError) as exc:  # a missing entry, or one of the wrong type or range
            raise _format_error(f"{path}: a damaged direction file ({type(exc).__name__}: {exc})") from exc
        _load_strict(matrix, state, str(path))
        return matrix.to(device).eval().requires_grad_(False)

    # ------------------------------------------------------------------ released layout
    def save_released(self, path: PathLike) -> Path:
        """Write the released ``A_matrix.pt`` layout (no configuration beyond its fields)."""
        return _write(path, {
            "A_matrix": {f"linear.{k}": v.detach().cpu() for k, v in self.linear.state_dict().items()},
            "learned_directions": self.k, "shift_scale": self.shift_scale, "w_plus": True,
            "num_layers_shift": self.num_layers, "shift_dim": self.style_dim})

    @classmethod
    def load_released(cls, path: PathLike, device: Union[str, torch.device] = "cpu") -> "DirectionMatrix":
        """Read a released ``A_matrix.pt`` (trainer-written files lack ``shift_dim``: 512)."""
        obj = _read(path)
        if "A_matrix" not in obj:
            raise _format_error(f"{path}: no 'A_matrix' entry; not a released direction file")
        return cls._from_released(obj, str(path)).to(device)

    @classmethod
    def _from_released(cls, obj: Dict[str, Any], source: str) -> "DirectionMatrix":
        if not obj.get("w_plus", True):
            raise _format_error(f"{source}: w_plus=False (shifts in W) is not supported")
        state = obj["A_matrix"]
        weight = state.get("linear.weight")
        if weight is None or weight.ndim != 2:
            raise _format_error(f"{source}: 'A_matrix' has no 2-D 'linear.weight'")
        k = int(obj.get("learned_directions", weight.shape[1]))
        style_dim = int(obj.get("shift_dim", 512))
        num_layers = int(obj.get("num_layers_shift", weight.shape[0] // style_dim))
        matrix = cls(k, num_layers, style_dim, float(obj.get("shift_scale", 6.0)), seed=None,
                     config={"source": "released"})
        _load_strict(matrix, {k2[len("linear."):]: v for k2, v in state.items()}, source, module=matrix.linear)
        return matrix


def _write(path: PathLike, payload: Dict[str, Any]) -> Path:
    """``torch.save`` ``payload`` atomically to ``path``."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _format_error(message: str) -> Exception:
    return CheckpointFormatError(message)


def _read(path: PathLike) -> Dict[str, Any]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"direction file not found: {file}")
    obj = read_torch_file(file)
    if not isinstance(obj, dict):
        raise _format_error(f"{file}: not a direction-matrix file")
    return obj


def _load_strict(matrix: DirectionMatrix, state: Dict[str, torch.Tensor], source: str,
                 module: Optional[nn.Module] = None) -> None:
    target = module if module is not None else matrix
    check_state_dict(target.state_dict(), state, source, f"a direction matrix (k={matrix.k}, L={matrix.num_layers})")
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise _format_error(f"{source}: the matrix contains NaN or Inf")
    target.load_state_dict(state)


def spec_from_matrix(matrix: "DirectionMatrix") -> PoseVectorSpec:
    """The pose-vector spec stored with a direction matrix: ``config["layout"]`` (a layout name or
    entry names) and ``config["ranges"]`` ([lo, hi] per entry; ignored for angles)."""
    config = matrix.config
    if "layout" not in config or "ranges" not in config:
        raise ValueError("the direction matrix's config has no 'layout'/'ranges' (e.g. a released A_matrix.pt): "
                         "in a model directory name them in reenactor.json ('layout' and a 'ranges' file), in Python "
                         "pass spec=spec_from_ranges(layout, ranges) to the Reenactor")
    layout = config["layout"]
    names = LAYOUTS.get(layout) if isinstance(layout, str) else tuple(layout)
    if names is None:
        raise ValueError(f"unknown pose-vector layout {layout!r} in the direction matrix's config")
    ranges = list(config["ranges"])
    if len(ranges) != len(names) or len(names) != matrix.k:
        raise ValueError(f"the direction matrix (k={matrix.k}) has {len(ranges)} ranges for the {len(names)} entries "
                         f"of layout {layout!r}")
    rows = [(-ANGLE_SCALES[n], ANGLE_SCALES[n]) if n in ANGLE_SCALES else tuple(map(float, r))
            for n, r in zip(names, ranges)]
    return spec_from_ranges(names, np.asarray(rows, dtype=np.float64), names, shift_scale=matrix.shift_scale)
