"""68-point landmarks (dlib, iBUG order) and the 5 ArcFace points derived from them."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .dlib_models import dlib_rectangle, shape_predictor
from .image_input import as_rgb_uint8

# iBUG 68-point index ranges (0-based).
LEFT_EYE = slice(36, 42)    # image-left eye (the subject's right eye)
RIGHT_EYE = slice(42, 48)   # image-right eye
NOSE_TIP = 30
MOUTH_LEFT = 48             # image-left mouth corner
MOUTH_RIGHT = 54
MOUTH_OUTER = slice(48, 60)


def landmarks_68(image: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """dlib's 68 landmarks of the face in ``box`` (x0, y0, x1, y1): float32 [68, 2] (x, y) pixels."""
    rgb = as_rgb_uint8(image)
    shape = shape_predictor(68)(rgb, dlib_rectangle(box))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """ArcFace-order 5 points from 68 landmarks: float32 [5, 2] (or [B, 5, 2] for [B, 68, 2]).

    Order (image-left first): left eye centre, right eye centre, nose tip, left mouth corner,
    right mouth corner. Eye centres are the means of the six eye-contour points.
    """
    lm = np.asarray(landmarks68, dtype=np.float32)
    if lm.shape[-2:] != (68, 2):
        raise ValueError(f"expected landmarks [..., 68, 2], got {lm.shape}")
    points = np.stack([lm[..., LEFT_EYE, :].mean(-2), lm[..., RIGHT_EYE, :].mean(-2), lm[..., NOSE_TIP, :],
                       lm[..., MOUTH_LEFT, :], lm[..., MOUTH_RIGHT, :]], axis=-2)
    return points.astype(np.float32)
