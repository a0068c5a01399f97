"""Normalised mean landmark error (NME), normalised by the square root of the face box area."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._checks import finite_array, same_shape


def box_area_norm(boxes: np.ndarray) -> np.ndarray:
    """``sqrt((x1 - x0) * (y1 - y0))`` [N] of boxes [N, 4] given as (x0, y0, x1, y1)."""
    b = finite_array(boxes, "boxes", 2, last=4)
    width = b[:, 2] - b[:, 0]
    height = b[:, 3] - b[:, 1]
    bad = np.flatnonzero((width <= 0) | (height <= 0))
    if bad.size:
        raise ValueError(f"boxes must have x1 > x0 and y1 > y0 (positive area); rows {bad[:10].tolist()} do not")
    return np.sqrt(width * height)


def tight_boxes(landmarks: np.ndarray) -> np.ndarray:
    """Tight bounding boxes [N, 4] (x0, y0, x1, y1) of landmarks [N, P, 2]."""
    points = finite_array(landmarks, "landmarks", 3, last=2)
    return np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1)


def nme(pred: np.ndarray, target: np.ndarray, boxes: Optional[np.ndarray] = None,
        scale: float = 1e3) -> np.ndarray:
    """Per-sample NME [N] of landmarks ``pred`` against ``target`` [N, P, 2], times ``scale``.

    The mean over points of the Euclidean point error, divided by the square root of the
    ground-truth box area (``boxes`` [N, 4] as (x0, y0, x1, y1); default: the tight box of
    ``target``). The default ``scale`` 1e3 gives the paper's NME x 10^3.
    """
    p = finite_array(pred, "pred", 3, last=2)
    t = finite_array(target, "target", 3, last=2)
    same_shape([p, t], ["pred", "target"])
    if boxes is None:
        boxes = tight_boxes(t)
    norm = box_area_norm(boxes)
    if norm.shape[0] != t.shape[0]:
        raise ValueError(f"boxes must have one row per sample ({t.shape[0]}), got {norm.shape[0]}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale}")
    error = np.linalg.norm(p - t, axis=2).mean(axis=1)
    return error / norm * scale
