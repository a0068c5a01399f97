"""The judge on real photos with MediaPipe's face mesh (needs ``make judge-env``): calibration of roll on
in-plane rotations, mirrored frames flipping yaw, no face, and dlib's identity distance."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures.face_photos import photo
from judge_env import needs_judge
from latentreenact.examples import example_path
from latentreenact.judge import (SAME_PERSON_DISTANCE, FaceJudge, JudgeNoFaceError, dlib_distance,
                                 identity_descriptor)
from latentreenact.judge.signals import flip_image


@pytest.fixture(scope="module")
def smile_frames():
    from latentreenact.video import iter_frames

    frames = list(iter_frames(example_path("smile")))
    return [frames[i] for i in (0, 18, 30, 42, 60, 66)]


@pytest.mark.parametrize("name", ["astronaut", "obama_portrait", "biden_blue_room"])
def test_in_plane_rotation_gives_the_roll(judge, name):
    """PIL's counter-clockwise rotation by a degrees is roll +a (docs/architecture.md §6); measured error on the five test
    photos at ±5..30°: 0.2° mean, 0.5° max."""
    image = photo(name)
    for angle in (-25.0, -8.0, 12.0, 30.0):
        rotated = np.asarray(Image.fromarray(image).rotate(angle, resample=Image.BICUBIC))
        pitch, yaw, roll = judge.pose(image, rotated)
        assert roll == pytest.approx(angle, abs=1.0), (name, angle)
        assert abs(yaw) < 2.5 and abs(pitch) < 4.0, (name, angle, pitch, yaw)


def test_mirrored_frames_flip_yaw_and_roll(judge, smile_frames):
    series = judge.measure(smile_frames)
    mirrored = judge.measure([flip_image(f) for f in smile_frames])
    assert np.nanmax(np.abs(series.yaw)) > 2.5  # the clip turns a few degrees
    np.testing.assert_allclose(mirrored.yaw, -series.yaw, atol=1e-4)
    np.testing.assert_allclose(mirrored.roll, -series.roll, atol=1e-4)
    np.testing.assert_allclose(mirrored.pitch, series.pitch, atol=1e-4)
    np.testing.assert_allclose(mirrored.mouth, series.mouth, atol=1e-6)


def test_mirrored_frames_flip_yaw_without_the_mirror_average(smile_frames):
    needs_judge()
    with FaceJudge(mirror=False) as single:
        series = single.measure(smile_frames)
        mirrored = single.measure([flip_image(f) for f in smile_frames])
    np.testing.assert_allclose(mirrored.yaw, -series.yaw, atol=2.0)  # single-pass left-right bias: up to 1.8°
    assert np.corrcoef(mirrored.yaw, -series.yaw)[0, 1] > 0.9


def test_the_clip_looks_up_and_opens_the_mouth(judge, smile_frames):
    """The finding this judge was built for: the clip's head pitches up (negative pitch) by several degrees."""
    series = judge.measure(smile_frames)
    assert series.found.all()
    assert series.pitch[-1] < -5.0
    assert series.mouth.max() > series.mouth.min() + 0.05


def test_no_face_raises(judge):
    with pytest.raises(JudgeNoFaceError):
        judge.measure([np.full((96, 96, 3), 127, np.uint8)] * 2)


def test_dlib_identity_distance():
    a, b = identity_descriptor(photo("obama_portrait")), identity_descriptor(photo("obama_congress"))
    c = identity_descriptor(photo("biden_blue_room"))
    assert dlib_distance(a, b) < SAME_PERSON_DISTANCE < dlib_distance(a, c)
    assert identity_descriptor(np.full((96, 96, 3), 127, np.uint8)) is None
