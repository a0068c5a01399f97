"""The frames that eval motion lays out to look at (latentreenact.evaluation.frame_sheet)."""

import numpy as np
import pytest
from PIL import Image

from latentreenact.evaluation.frame_sheet import FrameKeeper, sample_indices, write_frame_sheet


def test_sample_indices_are_evenly_spaced_with_both_ends() -> None:
    assert sample_indices(72) == [0, 14, 28, 43, 57, 71]
    assert sample_indices(3) == [0, 1, 2] and sample_indices(1) == [0] and sample_indices(0) == []
    assert sample_indices(10, count=2) == [0, 9]


def test_keeper_passes_frames_through_and_keeps_copies() -> None:
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(5)]
    keeper = FrameKeeper(iter(frames), [1, 3])
    out = list(keeper)
    assert all(a is b for a, b in zip(out, frames))  # unchanged, in order
    assert sorted(keeper.kept) == [1, 3] and int(keeper.kept[3][0, 0, 0]) == 3
    frames[3][:] = 99  # a copy: the caller may reuse its buffers
    assert int(keeper.kept[3][0, 0, 0]) == 3


def test_sheet_puts_each_output_under_its_driving_frame(tmp_path) -> None:
    """Closed form: flat colours, a wide driving frame (its centre square is shown) and a square output."""
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(3, 2, 3))
    samples = []
    for i, (cd, co) in enumerate(colours):
        driving = np.zeros((60, 100, 3), np.uint8)
        driving[:, 20:80] = cd  # the centre square; the sides (cropped away) stay black
        samples.append((i * 10, driving, np.full((50, 50, 3), co, np.uint8)))
    path = write_frame_sheet(samples, tmp_path / "sheet.jpg", tile=64)
    sheet = np.asarray(Image.open(path)).astype(int)
    assert sheet.shape == (128, 3 * 64, 3)
    for i, (cd, co) in enumerate(colours):
        top = sheet[32:60, i * 64 + 4:i * 64 + 60]  # below the frame-number label
        bottom = sheet[68:124, i * 64 + 4:i * 64 + 60]
        assert np.abs(top - cd).max() < 12 and np.abs(bottom - co).max() < 12
    label = sheet[2:8, 2:30]  # the label: white text on black
    assert label.max() > 200 and label.min() < 60
    with pytest.raises(ValueError):
        write_frame_sheet([], tmp_path / "empty.jpg")


def test_keeper_shrinks_large_frames_to_max_side() -> None:
    big, small = np.zeros((720, 1280, 3), np.uint8), np.zeros((100, 80, 3), np.uint8)
    keeper = FrameKeeper([big, small], [0, 1], max_side=320)
    assert [f.shape for f in keeper] == [big.shape, small.shape]  # passed through as they are
    assert keeper.kept[0].shape == (180, 320, 3) and keeper.kept[1].shape == (100, 80, 3)
