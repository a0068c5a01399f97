"""Skin tone and texture at landmark points (latentreenact.faces.skin, latentreenact.judge.skin): closed forms on
drawn images."""

from __future__ import annotations

import numpy as np
import pytest

from latentreenact.faces.skin import SKIN_REGIONS_68, patch_pixels, skin_points_68, skin_regions_68, skin_tone
from latentreenact.judge import SKIN_MESH_POINTS, skin_reading


def test_uniform_colour_reads_its_luma_and_chroma() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:] = (100, 150, 200)
    luma, cb, cr, std = skin_tone(image, np.array([[20.0, 20.0], [40.0, 30.0]]), radius=2)
    assert luma == pytest.approx(0.299 * 100 + 0.587 * 150 + 0.114 * 200)
    assert cb == pytest.approx(0.564 * (200 - luma))
    assert cr == pytest.approx(0.713 * (100 - luma))
    assert std == pytest.approx(0.0)


def test_texture_is_the_luma_std_over_all_patch_pixels() -> None:
    """A grey checkerboard of 90 and 110 has luma std 10; a patch on a flat area and one on the board mix."""
    image = np.full((32, 32, 3), 100, np.uint8)
    board = (np.add.outer(np.arange(16), np.arange(16)) % 2 * 20 + 90).astype(np.uint8)
    image[:16, :16] = board[..., None]
    assert skin_tone(image, np.array([[7.0, 7.0]]), radius=3)[3] == pytest.approx(10.0, rel=0.02)
    mixed = skin_tone(image, np.array([[7.0, 7.0], [24.0, 24.0]]), radius=3)
    assert mixed[0] == pytest.approx(np.mean(np.r_[board[4:11, 4:11].ravel(), np.full(49, 100)]))
    assert mixed[3] == pytest.approx(np.std(np.r_[board[4:11, 4:11].ravel(), np.full(49, 100)].astype(float)))


def test_patches_are_clipped_at_the_border_and_outside_points_give_nothing() -> None:
    image = np.arange(10 * 10 * 3, dtype=np.uint8).reshape(10, 10, 3)
    assert patch_pixels(image, np.array([[0.0, 0.0]]), 1).shape == (4, 3)  # a 3x3 patch, a 2x2 part inside
    assert patch_pixels(image, np.array([[4.4, 5.6]]), 0)[0].tolist() == image[6, 4].tolist()  # rounded (x, y)
    assert patch_pixels(image, np.array([[50.0, 50.0]]), 2).shape == (0, 3)
    assert np.isnan(skin_tone(image, np.array([[-9.0, 3.0]]), 2)).all()
    with pytest.raises(ValueError, match="radius"):
        patch_pixels(image, np.zeros((1, 2)), -1)
    with pytest.raises(ValueError, match="RGB"):
        skin_tone(image[..., :2], np.zeros((1, 2)))


def test_skin_points_68_are_the_blends() -> None:
    landmarks = np.random.default_rng(0).uniform(0, 256, (2, 68, 2))
    blends = SKIN_REGIONS_68["forehead"]
    points = skin_points_68(landmarks, "forehead")
    assert points.shape == (2, len(blends), 2)
    a, b, t = blends[1]
    np.testing.assert_allclose(points[1, 1], (1 - t) * landmarks[1, a] + t * landmarks[1, b])
    with pytest.raises(ValueError, match="68"):
        skin_points_68(np.zeros((67, 2)))
    with pytest.raises(ValueError, match="region"):
        skin_points_68(landmarks, "ear")


def test_skin_regions_read_each_region_alone() -> None:
    """Each region's points sit on their own colour: every region reads its colour's luma."""
    landmarks = np.random.default_rng(1).uniform(20, 236, (68, 2))
    image = np.zeros((256, 256, 3), np.uint8)
    expected = []
    for k, region in enumerate(SKIN_REGIONS_68):
        grey = 40 + 30 * k
        for x, y in np.rint(skin_points_68(landmarks, region)).astype(int):
            image[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = grey
        expected.append(grey)
    readings = skin_regions_68(image, landmarks, radius=0)
    assert readings.shape == (len(SKIN_REGIONS_68), 4)
    # a point of one region can land on another's square only if two points round to within a pixel: not here
    np.testing.assert_allclose(readings[:, 0], expected, atol=1e-9)


def test_judge_reads_the_skin_at_its_mesh_points() -> None:
    """Only the named mesh points count: a bright square under every other point leaves the reading alone."""
    image = np.full((100, 100, 3), 80, np.uint8)
    mesh = np.zeros((478, 3))
    mesh[:, :2] = 90.0  # every point in the bright corner ...
    image[85:, 85:] = 250
    mesh[list(SKIN_MESH_POINTS), :2] = 20.0  # ... but the skin points
    np.testing.assert_allclose(skin_reading(image, mesh, radius=2), [80.0, 0.0, 0.0, 0.0], atol=1e-9)
