"""Geometric measures on dlib's 68 landmarks (iBUG order), in image pixels.

``eye_opening_68``: the eye aspect ratio (mean lid gap over eye width), both eyes averaged: about 0.29 on
open eyes of generated faces (std 0.05) and near 0.05 when closed.
``mouth_opening_68``: the inner-lip gap over the outer-eye-corner distance: about 0.08 on generated faces (std
0.06; closed lips read near 0), 0.2-0.3 wide open. ``mouth_width_68``: the mouth-corner distance over the same.
"""

from __future__ import annotations

import numpy as np

#: per eye: ((upper lid, lower lid), (upper lid, lower lid), (corner, corner))
_EYES = (((37, 41), (38, 40), (36, 39)), ((43, 47), (44, 46), (42, 45)))
#: inner lips, (upper, lower) pairs from one corner to the other
_INNER_LIPS = ((61, 67), (62, 66), (63, 65))
_EYE_OUTER_CORNERS = (36, 45)
_MOUTH_CORNERS = (48, 54)


def _points(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[-2] != 68 or points.shape[-1] not in (2, 3):
        raise ValueError(f"expected landmarks [..., 68, 2 or 3], got {points.shape}")
    return points


def _dist(points: np.ndarray, pair: tuple) -> np.ndarray:
    return np.linalg.norm(points[..., pair[0], :] - points[..., pair[1], :], axis=-1)


def eye_opening_68(landmarks: np.ndarray) -> np.ndarray:
    """Eye aspect ratio of 68 landmarks [..., 68, 2 or 3] -> [...]: (|37-41| + |38-40|) / (2 |36-39|) and the same
    for the other eye, averaged."""
    points = _points(landmarks)
    ratios = [(_dist(points, l1) + _dist(points, l2)) / (2 * np.maximum(_dist(points, corners), 1e-9))
              for l1, l2, corners in _EYES]
    return (ratios[0] + ratios[1]) / 2


def mouth_opening_68(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap of 68 landmarks [..., 68, 2 or 3] -> [...]: the mean of |61-67|, |62-66|, |63-65| over the
    outer-eye-corner distance |36-45| (which the mouth does not move)."""
    points = _points(landmarks)
    gap = sum(_dist(points, pair) for pair in _INNER_LIPS) / len(_INNER_LIPS)
    return gap / np.maximum(_dist(points, _EYE_OUTER_CORNERS), 1e-9)


def mouth_width_68(landmarks: np.ndarray) -> np.ndarray:
    """Mouth-corner distance |48-54| over the outer-eye-corner distance |36-45|: rises with a smile."""
    points = _points(landmarks)
    return _dist(points, _MOUTH_CORNERS) / np.maximum(_dist(points, _EYE_OUTER_CORNERS), 1e-9)
