"""Input checks shared by the metric functions (private)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def finite_array(value: object, name: str, ndim: int, last: Optional[int] = None) -> np.ndarray:
    """``value`` as a float64 array of ``ndim`` dimensions, non-empty and finite.

    ``last``: the required size of the last axis, if any. Raises ``ValueError`` with a message
    naming ``name`` otherwise.
    """
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if last is not None and array.shape[-1] != last:
        raise ValueError(f"{name} must have {last} values in its last axis, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def same_shape(arrays: Sequence[np.ndarray], names: Sequence[str]) -> None:
    """``ValueError`` unless all ``arrays`` have the same shape."""
    shapes = [a.shape for a in arrays]
    if any(s != shapes[0] for s in shapes[1:]):
        listed = ", ".join(f"{n} {s}" for n, s in zip(names, shapes))
        raise ValueError(f"shape mismatch: {listed}")
