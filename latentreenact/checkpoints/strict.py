"""Strict state-dict checking shared by every loader: one error listing every mismatch."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import torch

from .errors import CheckpointFormatError


def summarise(items: Sequence[str], limit: int = 8) -> str:
    """The first ``limit`` items, comma-separated, with a count of the rest."""
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def check_state_dict(expected: Mapping[str, torch.Tensor], state_dict: Mapping[str, torch.Tensor], source: str,
                     model: str, optional: Iterable[str] = ()) -> None:
    """Raise :class:`CheckpointFormatError` unless ``state_dict`` has exactly the keys and shapes of
    ``expected`` and finite floating-point values.

    ``model`` names what was expected (e.g. "the inferred architecture (256 px, style_dim 512)");
    keys in ``optional`` may be absent.
    """
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointFormatError(f"{source}: the weights are a {type(state_dict).__name__}, not a state dict of "
                                    f"tensors for {model}")
    missing = sorted(set(expected) - set(state_dict) - set(optional))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        parts = ([f"missing keys: {summarise(missing)}"] if missing else []) + \
                ([f"unexpected keys: {summarise(unexpected)}"] if unexpected else [])
        raise CheckpointFormatError(f"{source}: weights do not match {model}; " + "; ".join(parts))
    wrong = [f"{k} {tuple(v.shape)} != {tuple(expected[k].shape)}" for k, v in state_dict.items()
             if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise CheckpointFormatError(f"{source}: tensor shapes do not match {model}: {summarise(wrong)}")
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointFormatError(f"{source}: non-finite values (NaN/Inf) in {summarise(bad)}")
