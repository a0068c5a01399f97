"""The warping baseline against closed forms: identity, a global affine map, bilinear sampling."""

from __future__ import annotations

import numpy as np
import pytest

from latentreenact.evaluation.warp import (bilinear_sample, border_anchors, piecewise_affine_warp,
                                           relative_target, warp_baseline)


def _image(h: int = 40, w: int = 48) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([xs * 3.0, ys * 5.0, xs + ys], axis=2)  # linear in x and y


def test_bilinear_sample_is_exact_on_linear_images() -> None:
    image = _image()
    x, y = np.array([0.0, 3.25, 10.5, 46.9]), np.array([0.0, 7.75, 2.5, 38.1])
    np.testing.assert_allclose(bilinear_sample(image, x, y), np.stack([3 * x, 5 * y, x + y], 1), atol=1e-9)


def test_identity_warp() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    points = rng.uniform(4, 28, (20, 2))
    np.testing.assert_array_equal(piecewise_affine_warp(image, points, points), image)


def test_affine_motion_inside_the_landmark_hull() -> None:
    """With every landmark moved by one affine map M, pixels inside the moved landmarks' convex hull
    (away from the fixed border anchors) take the value at M^-1(pixel): a closed form on a linear image."""
    image = _image()
    grid = np.stack(np.meshgrid(np.linspace(12, 32, 5), np.linspace(10, 28, 5)), -1).reshape(-1, 2)
    a = np.array([[1.05, 0.08], [-0.06, 0.97]])
    t = np.array([1.5, -1.0])
    moved = grid @ a.T + t
    out = piecewise_affine_warp(image, grid, moved)
    inverse = np.linalg.inv(a)
    checked = 0
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            sx, sy = inverse @ (np.array([x, y], float) - t)
            if 12.5 < sx < 31.5 and 10.5 < sy < 27.5:  # strictly inside the source grid
                np.testing.assert_allclose(out[y, x], [3 * sx, 5 * sy, sx + sy], atol=1e-6)
                checked += 1
    assert checked > 200


def test_relative_target_and_baseline() -> None:
    rng = np.random.default_rng(1)
    src, ref = rng.uniform(5, 25, (68, 2)), rng.uniform(5, 25, (68, 2))
    np.testing.assert_allclose(relative_target(src, ref, ref), src)
    np.testing.assert_allclose(relative_target(src, ref, ref + [2.0, -1.0]), src + [2.0, -1.0])
    image = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    out, target = warp_baseline(image, src, ref, ref)
    np.testing.assert_array_equal(out, image)
    assert border_anchors(30, 30).shape == (8, 2)


def test_bad_points() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="NaN"):
        piecewise_affine_warp(image, np.full((5, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="differ"):
        piecewise_affine_warp(image, np.ones((5, 2)), np.ones((6, 2)))
    with pytest.raises(ValueError, match=r"\[P, 2\]"):
        relative_target(np.ones((5, 3)), np.ones((5, 3)), np.ones((5, 3)))
