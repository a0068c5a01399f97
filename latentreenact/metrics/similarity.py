"""Cosine similarity of identity embeddings (the paper's CSIM)."""

from __future__ import annotations

import numpy as np

from ._checks import finite_array, same_shape


def csim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row cosine similarity [N] of embeddings ``a`` and ``b`` [N, D], in [-1, 1].

    Zero-length rows raise ``ValueError`` (their direction is undefined).
    """
    x = finite_array(a, "a", 2)
    y = finite_array(b, "b", 2)
    same_shape([x, y], ["a", "b"])
    nx = np.linalg.norm(x, axis=1)
    ny = np.linalg.norm(y, axis=1)
    zero = np.flatnonzero((nx == 0) | (ny == 0))
    if zero.size:
        raise ValueError(f"zero embedding vectors in rows {zero[:10].tolist()}; cosine similarity is undefined")
    cos = (x / nx[:, None] * (y / ny[:, None])).sum(axis=1)
    return np.clip(cos, -1.0, 1.0)
