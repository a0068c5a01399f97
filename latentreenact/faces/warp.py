"""Affine resampling of uint8 RGB images and float masks with PIL (bilinear)."""

from __future__ import annotations

from typing import Tuple

import numpy as np
from PIL import Image


def warp_affine(array: np.ndarray, out_to_in: np.ndarray, out_hw: Tuple[int, int]) -> np.ndarray:
    """Sample ``array`` at ``out_to_in @ [u, v, 1]`` for every output pixel (u, v); black/0 outside.

    ``array``: uint8 [H, W, 3] or float32 [H, W]; ``out_to_in``: 3x3 or 2x3 in pixel-index
    coordinates. Returns an array of the same kind with shape ``out_hw`` (+ channels).
    """
    t = np.asarray(out_to_in, dtype=np.float64)
    a = t[:2, :2]
    b = t[:2, 2] - a @ np.array([0.5, 0.5]) + 0.5  # PIL works in continuous coordinates
    data = (a[0, 0], a[0, 1], b[0], a[1, 0], a[1, 1], b[1])
    if array.ndim == 3:
        img = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), mode="RGB")
    else:
        img = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32), mode="F")
    return np.array(img.transform((int(out_hw[1]), int(out_hw[0])), Image.AFFINE, data, Image.BILINEAR))
