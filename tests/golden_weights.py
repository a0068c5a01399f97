"""Rebuild the seeded weights described by a golden manifest (``tests/golden/README.md``, e4e section)."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import Union

import torch


def _init(kind: str, r: torch.Tensor, shape: list) -> torch.Tensor:
    if kind == "fanin_weight":
        return r / math.sqrt(math.prod(shape[1:]))
    if kind == "unit_weight":
        return r
    if kind == "bn_weight":
        return 1 + 0.1 * r
    if kind == "bn_var":
        return 1 + 0.1 * r.abs()
    if kind == "prelu":
        return 0.25 + 0.05 * r
    if kind in ("bias", "bn_bias", "bn_mean"):
        return 0.1 * r
    raise ValueError(f"unknown init kind {kind!r} in the manifest")


def rebuild_from_manifest(manifest_path: Union[str, Path], seed: int) -> "OrderedDict[str, torch.Tensor]":
    """The state_dict of ``manifest_path``'s ``keys`` ([name, shape, kind] in order) drawn with ``seed``.

    One ``torch.Generator().manual_seed(seed)`` walks the keys in order; every key draws
    ``torch.randn(shape)`` except ``bn_count`` (``tensor(0)``, nothing drawn).
    """
    manifest = json.loads(Path(manifest_path).read_text())
    g = torch.Generator().manual_seed(seed)
    state: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for name, shape, kind in manifest["keys"]:
        if kind == "bn_count":
            state[name] = torch.tensor(0)
            continue
        state[name] = _init(kind, torch.randn(shape, generator=g), shape)
    return state
