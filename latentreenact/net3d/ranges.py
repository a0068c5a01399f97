"""Per-entry (min, max) of the pose parameters over generated faces: the ranges file of docs/architecture.md §7.

Samples ``z`` for indices ``0..num-1`` are all drawn from ``seed`` first, so a run's result does
not depend on where it was interrupted. Batches start at multiples of ``batch_size``; a state
file (JSON, written atomically every ``checkpoint_every`` batches) records the running min/max,
counts and the next sample index, and ``resume=True`` continues from it exactly (same batches,
same numbers). Faces the backend cannot find are counted and listed, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from ..fileio import atomic_path
from ..sampling import render, truncation_centre, wplus_from_z
from .base import PoseEstimator
from .pose_vector import save_ranges

__all__ = ["RangeStats", "collect_ranges", "sidecar_path", "state_path", "write_ranges"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
STATE_FORMAT = "latentreenact.stats-state"
STATE_VERSION = 1
SIDECAR_FORMAT = "latentreenact.ranges"


@dataclass
class RangeStats:
    """Running statistics: entry ``names``, ``minimum``/``maximum`` [n] (float64), ``count`` of
    faces measured, ``failed_indices`` (samples without a usable face), ``next_index``."""

    config: Dict[str, Any]
    names: Optional[List[str]] = None
    minimum: Optional[np.ndarray] = None
    maximum: Optional[np.ndarray] = None
    count: int = 0
    failed_indices: List[int] = field(default_factory=list)
    next_index: int = 0

    @property
    def failures(self) -> int:
        """Number of samples without a usable face."""
        return len(self.failed_indices)

    @property
    def done(self) -> bool:
        """True when every sample has been processed."""
        return self.next_index >= int(self.config["num"])

    def ranges(self) -> np.ndarray:
        """float64 [n, 2] of (min, max) per entry."""
        if self.names is None or self.count == 0:
            raise ValueError(f"no face was measured in the {self.next_index} samples processed "
                             f"({self.failures} without a usable face): no ranges")
        return np.stack([self.minimum, self.maximum], axis=1).astype(np.float64)

    def update(self, names: List[str], values: np.ndarray) -> None:
        """Fold rows [k, n] of measured entries into the running min/max."""
        if self.names is None:
            self.names = list(names)
        elif list(names) != self.names:
            raise ValueError(f"the backend's entries changed during the run: {names} vs {self.names}")
        if len(values):
            lo, hi = values.min(axis=0), values.max(axis=0)
            self.minimum = lo if self.minimum is None else np.minimum(self.minimum, lo)
            self.maximum = hi if self.maximum is None else np.maximum(self.maximum, hi)
            self.count += len(values)

    def to_json(self) -> Dict[str, Any]:
        """The state file's content (floats are exact in JSON: ``repr`` round-trips float64)."""
        return {"format": STATE_FORMAT, "format_version": STATE_VERSION, "config": self.config,
                "names": self.names, "count": self.count, "next_index": self.next_index,
                "failed_indices": self.failed_indices,
                "minimum": None if self.minimum is None else [float(v) for v in self.minimum],
                "maximum": None if self.maximum is None else [float(v) for v in self.maximum]}

    @classmethod
    def from_json(cls, data: Dict[str, Any], source: str) -> "RangeStats":
        """Parse a state file's content."""
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"{source}: not a stats state file")
        if data.get("format_version") != STATE_VERSION:
            raise ValueError(f"{source}: state format version {data.get('format_version')} is not supported "
                             f"(this version reads {STATE_VERSION})")
        arr = lambda v: None if v is None else np.asarray(v, dtype=np.float64)  # noqa: E731
        return cls(config=dict(data["config"]), names=data["names"], minimum=arr(data["minimum"]),
                   maximum=arr(data["maximum"]), count=int(data["count"]),
                   failed_indices=[int(i) for i in data["failed_indices"]], next_index=int(data["next_index"]))


def state_path(output: PathLike) -> Path:
    """The resumable state file beside an output: ``ranges.npy`` -> ``ranges.npy.state.json``."""
    output = Path(output)
    return output.with_name(output.name + ".state.json")


def sidecar_path(output: PathLike) -> Path:
    """The description of a ranges file: ``ranges.npy`` -> ``ranges.json``."""
    return Path(output).with_suffix(".json")


def _write_json(path: Path, data: Dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _load_state(path: Path, config: Dict[str, Any]) -> RangeStats:
    try:
        stats = RangeStats.from_json(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable stats state ({exc}); delete it or run without --resume") from exc
    differ = {k: (stats.config.get(k), v) for k, v in config.items() if stats.config.get(k) != v}
    if differ:
        detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise ValueError(f"{path}: cannot resume a different run ({detail}); use the same options or start afresh")
    return stats


def collect_ranges(generator: torch.nn.Module, estimator: PoseEstimator, num: int, seed: int = 0,
                   truncation: float = 0.7, size: Optional[int] = None, batch_size: int = 8,
                   state_file: Optional[PathLike] = None, resume: bool = False, checkpoint_every: int = 1,
                   progress: bool = False, config: Optional[Dict[str, Any]] = None) -> RangeStats:
    """Sample ``num`` faces (seeded, noise ``const``), estimate their pose parameters, keep (min, max).

    ``truncation``: psi around the generator's truncation centre (1 = none); ``size``: render
    size (default: the generator's); ``state_file``: where to checkpoint (None: no checkpoints);
    ``resume``: continue from ``state_file`` (its configuration must match, else ValueError);
    ``config``: extra identifying items stored with the state (e.g. generator and backend names).
    """
    if num < 1 or batch_size < 1 or checkpoint_every < 1:
        raise ValueError("num, batch_size and checkpoint_every must be >= 1")
    size = size or generator.resolution
    run_config = {"num": int(num), "seed": int(seed), "truncation": float(truncation), "size": int(size),
                  "batch_size": int(batch_size), "noise_mode": "const", "backend": estimator.name,
                  **(config or {})}
    path = Path(state_file) if state_file is not None else None
    if resume:
        if path is None:
            raise ValueError("resume needs a state file")
        if not path.is_file():
            raise FileNotFoundError(f"no stats state to resume at {path}; run without --resume first")
        stats = _load_state(path, run_config)
        log.info("resuming at sample %d of %d (%d faces, %d failures)", stats.next_index, num, stats.count,
                 stats.failures)
    else:
        stats = RangeStats(config=run_config)
    z_all = torch.randn(num, generator.style_dim, generator=torch.Generator().manual_seed(seed))
    centre = truncation_centre(generator, seed=seed) if truncation != 1 else None
    batches = 0
    with tqdm(total=num, initial=stats.next_index, unit="img", desc="stats", disable=not progress) as bar:
        while not stats.done:
            start = stats.next_index
            stop = min(start + batch_size, num)
            with torch.inference_mode():
                wplus = wplus_from_z(generator, z_all[start:stop], truncation, centre)
                images = render(generator, wplus, size, "const")
                params = estimator.estimate(images, missing="mask")
            values = params.range_vector().detach().to(torch.float64).cpu().numpy()
            ok = params.found.cpu().numpy() & np.isfinite(values).all(axis=1)
            stats.update(params.range_names(), values[ok])
            stats.failed_indices.extend(start + int(i) for i in np.flatnonzero(~ok))
            stats.next_index = stop
            batches += 1
            bar.update(stop - start)
            bar.set_postfix(faces=stats.count, failed=stats.failures)
            if path is not None and (batches % checkpoint_every == 0 or stats.done):
                _write_json(path, stats.to_json())
    if stats.failures:
        log.warning("%d of %d samples had no usable face", stats.failures, num)
    return stats


def write_ranges(stats: RangeStats, output: PathLike) -> Path:
    """Write ``output`` (float64 [n, 2] .npy) and its sidecar JSON (row names, counts, config)."""
    ranges = stats.ranges()
    flat = [n for n, (lo, hi) in zip(stats.names, ranges) if not hi > lo]
    if flat:
        log.warning("entries %s have max <= min (too few faces?); the ranges cannot rescale them", flat)
    save_ranges(output, ranges)
    _write_json(sidecar_path(output), {
        "format": SIDECAR_FORMAT, "format_version": 1, "file": Path(output).name,
        "rows": stats.names, "columns": ["min", "max"], "units": _units(stats.names),
        "faces": stats.count, "samples": stats.next_index, "failures": stats.failures,
        "failed_indices": stats.failed_indices, **{k: v for k, v in stats.config.items()}})
    return Path(output)


def _units(names: List[str]) -> Dict[str, str]:
    out = {}
    for n in names:
        out[n] = "degrees" if n in ("yaw", "pitch", "roll") else "radians" if n == "jaw" else "coefficient"
    return out
