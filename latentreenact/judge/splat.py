"""A coloured point cloud drawn into an image with a depth test (numpy only).

Used to calibrate the judge's head rotation against a known rotation: a face's surface, coloured from a
photo, is turned by an exact angle and drawn again (``benchmarks/bench_judge_rotation.py``). Each point
covers a ``footprint`` x ``footprint`` pixel square; where squares overlap, the point nearest the viewer
(largest depth) is drawn.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["splat_points"]


def splat_points(pixels: np.ndarray, depth: np.ndarray, colours: np.ndarray, size: int,
                 background: Sequence[int] = (128, 128, 128), footprint: int = 2) -> np.ndarray:
    """uint8 [size, size, 3] image of points at ``pixels`` [N, 2] (x right, y down, pixel centres at integers)
    with ``depth`` [N] (larger = nearer the viewer) and ``colours`` [N, 3] (0..255); points outside the image
    are left out."""
    pixels = np.asarray(pixels, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    colours = np.asarray(colours)
    n = len(pixels)
    if pixels.shape != (n, 2) or depth.shape != (n,) or colours.shape != (n, 3):
        raise ValueError(f"expected pixels [N, 2], depth [N] and colours [N, 3], got {pixels.shape}, "
                         f"{depth.shape} and {colours.shape}")
    if size < 1 or footprint < 1:
        raise ValueError(f"size and footprint must be >= 1, got {size} and {footprint}")
    if not (np.isfinite(pixels).all() and np.isfinite(depth).all()):
        raise ValueError("pixels and depth must be finite")
    image = np.empty((size, size, 3), np.uint8)
    image[:] = np.asarray(background, dtype=np.uint8)
    order = np.argsort(depth, kind="stable")  # far to near: later writes are nearer
    corner = np.floor(pixels[order] - (footprint - 1) / 2.0 + 0.5).astype(np.int64)
    ordered_colours = colours[order]
    flat_index, flat_colour = [], []
    for dy in range(footprint):
        for dx in range(footprint):
            x, y = corner[:, 0] + dx, corner[:, 1] + dy
            inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            rank = np.nonzero(inside)[0]
            flat_index.append(np.stack([y[inside] * size + x[inside], rank], 1))
            flat_colour.append(ordered_colours[inside])
    index = np.concatenate(flat_index)
    colour = np.concatenate(flat_colour)
    # per pixel, keep the write of the nearest point (highest rank in the far-to-near order)
    pick = np.lexsort((index[:, 1], index[:, 0]))
    index, colour = index[pick], colour[pick]
    last = np.ones(len(index), bool)
    last[:-1] = index[1:, 0] != index[:-1, 0]
    image.reshape(-1, 3)[index[last, 0]] = colour[last]
    return image
