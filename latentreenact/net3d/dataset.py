"""Pseudo-labelled generator samples for training a Net3D regressor (``bfm-net``).

:func:`build_dataset` draws the ``z`` of samples ``0..n-1`` from ``seed`` up front, renders each
face at ``size`` px with :func:`latentreenact.sampling.render` (for ``mobilestylegan-ffhq`` an
exact area-downsample of the 1024 px image), quantises it to uint8 and labels the *stored* uint8
image with a Net3D backend (default ``bfm-fit``). Samples are dropped and counted by reason:

- ``not_found``: the backend found no usable face (no detection, bad landmarks or a failed fit);
- ``nonfinite``: a label is NaN or infinite;
- ``fit_error``: the landmark-fit error relative to the inter-ocular distance (outer eye
  corners 36 and 45 of the detected landmarks) exceeds ``max_fit_error`` (default 0.05,
  i.e. 5 % of the eye distance: a few px at 256 px; a visibly wrong fit is several times that).

Output folder: ``shard_00000.pt``, ... (``torch.save`` of a dict of tensors, see :data:`FIELDS`;
images uint8 RGB ``[N, 3, S, S]``, channels first) and ``manifest.json``. Shard ``k`` holds the
kept samples of indices ``[k * shard_size, (k + 1) * shard_size)``. Each shard and the manifest
are written atomically, the manifest after every shard, so ``resume=True`` continues an
interrupted run exactly (same files, byte for byte). :class:`Net3DShards` reads the result.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from ..fileio import atomic_path, check_format, file_digest, read_torch_file
from ..images import to_uint8
from ..sampling import render, truncation_centre, wplus_from_z
from .base import PoseEstimator
from .ranges import _write_json
from .registry import get_estimator

__all__ = ["DROP_REASONS", "FIELDS", "MANIFEST_FORMAT", "MANIFEST_NAME", "Net3DShards", "build_dataset",
           "load_manifest", "shard_name", "split_mask", "training_splits"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
MANIFEST_FORMAT = "latentreenact.net3d-dataset"
MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
DROP_REASONS: Tuple[str, ...] = ("not_found", "nonfinite", "fit_error")
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45

#: shard field -> (shape after N, dtype, unit / meaning)
FIELDS: Dict[str, Tuple[str, str, str]] = {
    "images": ("[3, S, S]", "uint8", "RGB pixels, channels first"),
    "index": ("[]", "int64", "sample index (row of the seeded z draw)"),
    "z": ("[style_dim]", "float32", "the generator's input z"),
    "angles": ("[3]", "float32", "yaw, pitch, roll in degrees (docs/architecture.md §6)"),
    "identity": ("[40]", "float32", "BFM identity coefficients (model units)"),
    "expression": ("[10]", "float32", "BFM expression coefficients (model units)"),
    "landmarks": ("[68, 2]", "float32", "fitted model landmarks, px of the S px image (x right, y down)"),
    "detected_landmarks": ("[68, 2]", "float32", "dlib landmarks, px of the S px image"),
    "scale": ("[]", "float32", "weak-perspective scale, px per BFM unit"),
    "translation": ("[2]", "float32", "weak-perspective translation, px"),
    "fit_error": ("[]", "float32", "mean landmark fit error, px"),
    "fit_error_iod": ("[]", "float32", "fit_error / inter-ocular distance (outer eye corners)"),
}
LABELS: Tuple[str, ...] = tuple(k for k in FIELDS if k not in ("images", "z"))


def shard_name(k: int) -> str:
    """File name of shard ``k``: ``shard_00000.pt``."""
    return f"shard_{k:05d}.pt"


def write_shard(out_dir: PathLike, k: int, shard: Mapping[str, torch.Tensor], start: int, stop: int,
                dropped: Dict[str, List[int]]) -> Dict[str, Any]:
    """Write shard ``k`` (samples ``start``..``stop``, ``FIELDS`` columns) atomically; return its manifest
    entry (file, start, stop, count, sha256 of the bytes, dropped sample indices by reason)."""
    path = Path(out_dir) / shard_name(k)
    buffer = io.BytesIO()  # not torch.save(path): the zip records the (random) temporary file name
    torch.save(shard, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return {"file": path.name, "start": start, "stop": stop, "count": int(shard["index"].shape[0]),
            "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(), "dropped": dropped}


def _sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def load_manifest(out_dir: PathLike) -> Dict[str, Any]:
    """Read and check ``out_dir/manifest.json`` (ValueError when it is not a dataset manifest)."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no dataset manifest at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable manifest ({exc})") from exc
    return check_format(data, path, MANIFEST_FORMAT, MANIFEST_VERSION, "Net3D dataset manifest", error=ValueError)


def _new_manifest(config: Dict[str, Any]) -> Dict[str, Any]:
    return {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "config": config,
            "n_requested": config["n"], "n_processed": 0, "n_kept": 0, "complete": False,
            "dropped": {r: 0 for r in DROP_REASONS},
            "drop_rule": {"not_found": "the backend found no usable face or the fit failed",
                          "nonfinite": "a label is NaN or infinite",
                          "fit_error": f"fit_error / inter-ocular distance > {config['max_fit_error']}"},
            "image_layout": "uint8 RGB [N, 3, S, S] (channels first); model input: x / 127.5 - 1",
            "fields": {k: {"shape": s, "dtype": d, "unit": u} for k, (s, d, u) in FIELDS.items()},
            "shards": [], "timing": {"seconds": 0.0, "render_seconds": 0.0, "label_seconds": 0.0,
                                     "images_per_s": None}}


def _resume_manifest(out_dir: Path, config: Dict[str, Any]) -> Dict[str, Any]:
    manifest = load_manifest(out_dir)
    saved = manifest.get("config", {})
    differ = {k: (saved.get(k), v) for k, v in config.items() if saved.get(k) != v}
    if differ:
        detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise ValueError(f"{out_dir}: cannot resume a different run ({detail}); use the same options or start afresh")
    for entry in manifest["shards"]:
        path = out_dir / entry["file"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise ValueError(f"{path}: missing or changed since it was written (sha256 mismatch); start afresh")
    return manifest


def _inter_ocular(points: torch.Tensor) -> torch.Tensor:
    return (points[:, LEFT_EYE_OUTER] - points[:, RIGHT_EYE_OUTER]).norm(dim=-1)


def _label(estimator: PoseEstimator, images: np.ndarray, max_fit_error: float
           ) -> Tuple[Dict[str, torch.Tensor], np.ndarray, List[str]]:
    """Labels of uint8 [B, S, S, 3] images: (fields, keep mask, reason per row or '')."""
    params = estimator.estimate(list(images), missing="mask")
    batch = len(images)
    if params.identity is None:
        raise ValueError(f"backend {estimator.name!r} measures no identity coefficients; it cannot label this dataset")
    nan = lambda *shape: torch.full((batch, *shape), float("nan"))  # noqa: E731
    cpu = lambda t, *shape: nan(*shape) if t is None else t.detach().float().cpu().reshape(batch, *shape)  # noqa: E731
    extras = params.extras
    fields = {"angles": cpu(params.angles, 3), "identity": cpu(params.identity, -1),
              "expression": cpu(params.expression, -1), "landmarks": cpu(params.landmarks, 68, 2),
              "detected_landmarks": cpu(extras.get("detected_landmarks", params.landmarks), 68, 2),
              "scale": cpu(extras.get("scale"), ), "translation": cpu(extras.get("translation"), 2),
              "fit_error": cpu(extras.get("fit_error"), )}
    fields["fit_error_iod"] = fields["fit_error"] / _inter_ocular(fields["detected_landmarks"])
    found = params.found.detach().cpu().numpy().astype(bool)
    finite = np.ones(batch, dtype=bool)
    for value in fields.values():
        finite &= torch.isfinite(value.reshape(batch, -1)).all(dim=1).numpy()
    reasons = []
    for i in range(batch):
        if not found[i]:
            reasons.append("not_found")
        elif not finite[i]:
            reasons.append("nonfinite")
        elif float(fields["fit_error_iod"][i]) > max_fit_error:
            reasons.append("fit_error")
        else:
            reasons.append("")
    keep = np.array([r == "" for r in reasons], dtype=bool)
    return fields, keep, reasons


def _empty_shard(style_dim: int, size: int) -> Dict[str, torch.Tensor]:
    return {"images": torch.zeros(0, 3, size, size, dtype=torch.uint8), "index": torch.zeros(0, dtype=torch.int64),
            "z": torch.zeros(0, style_dim)}


def build_dataset(generator: torch.nn.Module, out_dir: PathLike, n: int, seed: int = 0, size: int = 256,
                  truncation: float = 0.7, shard_size: int = 256, max_fit_error: float = 0.05,
                  progress: bool = False, resume: bool = False, estimator: Optional[PoseEstimator] = None,
                  batch_size: int = 8, config: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Render ``n`` seeded faces, label them with ``estimator`` (default ``bfm-fit``), write shards.

    ``truncation``: psi around the generator's truncation centre (1 = none); ``size``: render
    size (exact area-downsample unless the generator renders that size natively);
    ``max_fit_error``: drop faces whose fit error exceeds this fraction of the inter-ocular
    distance; ``batch_size``: faces rendered and labelled together (batches start at shard
    boundaries); ``resume``: continue the run recorded in ``out_dir/manifest.json`` (its
    configuration must match, else ValueError); ``config``: extra identifying items stored in
    the manifest (e.g. ``{"generator": "mobilestylegan-ffhq"}``). Returns the final manifest.
    """
    _check_build_args(generator, n, size, shard_size, batch_size, max_fit_error)
    if estimator is None:
        estimator = get_estimator("bfm-fit")
    out = Path(out_dir)
    run_config = {"n": int(n), "seed": int(seed), "size": int(size), "truncation": float(truncation),
                  "shard_size": int(shard_size), "batch_size": int(batch_size),
                  "max_fit_error": float(max_fit_error), "noise_mode": "const", "backend": estimator.name,
                  "style_dim": int(generator.style_dim), **(config or {})}
    manifest_path = out / MANIFEST_NAME
    manifest = _open_manifest(out, run_config, resume, n)
    z_all = torch.randn(n, generator.style_dim, generator=torch.Generator().manual_seed(seed))
    centre = truncation_centre(generator, seed=seed) if truncation != 1 else None
    timing = manifest["timing"]
    with tqdm(total=n, initial=manifest["n_processed"], unit="img", desc="net3d dataset",
              disable=not progress) as bar:
        while manifest["n_processed"] < n:
            k = len(manifest["shards"])
            start, stop = k * shard_size, min((k + 1) * shard_size, n)
            parts: List[Dict[str, torch.Tensor]] = []
            dropped: Dict[str, List[int]] = {r: [] for r in DROP_REASONS}
            t_shard = time.perf_counter()
            for b0 in range(start, stop, batch_size):
                b1 = min(b0 + batch_size, stop)
                parts.append(_labelled_batch(generator, estimator, z_all, b0, b1, size, truncation, centre,
                                             max_fit_error, timing, dropped))
                bar.update(b1 - b0)
            shard = {name: torch.cat([p[name] for p in parts]) for name in parts[0]}
            entry = write_shard(out, k, shard, start, stop, dropped)
            _record_shard(manifest, entry, stop, n, dropped, time.perf_counter() - t_shard)
            _write_json(manifest_path, manifest)
            bar.set_postfix(kept=manifest["n_kept"], dropped=sum(manifest["dropped"].values()))
    if manifest["n_kept"] < n:
        log.warning("kept %d of %d samples (dropped: %s)", manifest["n_kept"], n, manifest["dropped"])
    return manifest


def _check_build_args(generator: torch.nn.Module, n: int, size: int, shard_size: int, batch_size: int,
                      max_fit_error: float) -> None:
    """ValueError for settings :func:`build_dataset` cannot run with."""
    if n < 1 or shard_size < 1 or batch_size < 1:
        raise ValueError("n, shard_size and batch_size must be >= 1")
    if not max_fit_error > 0:
        raise ValueError(f"max_fit_error must be > 0, got {max_fit_error}")
    if size > generator.resolution or size < 8:
        raise ValueError(f"size must be in [8, {generator.resolution}] (the generator's resolution), got {size}")


def _open_manifest(out: Path, run_config: Dict[str, Any], resume: bool, n: int) -> Dict[str, Any]:
    """The manifest of the run to resume in ``out``, or a new one (ValueError if ``out`` holds a dataset)."""
    if resume:
        manifest = _resume_manifest(out, run_config)
        log.info("resuming at sample %d of %d", manifest["n_processed"], n)
        return manifest
    if (out / MANIFEST_NAME).exists():
        raise ValueError(f"{out} already holds a dataset ({MANIFEST_NAME}); resume it or use another folder")
    return _new_manifest(run_config)


def _labelled_batch(generator: torch.nn.Module, estimator: PoseEstimator, z_all: torch.Tensor, b0: int, b1: int,
                    size: int, truncation: float, centre: Optional[torch.Tensor], max_fit_error: float,
                    timing: Dict[str, Any], dropped: Dict[str, List[int]]) -> Dict[str, torch.Tensor]:
    """Render and label samples ``b0:b1``: the kept rows of a shard; adds to ``timing`` and ``dropped``."""
    t0 = time.perf_counter()
    z = z_all[b0:b1]
    with torch.inference_mode():
        images = to_uint8(render(generator, wplus_from_z(generator, z, truncation, centre), size, "const"))
    t1 = time.perf_counter()
    fields, keep, reasons = _label(estimator, images, max_fit_error)
    timing["render_seconds"] += t1 - t0
    timing["label_seconds"] += time.perf_counter() - t1
    for i, reason in enumerate(reasons):
        if reason:
            dropped[reason].append(b0 + i)
    sel = torch.from_numpy(np.flatnonzero(keep))
    part = {"images": torch.from_numpy(images).permute(0, 3, 1, 2)[sel].contiguous(),
            "index": torch.arange(b0, b1, dtype=torch.int64)[sel], "z": z[sel].float()}
    part.update({name: value[sel].contiguous() for name, value in fields.items()})
    return part


def _record_shard(manifest: Dict[str, Any], entry: Dict[str, Any], stop: int, n: int,
                  dropped: Dict[str, List[int]], seconds: float) -> None:
    """Add a written shard's entry, counts and time to ``manifest``."""
    manifest["shards"].append(entry)
    manifest["n_processed"] = stop
    manifest["n_kept"] += entry["count"]
    for reason, rows in dropped.items():
        manifest["dropped"][reason] += len(rows)
    manifest["complete"] = stop >= n
    timing = manifest["timing"]
    timing["seconds"] += seconds
    timing["images_per_s"] = manifest["n_processed"] / timing["seconds"] if timing["seconds"] > 0 else None


def split_mask(index: np.ndarray, val_fraction: float, seed: int = 0) -> np.ndarray:
    """True where sample ``index`` belongs to the validation split: a splitmix64 hash of
    (seed, index) mapped to [0, 1) compared with ``val_fraction``; independent of n and order."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    with np.errstate(over="ignore"):
        x = np.asarray(index, dtype=np.uint64) + np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53) < val_fraction


class Net3DShards(torch.utils.data.Dataset):
    """A dataset written by :func:`build_dataset`, read lazily (one shard memory-mapped at a time).

    ``split``: ``"train"``, ``"val"`` or ``"all"``; the split is deterministic per sample index
    (:func:`split_mask`). Items: (image float32 [3, S, S] in [-1, 1], dict of label tensors
    named as in :data:`FIELDS`, without ``images`` and ``z``).
    """

    def __init__(self, out_dir: PathLike, split: str = "train", val_fraction: float = 0.1, seed: int = 0) -> None:
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
        self.root = Path(out_dir)
        self.manifest = load_manifest(self.root)
        if not self.manifest["complete"]:
            log.warning("%s: incomplete dataset (%d of %d samples processed)", self.root,
                        self.manifest["n_processed"], self.manifest["n_requested"])
        shard_ids, rows, indices = [], [], []
        for k, entry in enumerate(self.manifest["shards"]):
            gone = {i for ids in entry["dropped"].values() for i in ids}
            kept = [i for i in range(entry["start"], entry["stop"]) if i not in gone]
            if len(kept) != entry["count"]:
                raise ValueError(f"{self.root / entry['file']}: manifest counts disagree")
            shard_ids += [k] * len(kept)
            rows += list(range(len(kept)))
            indices += kept
        index = np.asarray(indices, dtype=np.int64)
        pick = np.ones(len(index), dtype=bool) if split == "all" else split_mask(index, val_fraction, seed)
        if split == "train":
            pick = ~pick
        self.indices = index[pick]
        self._shard = np.asarray(shard_ids, dtype=np.int64)[pick]
        self._row = np.asarray(rows, dtype=np.int64)[pick]
        self._cache: Tuple[int, Optional[Dict[str, torch.Tensor]]] = (-1, None)

    def __len__(self) -> int:
        return int(len(self.indices))

    def _load(self, k: int) -> Dict[str, torch.Tensor]:
        if self._cache[0] != k:
            path = self.root / self.manifest["shards"][k]["file"]
            self._cache = (k, read_torch_file(path, mmap=True))
        return self._cache[1]

    def __getitem__(self, item: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} out of range for {len(self)} samples")
        shard = self._load(int(self._shard[item]))
        row = int(self._row[item])
        image = shard["images"][row].float() / 127.5 - 1.0
        return image, {name: shard[name][row].clone() for name in LABELS}


def training_splits(data_dir: PathLike, batch_size: int, val_fraction: float = 0.1,
                    seed: int = 0) -> Tuple["Net3DShards", "Net3DShards"]:
    """A trainer's train and validation splits of a dataset folder, checked: at least one batch of
    training samples and a non-empty validation split."""
    train_set = Net3DShards(data_dir, "train", val_fraction=val_fraction, seed=seed)
    val_set = Net3DShards(data_dir, "val", val_fraction=val_fraction, seed=seed)
    if len(train_set) < batch_size:
        raise ValueError(f"{data_dir}: {len(train_set)} training samples, fewer than one batch of {batch_size}")
    if len(val_set) == 0:
        raise ValueError(f"{data_dir}: the validation split is empty (--val-fraction {val_fraction:g}, "
                         f"{len(train_set)} training samples); use more data or a larger --val-fraction")
    return train_set, val_set


class ShardReader:
    """Batches of a :class:`Net3DShards` split by row number, all shards memory-mapped at once.

    ``keys``: the fields returned besides the uint8 images (as float32, except ``z`` and ``index``
    which keep their dtype).
    """

    def __init__(self, shards: Net3DShards, keys: Sequence[str] = ("angles", "identity", "expression", "landmarks")
                 ) -> None:
        self.ds = shards
        self.keys = tuple(keys)
        self._open: Dict[int, Dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.ds)

    def _shard(self, k: int) -> Dict[str, torch.Tensor]:
        if k not in self._open:
            path = self.ds.root / self.ds.manifest["shards"][k]["file"]
            self._open[k] = read_torch_file(path, mmap=True)
        return self._open[k]

    def _value(self, shard: Mapping[str, torch.Tensor], key: str, row: int) -> torch.Tensor:
        value = shard[key][row]
        return value if key in ("z", "index") else value.float()

    def batch(self, items: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """uint8 images [B, 3, S, S] and the ``keys`` tensors of the split's rows ``items``."""
        images, labels = [], {k: [] for k in self.keys}
        for item in items.tolist():
            shard = self._shard(int(self.ds._shard[item]))
            row = int(self.ds._row[item])
            images.append(shard["images"][row])
            for key in self.keys:
                labels[key].append(self._value(shard, key, row))
        return torch.stack(images), {k: torch.stack(v) for k, v in labels.items()}

    def column(self, key: str) -> torch.Tensor:
        """One field of every row of the split, in order."""
        return torch.stack([self._value(self._shard(int(k)), key, int(r)) for k, r in zip(self.ds._shard, self.ds._row)])
