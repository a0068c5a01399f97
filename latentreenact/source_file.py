"""Prepared source files: an inverted, tuned and calibrated :class:`~latentreenact.reenact_video.Source` saved once
and loaded again in about a second, instead of preparing the photo again (a minute of tuning on 2 CPU cores).

The file (``torch.save``, read back with tensors and containers only) holds the source's W+, pose vector, crop,
crop->photo transform, photo, name, info, gains and leaks, the tuned generator's tensors that differ from the
reenactor's generator (none when the source was not tuned), and a fingerprint of the models it was prepared with
(generator, direction matrix, pose-vector layout, estimator). Loading checks the format, the fingerprint and every
tensor's shape, and raises :class:`~latentreenact.fileio.CheckpointFormatError` naming the file otherwise.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch

from .fileio import CheckpointFormatError, PathLike, atomic_path, read_format_file, update_with_state
from .latent_controls import LatentControls
from .output_paths import OUTPUT_SUFFIXES
from .source import Source

SOURCE_FORMAT = "latentreenact-source"
SOURCE_FORMAT_VERSION = 1
#: the suffix the command line recognises as a prepared source (``--source face.lrsource``)
SOURCE_SUFFIX = OUTPUT_SUFFIXES["source"][0]

__all__ = ["SOURCE_FORMAT", "SOURCE_FORMAT_VERSION", "SOURCE_SUFFIX", "is_source_file", "load_source",
           "model_fingerprint", "save_source"]


def is_source_file(path: PathLike) -> bool:
    """Whether ``path`` names a prepared source file (by its suffix, :data:`SOURCE_SUFFIX`)."""
    return Path(path).suffix.lower() == SOURCE_SUFFIX


def model_fingerprint(generator: torch.nn.Module, directions: torch.nn.Module, names: Any, estimator: str,
                      controls: Optional[LatentControls] = None) -> str:
    """SHA-256 over the generator's and the direction matrix's tensors (by name), the pose-vector entry names, the
    estimator's name and, when the reenactor has them, its W-space controls (names, layers, directions; the
    source's follower gains are measured with them): what a prepared source is only valid with."""
    digest = hashlib.sha256()
    for label, module in (("generator", generator), ("directions", directions)):
        update_with_state(digest, module, prefix=f"{label}.")
    digest.update(json.dumps([list(names), estimator]).encode())
    if controls is not None:
        digest.update(json.dumps(["controls", list(controls.names), list(controls.layers)]).encode())
        digest.update(controls.directions.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _tuned_tensors(base: torch.nn.Module, generator: Any) -> Optional[Dict[str, torch.Tensor]]:
    """The generator's tensors that differ from ``base``'s (None when it is ``base`` itself)."""
    if generator is base:
        return None
    if type(generator) is not type(base):
        raise ValueError(f"cannot save a source whose generator is a {type(generator).__name__}; the reenactor's "
                         f"is a {type(base).__name__}")
    reference = base.state_dict()
    state = generator.state_dict()
    if set(state) != set(reference):
        raise ValueError("cannot save a source whose generator has other tensors than the reenactor's")
    return {k: v.detach().cpu().clone() for k, v in state.items()
            if v.shape != reference[k].shape or not torch.equal(v.detach().cpu(), reference[k].detach().cpu())}


def save_source(src: Source, path: PathLike, base_generator: torch.nn.Module, fingerprint: str) -> Path:
    """Write ``src`` to ``path`` (atomically: the file appears complete or not at all). ``base_generator``: the
    reenactor's generator, against which a tuned copy is stored as its changed tensors; ``fingerprint``:
    :func:`model_fingerprint` of the reenactor."""
    try:
        info = json.dumps(src.info, default=_plain)
    except TypeError as exc:
        raise ValueError(f"{src.name}: the source's info cannot be saved ({exc})") from exc
    payload = {
        "format": SOURCE_FORMAT, "format_version": SOURCE_FORMAT_VERSION, "fingerprint": fingerprint, "name": src.name,
        "wplus": src.wplus.detach().cpu(), "p": src.p.detach().cpu(),
        "crop": torch.from_numpy(np.array(src.crop, dtype=np.uint8)),
        "image": torch.from_numpy(np.array(src.image, dtype=np.uint8)),
        "transform": torch.from_numpy(np.asarray(src.transform, dtype=np.float64)), "info": info,
        "pose_gains": {k: float(v) for k, v in src.pose_gains.items()},
        "pose_leaks": {a: {e: float(v) for e, v in d.items()} for a, d in src.pose_leaks.items()},
        "generator": _tuned_tensors(base_generator, src.generator),
    }
    final = Path(path)
    with atomic_path(final) as tmp:
        torch.save(payload, tmp)
    return final


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays in a source's info."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _field(data: Mapping[str, Any], key: str, kind: type, path: Path) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise CheckpointFormatError(f"{path}: not a prepared source file ({key!r} is missing or not a "
                                    f"{kind.__name__})")
    return value


def load_source(path: PathLike, base_generator: torch.nn.Module, fingerprint: str,
                device: Optional[torch.device] = None) -> Source:
    """Read a prepared source written by :func:`save_source` for the reenactor whose generator is
    ``base_generator`` and whose :func:`model_fingerprint` is ``fingerprint``. ``FileNotFoundError`` for a missing
    file; :class:`~latentreenact.fileio.CheckpointFormatError` for one that is not a prepared source, of another
    version, prepared with other models, or whose tensors do not fit."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"prepared source not found: {path}")
    data = read_format_file(path, SOURCE_FORMAT, SOURCE_FORMAT_VERSION, "prepared source file")
    if data.get("fingerprint") != fingerprint:
        raise CheckpointFormatError(f"{path}: the source was prepared with other models (generator, direction "
                                    "matrix, pose layout, estimator or W-space controls) than this reenactor's; "
                                    "prepare it again with these models")
    tensors = {key: _field(data, key, torch.Tensor, path) for key in ("wplus", "p", "crop", "image", "transform")}
    for key in ("crop", "image"):
        if tensors[key].dtype != torch.uint8 or tensors[key].ndim != 3 or tensors[key].shape[2] != 3:
            raise CheckpointFormatError(f"{path}: the source's {key} is not a uint8 RGB image")
    if tuple(tensors["transform"].shape) != (3, 3):
        raise CheckpointFormatError(f"{path}: the source's crop->photo transform is not 3x3")
    try:
        info = json.loads(_field(data, "info", str, path))
    except json.JSONDecodeError as exc:
        raise CheckpointFormatError(f"{path}: the source's info is not JSON ({exc})") from exc
    generator = base_generator
    tuned = data.get("generator")
    if tuned is not None:
        if not isinstance(tuned, dict):
            raise CheckpointFormatError(f"{path}: the tuned generator's tensors are not a dict")
        generator = copy.deepcopy(base_generator)
        state = generator.state_dict()
        for key, value in tuned.items():
            if key not in state or not isinstance(value, torch.Tensor) or value.shape != state[key].shape:
                raise CheckpointFormatError(f"{path}: the tuned generator's tensor {key!r} does not fit this "
                                            "reenactor's generator")
        state.update(tuned)
        generator.load_state_dict(state, strict=True)
        generator = generator.to(device or next(base_generator.parameters()).device).eval().requires_grad_(False)
    try:
        src = Source(crop=tensors["crop"].numpy().copy(), wplus=tensors["wplus"].float(), p=tensors["p"].float(),
                     generator=generator, transform=tensors["transform"].numpy().copy(),
                     image=tensors["image"].numpy().copy(), name=str(_field(data, "name", str, path)), info=info,
                     pose_gains={str(k): float(v) for k, v in _field(data, "pose_gains", dict, path).items()},
                     pose_leaks={str(a): {str(e): float(v) for e, v in d.items()}
                                 for a, d in _field(data, "pose_leaks", dict, path).items()})
    except (ValueError, TypeError, AttributeError) as exc:
        raise CheckpointFormatError(f"{path}: the prepared source does not hold a usable source ({exc})") from exc
    return src
