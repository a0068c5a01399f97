"""The inverted-latent file (``latent.pt`` of ``latentreenact invert``): ``{"format":
"latentreenact.latent", "format_version": 1, "wplus": [1, L, D], "metadata": {...}}``, written
atomically, readable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import torch

from latentreenact.fileio import CheckpointFormatError, PathLike, atomic_path, read_torch_file

LATENT_FORMAT = "latentreenact.latent"
LATENT_FORMAT_VERSION = 1

__all__ = ["LATENT_FORMAT", "LATENT_FORMAT_VERSION", "latent_payload", "load_latent", "save_latent"]


def latent_payload(wplus: torch.Tensor, metadata: Mapping[str, Any]) -> Dict[str, Any]:
    """The file's content for ``wplus`` [1, L, D] and its ``metadata``."""
    return {"format": LATENT_FORMAT, "format_version": LATENT_FORMAT_VERSION,
            "wplus": wplus.detach().cpu().clone(), "metadata": dict(metadata)}


def save_latent(path: PathLike, wplus: torch.Tensor, metadata: Mapping[str, Any]) -> Path:
    """Write a latent file atomically."""
    with atomic_path(path) as tmp:
        torch.save(latent_payload(wplus, metadata), tmp)
    return Path(path)


def load_latent(path: PathLike) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """``(wplus, metadata)`` from a latent file (format checked)."""
    obj = read_torch_file(path)
    if not isinstance(obj, dict) or obj.get("format") != LATENT_FORMAT:
        raise CheckpointFormatError(f"{path} is not a latent file (format {LATENT_FORMAT!r})")
    if obj.get("format_version") != LATENT_FORMAT_VERSION:
        raise CheckpointFormatError(f"{path}: latent format version {obj.get('format_version')!r} is not supported")
    return obj["wplus"], dict(obj.get("metadata", {}))
