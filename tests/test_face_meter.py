"""FaceMeter on its own: closed forms of the roll in the frame, and the streamed measurement against per-crop calls."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from latentreenact.driving_landmarks import DrivingMeasurement
from latentreenact.face_meter import MAX_DEFAULT_WORKERS, FaceMeter
from latentreenact.net3d.pose_vector import LAYOUTS, PoseVectorSpec
from latentreenact.video import iter_frames
from tiny_reenactor import FakeEstimator

NAMES = LAYOUTS["bfm"]


def meter(with_landmarks: bool = False, names=NAMES) -> FaceMeter:  # type: ignore[no-untyped-def]
    estimator = FakeEstimator()
    estimator.with_landmarks = with_landmarks
    spec = PoseVectorSpec(tuple(names), {n: (-1.0, 1.0) for n in names if n.startswith("exp_")})
    return FaceMeter(estimator, spec, align_size=32)


def rotation(degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t), 5.0], [math.sin(t), math.cos(t), 7.0], [0, 0, 1.0]])


def crops(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = [rng.integers(40, 255, (32, 32, 3), dtype=np.uint8) for _ in range(n)]
    out[2] = np.zeros((32, 32, 3), np.uint8)  # FakeEstimator: a near-black crop has no face
    return out


def test_frame_roll_subtracts_the_crops_rotation() -> None:
    m = meter()
    p = torch.arange(2 * len(NAMES), dtype=torch.float32).view(2, -1)
    rolled = m.frame_roll(p, [rotation(10.0), rotation(-25.0)])
    column = NAMES.index("roll")
    expected = [float(p[0, column]) - 10.0, float(p[1, column]) + 25.0]
    assert rolled[:, column].tolist() == pytest.approx(expected, abs=1e-4)
    others = [i for i in range(len(NAMES)) if i != column]
    assert torch.equal(rolled[:, others], p[:, others]) and not torch.equal(rolled, p)
    no_roll = meter(names=[n for n in NAMES if n != "roll"])
    q = torch.ones(1, len(NAMES) - 1)
    assert torch.equal(no_roll.frame_roll(q, [rotation(10.0)]), q)


@pytest.mark.parametrize("with_landmarks", [False, True])
def test_streamed_measurement_equals_one_call_per_crop(with_landmarks: bool) -> None:
    m = meter(with_landmarks)
    frames = crops(5)
    whole = m.measure_driving(frames, align=False, batch_size=3)
    assert isinstance(whole, DrivingMeasurement) and whole.found.tolist() == [True, True, False, True, True]
    assert torch.isnan(whole.p[2]).all() and math.isnan(float(whole.eye[2])) and math.isnan(float(whole.mouth[2]))
    for i, frame in enumerate(frames):
        one = m.measure_driving([frame], align=False)
        torch.testing.assert_close(whole.p[i], one.p[0], equal_nan=True)
        torch.testing.assert_close(whole.eye[i], one.eye[0], equal_nan=True)
    p, found = m.pose([frames[0], frames[1]])
    torch.testing.assert_close(p, whole.p[:2])
    assert torch.equal(found, whole.found[:2])
    assert bool(torch.isfinite(whole.eye[[0, 1, 3, 4]]).all()) == with_landmarks


def test_measure_driving_needs_frames_and_a_positive_batch() -> None:
    with pytest.raises(ValueError, match="no driving frames"):
        meter().measure_driving([], align=False)
    with pytest.raises(ValueError, match="batch_size"):
        meter().measure_driving(crops(3), align=False, batch_size=0)


def test_threads_that_detect_and_align_give_the_same_measurement() -> None:
    """The bundled clip's frames (real faces, real detection) measured by 1, 2 and 3 threads: the same bits."""
    clip = Path(__file__).resolve().parents[1] / "latentreenact" / "examples" / "smile.mp4"
    frames = list(iter_frames(clip, 10))
    frames.insert(3, np.zeros_like(frames[0]))  # a frame without a face keeps its place
    m = meter()
    results = []
    for workers in (1, 2, 3):
        m.workers = workers
        assert m.align_workers(True) == workers
        results.append(m.measure_driving(iter(frames), align=True, batch_size=4))
    assert results[0].found.tolist() == [True] * 3 + [False] + [True] * 7
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(torch.nan_to_num(a, 7.0), torch.nan_to_num(b, 7.0))


def test_align_workers_follow_the_detector_and_the_setting() -> None:
    m = meter()
    assert m.align_workers(False) == 1  # only a resize
    assert m.align_workers(True) == min(max(1, torch.get_num_threads()), MAX_DEFAULT_WORKERS)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(MAX_DEFAULT_WORKERS + 8)  # a many-core machine: the default is capped
        assert m.align_workers(True) == MAX_DEFAULT_WORKERS
    finally:
        torch.set_num_threads(threads)
    m.workers = 3
    assert m.align_workers(True) == 3
    m.detector = "mmod"  # one image at a time
    assert m.align_workers(True) == 1
    with pytest.raises(ValueError, match="workers"):
        FaceMeter(FakeEstimator(), m.spec, workers=0)
