"""Geometric measures on dlib's 68 landmarks (iBUG order), in image pixels.

``eye_opening_68``: the eye aspect ratio (mean lid gap over eye width), both eyes averaged: about 0.29 on
open eyes of generated faces (std 0.05) and near 0.05 when closed.
"""

from __future__ import annotations

import numpy as np

#: per eye: ((upper lid, lower lid), (upper lid, lower lid), (corner, corner))
_EYES = (((37, 41), (38, 40), (36, 39)), ((43, 47), (44, 46), (42, 45)))


def eye_opening_68(landmarks: np.ndarray) -> np.ndarray:
    """Eye aspect ratio of 68 landmarks [..., 68, 2 or 3] -> [...]: (|37-41| + |38-40|) / (2 |36-39|) and the same
    for the other eye, averaged."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[-2] != 68 or points.shape[-1] not in (2, 3):
        raise ValueError(f"expected landmarks [..., 68, 2 or 3], got {points.shape}")

    def dist(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)

    ratios = [(dist(*l1) + dist(*l2)) / (2 * np.maximum(dist(*corners), 1e-9)) for l1, l2, corners in _EYES]
    return (ratios[0] + ratios[1]) / 2
