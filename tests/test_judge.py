"""The independent judge (latentreenact.judge): closed forms without MediaPipe, and the helper process's errors."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from latentreenact.faces import NoFaceError
from latentreenact.judge import (RIGID, FaceJudge, FaceMeshClient, JudgeNoFaceError, JudgeUnavailableError,
                                 JudgeWorkerError,
                                 euler_from_rotation, gain, judge_python, mirror_points, model_frame, motion_series,
                                 mouth_opening, mouth_width, pearson, procrustes, relative_pose, rotation_from_euler)
from latentreenact.judge.mesh import JUDGE_PYTHON_ENV

RNG = np.random.default_rng(0)


def face_points(n: int = 478) -> np.ndarray:
    """A random head-sized point cloud in the model frame (x right, y up, z towards the viewer)."""
    return RNG.normal(size=(n, 3)) * np.array([60.0, 80.0, 40.0])


def to_image(points: np.ndarray) -> np.ndarray:
    """Model frame -> image coordinates (the frame the mesh is in): y and z flipped, shifted into the image."""
    return model_frame(points) + np.array([128.0, 128.0, 0.0])


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (20.0, -10.0, 5.0), (-35.0, 25.0, -40.0), (3.0, 0.5, -1.0)])
def test_euler_round_trip(angles):
    yaw, pitch, roll = angles
    rotation = rotation_from_euler(yaw, pitch, roll)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(euler_from_rotation(rotation), angles, atol=1e-9)


def test_design_signs():
    """docs/architecture.md §6: positive yaw moves the nose (towards the viewer, +z) to the image's left, positive pitch moves it
    down, positive roll turns the top of the head (+y) to the image's left."""
    nose, top = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    assert (rotation_from_euler(10, 0, 0) @ nose)[0] < 0
    assert (rotation_from_euler(0, 10, 0) @ nose)[1] < 0
    assert (rotation_from_euler(0, 0, 10) @ top)[0] < 0


def test_procrustes_recovers_a_known_similarity():
    points = face_points(100)
    rotation = rotation_from_euler(17.0, -8.0, 31.0)
    moved = 1.7 * points @ rotation.T + np.array([5.0, -3.0, 2.0])
    scale, r, t = procrustes(points, moved)
    assert scale == pytest.approx(1.7, rel=1e-10)
    np.testing.assert_allclose(r, rotation, atol=1e-10)
    np.testing.assert_allclose(t, [5.0, -3.0, 2.0], atol=1e-8)
    np.testing.assert_allclose(euler_from_rotation(r), (17.0, -8.0, 31.0), atol=1e-8)


def test_procrustes_returns_a_rotation_for_a_reflection():
    points = face_points(50)
    _, r, _ = procrustes(points, mirror_points(points))
    assert np.linalg.det(r) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        procrustes(points[:2], points[:2])


def test_relative_pose_of_a_rotated_mesh():
    """A known rotation of a 3D point set in the model frame, seen as image-coordinate meshes, is recovered."""
    points = face_points()
    mesh = to_image(points)
    rotated = to_image(0.8 * points @ rotation_from_euler(12.0, -7.0, 4.0).T)
    pitch, yaw, roll = relative_pose(mesh, rotated)
    assert (pitch, yaw, roll) == pytest.approx((-7.0, 12.0, 4.0), abs=1e-8)


def test_mirrored_landmarks_flip_yaw_and_roll():
    points = face_points()
    rotated = points @ rotation_from_euler(15.0, 9.0, -6.0).T
    pitch, yaw, roll = relative_pose(to_image(mirror_points(points)), to_image(mirror_points(rotated)))
    assert (pitch, yaw, roll) == pytest.approx((9.0, -15.0, 6.0), abs=1e-8)


def test_motion_series_averages_the_mirror_and_skips_missing_frames():
    points = face_points()
    frames = [points @ rotation_from_euler(y, p, r).T for y, p, r in [(0, 0, 0), (8, 0, 0), (0, -5, 0), (0, 0, 3)]]
    meshes = [to_image(f) for f in frames]
    mirrored = [to_image(mirror_points(f)) for f in frames]
    series = motion_series([None] + meshes, [None] + mirrored)
    assert series.reference == 1 and list(series.found) == [False, True, True, True, True]
    assert np.isnan(series.yaw[0]) and np.isnan(series.mouth[0])
    np.testing.assert_allclose(series.yaw[1:], [0.0, 8.0, 0.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(series.pitch[1:], [0.0, 0.0, -5.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(series.roll[1:], [0.0, 0.0, 0.0, 3.0], atol=1e-8)
    assert series.as_dict()["yaw"][0] is None and len(series) == 5


def test_mouth_opening_is_scale_free():
    mesh = to_image(face_points())
    assert mouth_opening(mesh) == pytest.approx(mouth_opening(mesh * 3.0))
    assert len(RIGID) == 249 and RIGID.max() < 468


def test_mouth_width_closed_form():
    mesh = np.zeros((478, 3))
    mesh[33], mesh[263] = (0.0, 0.0, 0.0), (4.0, 0.0, 0.0)   # eye corners 4 apart
    mesh[61], mesh[291] = (0.5, 3.0, 0.0), (3.5, 3.0, 0.0)   # mouth corners 3 apart
    assert mouth_width(mesh) == pytest.approx(0.75)
    assert mouth_width(mesh * 2.5) == pytest.approx(0.75)


def test_no_face_anywhere_raises_a_specific_error():
    with pytest.raises(JudgeNoFaceError, match="no face") as info:
        motion_series([None, None])
    assert isinstance(info.value, NoFaceError)
    judge = FaceJudge(mesh=lambda image: None)
    with pytest.raises(JudgeNoFaceError):
        judge.measure([np.zeros((64, 64, 3), np.uint8)] * 2)


def test_gain_and_correlation_of_a_known_slope():
    x = np.linspace(-5.0, 5.0, 40)
    assert gain(x, 0.3 * x + 2.0) == pytest.approx(0.3)
    assert pearson(x, 0.3 * x + 2.0) == pytest.approx(1.0)
    assert pearson(x, -2.0 * x) == pytest.approx(-1.0)
    y = 0.5 * x
    y[3] = np.nan
    assert gain(x, y) == pytest.approx(0.5)
    assert np.isnan(gain(np.ones(5), x[:5])) and np.isnan(pearson(x[:1], x[:1]))
    noisy = x + RNG.normal(size=x.size)
    assert 0.9 < pearson(x, noisy) < 1.0


def test_missing_helper_environment_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv(JUDGE_PYTHON_ENV, str(tmp_path / "nope" / "python"))
    with pytest.raises(JudgeUnavailableError, match="make judge-env"):
        judge_python()
    with pytest.raises(JudgeUnavailableError, match="make judge-env"):
        FaceJudge().measure([np.zeros((8, 8, 3), np.uint8)])


def test_a_helper_without_mediapipe_is_reported_as_unavailable():
    """Our own interpreter has no mediapipe: the worker starts, reports it and exits."""
    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("this interpreter has mediapipe")
    client = FaceMeshClient(python=sys.executable)
    with pytest.raises(JudgeUnavailableError, match="mediapipe"):
        client(np.zeros((8, 8, 3), np.uint8))
    client.close()
    client.close()


def test_a_worker_that_dies_mid_run_raises_a_worker_error(tmp_path):
    """A helper that says it is ready and then exits: the first request reports the broken protocol."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho \'{"ready": true, "mediapipe": "fake"}\'\necho "bye" >&2\n')
    fake.chmod(0o755)
    with FaceMeshClient(python=fake) as client:
        with pytest.raises(JudgeWorkerError, match="exited|gone"):  # EOF, or a closed pipe if it died first
            client(np.zeros((8, 8, 3), np.uint8))
        assert client.version == "fake"
