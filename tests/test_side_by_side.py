"""The side-by-side frame [driving | output] within ``max_side``: the canvas chosen for it and compose's bound."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentreenact.faces import canvas_size
from latentreenact.output_frame import beside_width, compose, side_by_side_cap
from latentreenact.source import Source


def _frame_size(photo_hw, driving_hw, cap):  # type: ignore[no-untyped-def]
    h, w = canvas_size(*photo_hw, cap)
    return h, w + beside_width(h, driving_hw)


def test_canvas_cap_is_the_largest_that_fits() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        photo = tuple(int(v) for v in rng.integers(40, 5000, 2))
        driving = tuple(int(v) for v in rng.integers(40, 4000, 2))
        max_side = int(rng.integers(200, 3000))
        cap = side_by_side_cap(photo, driving, max_side)
        h, w = _frame_size(photo, driving, cap)
        assert max(h, w) <= max_side or cap == 16, (photo, driving, max_side, cap)
        if cap < max(photo):  # one pixel more would not fit
            assert max(_frame_size(photo, driving, cap + 1)) > max_side, (photo, driving, max_side, cap)
    # the closed case: a 4:3 photo beside a 16:9 clip within 1920 px: (4/3 + 16/9) h <= 1920 -> h = 617
    h, w = _frame_size((3024, 4032), (2160, 3840), side_by_side_cap((3024, 4032), (2160, 3840), 1920))
    assert h == 617 and 1917 <= w <= 1920
    assert side_by_side_cap((300, 400), (100, 100), None) is None
    assert side_by_side_cap((300, 400), (100, 100), 10_000) == 400  # small enough: the photo as it is


def _source(image: np.ndarray, transform: np.ndarray = np.eye(3)) -> Source:
    return Source(crop=np.zeros((16, 16, 3), np.uint8), wplus=torch.zeros(1, 2, 4), p=torch.zeros(1, 3),
                  generator=None, transform=transform, image=image)


def test_compose_bounds_both_halves() -> None:
    rng = np.random.default_rng(1)
    face = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    src = _source(np.zeros((64, 64, 3), np.uint8))
    wide = rng.integers(0, 256, (100, 1000, 3), dtype=np.uint8)
    plain = compose(src, face, driving=wide, side_by_side=True)  # no bound: the driving frame at the face's height
    assert plain.shape == (256, 2560 + 256, 3) and np.array_equal(plain[:, 2560:], face)
    bounded = compose(src, face, driving=wide, side_by_side=True, max_side=1000)
    assert bounded.shape[1] <= 1000 and bounded.shape[0] == 1000 * 256 // 2816
    assert compose(src, face, driving=wide, side_by_side=False, max_side=100).shape == face.shape  # face alone: as is
    assert np.array_equal(compose(src, face, driving=wide[:, :100], side_by_side=True, max_side=4000)[:, 256:], face)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(8, 3000, 2))
        frame = compose(src, face, driving=np.zeros((h, w, 3), np.uint8), side_by_side=True, max_side=640)
        assert max(frame.shape[:2]) <= 640 and frame.shape[1] >= 2


@pytest.mark.parametrize("driving_hw", [(2160, 3840), (1920, 1080)])
def test_compose_on_the_chosen_canvas_needs_no_second_resize(driving_hw) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.faces import fit_canvas

    photo = np.zeros((3024, 4032, 3), np.uint8)
    cap = side_by_side_cap(photo.shape[:2], driving_hw, 1920)
    canvas, transform = fit_canvas(photo, np.eye(3)[:2], cap)
    src = _source(canvas, transform)
    frame = compose(src, np.zeros((16, 16, 3), np.uint8), paste_back=True, driving=np.zeros((*driving_hw, 3), np.uint8),
                    side_by_side=True, max_side=1920)
    assert frame.shape[0] == canvas.shape[0] and max(frame.shape[:2]) <= 1920  # the photo kept its canvas height
