"""The landmark-driven warping baseline (in the spirit of X2Face: move the source's pixels, generate
nothing): the source crop is warped piecewise-affinely so that its 68 landmarks follow the driving
landmarks' motion relative to the driving reference frame.

``piecewise_affine_warp(image, src_points, dst_points)``: a Delaunay triangulation of the
destination points plus fixed anchors on the image border (corners and edge midpoints, which map
to themselves, so the background stays put); each output pixel inside a triangle takes the image
value at the affinely corresponding source position (bilinear). Points are (x, y) pixel
coordinates with pixel centres at integers.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def border_anchors(height: int, width: int) -> np.ndarray:
    """Corners and edge midpoints of an image [8, 2] (x, y), slightly outside the pixel centres."""
    x0, y0, x1, y1 = -0.5, -0.5, width - 0.5, height - 0.5
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([[x0, y0], [xm, y0], [x1, y0], [x1, ym], [x1, y1], [xm, y1], [x0, y1], [x0, ym]], np.float64)


def _check_points(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise ValueError(f"{name} must be [P, 2] with P >= 3, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return points


def bilinear_sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``image`` [H, W, C] sampled at float coordinates (edge pixels repeat outside): [..., C] float64."""
    h, w = image.shape[:2]
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros_like(x, dtype=np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros_like(y, dtype=np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def piecewise_affine_warp(image: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray) -> np.ndarray:
    """Warp ``image`` [H, W, C] so that ``src_points`` land on ``dst_points`` ([P, 2] each, x/y);
    the border anchors stay fixed. Returns the same dtype (uint8 rounded)."""
    from scipy.spatial import Delaunay

    src, dst = _check_points(src_points, "src_points"), _check_points(dst_points, "dst_points")
    if src.shape != dst.shape:
        raise ValueError(f"src_points {src.shape} and dst_points {dst.shape} differ in shape")
    h, w = image.shape[:2]
    anchors = border_anchors(h, w)
    src_all, dst_all = np.concatenate([src, anchors]), np.concatenate([dst, anchors])
    tri = Delaunay(dst_all)
    ys, xs = np.mgrid[0:h, 0:w]
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    simplex = tri.find_simplex(pixels)
    inside = simplex >= 0
    # barycentric coordinates in the destination triangle, applied to the source triangle
    transform = tri.transform[simplex[inside]]
    offset = pixels[inside] - transform[:, 2]
    bary2 = np.einsum("nij,nj->ni", transform[:, :2], offset)
    bary = np.concatenate([bary2, 1.0 - bary2.sum(1, keepdims=True)], axis=1)
    corners = src_all[tri.simplices[simplex[inside]]]  # [n, 3, 2]
    source_xy = np.einsum("ni,nij->nj", bary, corners)
    out = image.astype(np.float64).reshape(h * w, -1).copy()
    out[inside] = bilinear_sample(image, source_xy[:, 0], source_xy[:, 1]).reshape(int(inside.sum()), -1)
    out = out.reshape(image.shape)
    if image.dtype == np.uint8:
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
    return out.astype(image.dtype)


def relative_target(source_points: np.ndarray, reference_points: np.ndarray,
                    driving_points: np.ndarray) -> np.ndarray:
    """Where the source landmarks go: ``source + (driving - reference)`` (the driving motion relative
    to its reference frame, in the shared aligned-crop coordinates)."""
    s = _check_points(source_points, "source_points")
    r = _check_points(reference_points, "reference_points")
    d = _check_points(driving_points, "driving_points")
    if not s.shape == r.shape == d.shape:
        raise ValueError(f"landmark shapes differ: {s.shape}, {r.shape}, {d.shape}")
    return s + (d - r)


def warp_baseline(source: np.ndarray, source_points: np.ndarray, reference_points: np.ndarray,
                  driving_points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The baseline's output for one driving frame and the landmarks it targeted."""
    target = relative_target(source_points, reference_points, driving_points)
    return piecewise_affine_warp(source, source_points, target), target
