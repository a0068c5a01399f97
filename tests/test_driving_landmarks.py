"""Driving eyes and mouth (latentreenact.driving_landmarks, ReenactOptions.follow_eyes / follow_mouth): the
opening series and control values against closed forms, and the image path rendering each frame with its
eyes_closed and lips_apart offsets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from latentreenact.driving_landmarks import FOLLOWERS, DrivingMeasurement, landmark_openings, opening_reference
from latentreenact.latent_controls import LATENT_CONTROLS
from latentreenact.net3d.params import PoseParams
from latentreenact.reenact_video import ReenactOptions, follow_track
from tiny_reenactor import SIZE, face, face_landmarks, tiny_controls, tiny_reenactor

UNIT = LATENT_CONTROLS["eyes_closed"].unit
EYES, MOUTH = FOLLOWERS["eye"], FOLLOWERS["mouth"]
EYE_VALUE_LIMITS = EYES.limits


def eye_track(eye: torch.Tensor, found: torch.Tensor, src: Any, *, against_source: bool,
              smoothing: float = 0.0) -> torch.Tensor:
    """``eyes_closed`` values of an eye-opening series (:func:`follow_track` with the eye follower)."""
    return follow_track(EYES, eye, found, src, against_source=against_source, smoothing=smoothing)


def _params(ratios, found, detected: bool = True, mouths=None) -> PoseParams:  # type: ignore[no-untyped-def]
    n = len(ratios)
    mouths = torch.full((n,), 0.1) if mouths is None else torch.tensor(mouths)
    return PoseParams(angles=torch.zeros(n, 3), expression=torch.zeros(n, 10), landmarks=torch.zeros(n, 68, 2),
                      backend="test", found=torch.tensor(found),
                      extras={"detected_landmarks": face_landmarks(torch.tensor(ratios), mouths)} if detected else {})


def test_openings_from_detected_landmarks() -> None:
    openings = landmark_openings(_params([0.3, 0.1, 0.2], [True, True, False], mouths=[0.05, 0.2, 0.1]))
    assert openings._fields == DrivingMeasurement._fields[2:] == ("eye", "mouth")
    eye, mouth = openings
    assert eye[:2].tolist() == pytest.approx([0.3, 0.1]) and math.isnan(eye[2])
    assert mouth[:2].tolist() == pytest.approx([0.05, 0.2]) and math.isnan(mouth[2])
    assert all(torch.isnan(v).all() for v in landmark_openings(_params([0.3], [True], detected=False)))


class _Src:
    def __init__(self, eye=None, mouth=None):  # type: ignore[no-untyped-def]
        self.info = {k: v for k, v in (("eye_opening", eye), ("mouth_opening", mouth)) if v is not None}


def test_eye_track_closed_form() -> None:
    eye = torch.tensor([math.nan, 0.30, 0.10, math.nan, 0.25])
    found = torch.tensor([False, True, True, True, True])
    values = eye_track(eye, found, _src := _Src(), against_source=False, smoothing=0.0)
    # gaps take the previous value (a leading gap the first one); the reference is the first usable frame (0.30)
    expected = -(torch.tensor([0.30, 0.30, 0.10, 0.10, 0.25]) - 0.30) / UNIT
    assert torch.allclose(values, expected, atol=1e-6)
    smoothed = eye_track(eye, found, _src, against_source=False, smoothing=0.5)
    assert float(smoothed[2]) == pytest.approx(-(0.5 * 0.30 + 0.5 * 0.10 - 0.30) / UNIT)
    halved = eye_track(eye, found, _Src(), against_source=False) / 2  # a source whose renders close twice as far
    gained = _Src()
    gained.info["eye_gain"] = 2.0
    assert torch.allclose(eye_track(eye, found, gained, against_source=False), halved)
    assert float(eye_track(torch.tensor([0.3, -0.5]), torch.ones(2, dtype=torch.bool), _Src(),
                           against_source=False)[1]) == pytest.approx(EYE_VALUE_LIMITS[1])  # clipped
    against = eye_track(eye, found, _Src(0.2), against_source=True, smoothing=0.0)
    assert torch.allclose(against, -(torch.tensor([0.30, 0.30, 0.10, 0.10, 0.25]) - 0.2) / UNIT, atol=1e-6)
    with pytest.raises(ValueError, match="source's eye opening is unknown"):
        eye_track(eye, found, _Src(), against_source=True, smoothing=0.0)
    with pytest.raises(ValueError, match="unknown on every frame"):
        opening_reference(torch.full((3,), math.nan), torch.ones(3, dtype=torch.bool), None, against_source=False)


def test_mouth_track_closed_form() -> None:
    """The lips are asked for ``share`` of the driving change, upward, over the unit and the source's gain."""
    mouth = torch.tensor([0.10, math.nan, 0.60, 0.05])
    found = torch.ones(4, dtype=torch.bool)
    unit, share = LATENT_CONTROLS["lips_apart"].unit, MOUTH.share
    assert MOUTH.sign == 1.0 and 0 < share <= 1
    src = _Src(mouth=0.0)
    src.info["mouth_gain"] = 0.5
    values = follow_track(MOUTH, mouth, found, src, against_source=False)
    expected = share * (torch.tensor([0.10, 0.10, 0.60, 0.05]) - 0.10) / unit / 0.5
    assert torch.allclose(values, expected.clamp(*MOUTH.limits), atol=1e-6)
    against = follow_track(MOUTH, mouth, found, src, against_source=True)
    assert torch.allclose(against, (share * torch.tensor([0.10, 0.10, 0.60, 0.05]) / unit / 0.5).clamp(*MOUTH.limits))
    assert share * 0.6 / unit / 0.5 > MOUTH.limits[1] and float(against[2]) == MOUTH.limits[1]  # clipped
    with pytest.raises(ValueError, match="source's mouth opening is unknown"):
        follow_track(MOUTH, mouth, found, _Src(), against_source=True)


def test_follow_eyes_renders_each_frame_with_its_offset() -> None:
    r = tiny_reenactor(with_controls=True)
    r.latent_controls = tiny_controls(names=("eyes_closed",))  # the eyes alone (the mouth: the next test)
    r.estimator.with_landmarks = True
    src = r.invert(face(r.generator, 3), align=False, tune="none", check_identity=False)
    assert src.info["eye_opening"] == pytest.approx(0.3 + 0.1 * float((src.crop[..., 1] / 127.5 - 1).mean()), abs=1e-3)
    frames = [face(r.generator, 40 + i) for i in range(3)]
    plain = r.reenact_images(src, frames, ReenactOptions(align=False, follow_eyes=False))
    eyes = r.reenact_images(src, frames, ReenactOptions(align=False, follow_eyes=True))
    auto = r.reenact_images(src, frames, align=False)  # the default: where the model can, and this one can
    assert all(np.array_equal(a, b) for a, b in zip(auto.frames, eyes.frames))
    assert np.array_equal(plain.frames[0], eyes.frames[0])  # the first frame is the reference: value 0
    assert not np.array_equal(plain.frames[1], eyes.frames[1])
    measured = r.measure_driving(frames, align=False)
    gain = src.info["eye_gain"]  # measured on renders at eyes_closed 0 and 1 at inversion
    assert gain > 0
    values = (-(measured.eye - measured.eye[0]) / UNIT / min(max(gain, 0.25), 4.0)).clamp(*EYE_VALUE_LIMITS)
    dp = r.spec.rescale(measured.p) - r.spec.rescale(measured.p[:1])
    expected = r.faces(src, dp, offset=r.control_series("eyes_closed", values), roll_region="crop")  # face only
    assert all(np.array_equal(a, b) for a, b in zip(eyes.frames, expected))
    # absolute driving takes the eyes against the source's own eye opening
    absolute = r.reenact_images(src, frames, ReenactOptions(align=False, follow_eyes=True, relative=False))
    off = r.reenact_images(src, frames, align=False, relative=False, follow_eyes=False)
    assert not np.array_equal(absolute.frames[0], off.frames[0])


def test_follow_eyes_needs_landmarks_and_controls() -> None:
    frames = [np.full((SIZE, SIZE, 3), 100 + 20 * i, np.uint8) for i in range(2)]
    r = tiny_reenactor(with_controls=True)  # the fake estimator reports no detected landmarks
    src = r.invert(frames[0], align=False, tune="none", check_identity=False)
    with pytest.raises(ValueError, match="unknown on every frame"):
        r.reenact_images(src, frames, ReenactOptions(align=False, follow_eyes=True))
    # the default leaves the eyes out where the model cannot follow them (logged), as follow_eyes=False does
    off = r.reenact_images(src, frames, ReenactOptions(align=False, follow_eyes=False)).frames
    assert all(np.array_equal(a, b) for a, b in zip(r.reenact_images(src, frames, align=False).frames, off))
    live = r.live(src, track=False)  # the live path decides on its first face (its eye opening: NaN here)
    live._track_opening(EYES, math.nan)
    assert live._off["eye"] and not live._opening and live._offset() is None  # left out, no error
    with pytest.raises(ValueError, match="unknown"):
        r.live(src, track=False, follow_eyes=True)._track_opening(EYES, math.nan)
    with pytest.raises(ValueError, match="unknown on every frame.*follow_mouth"):
        r.reenact_images(src, frames, ReenactOptions(align=False, follow_mouth=True))
    bare = tiny_reenactor()
    bare.estimator.with_landmarks = True
    src = bare.invert(frames[0], align=False, tune="none", check_identity=False)
    with pytest.raises(ValueError, match="no W-space eyes_closed control"):
        bare.reenact_images(src, frames, ReenactOptions(align=False, follow_eyes=True))
    off = bare.reenact_images(src, frames, ReenactOptions(align=False, follow_eyes=False)).frames
    assert all(np.array_equal(a, b) for a, b in zip(bare.reenact_images(src, frames, align=False).frames, off))


def test_follow_mouth_renders_each_frame_with_both_offsets() -> None:
    """Eyes and mouth followed together: each frame is rendered with the sum of its eyes_closed and lips_apart
    offsets; the source's gains are measured at inversion on renders at 0 and at each follower's probe value."""
    r = tiny_reenactor(with_controls=True)
    r.estimator.with_landmarks = True
    src = r.invert(face(r.generator, 3), align=False, tune="none", check_identity=False)
    assert src.info["mouth_opening"] == pytest.approx(0.1 + 0.05 * float((src.crop[..., 2] / 127.5 - 1).mean()),
                                                      abs=1e-3)
    frames = [face(r.generator, 40 + i) for i in range(3)]
    both = r.reenact_images(src, frames, align=False)  # the default follows both where the model can
    eyes_only = r.reenact_images(src, frames, ReenactOptions(align=False, follow_mouth=False))
    assert not np.array_equal(both.frames[1], eyes_only.frames[1])
    measured = r.measure_driving(frames, align=False)
    zero = torch.zeros(1, r.spec.k)
    probes = [r.control_series(f.control, torch.tensor([f.probe])) for f in (EYES, MOUTH)]
    renders = r.faces(src, zero.repeat(3, 1), calibrate=False, offset=torch.cat([0 * probes[0], *probes]))
    readings = landmark_openings(r.estimator.estimate(torch.from_numpy(np.stack(renders)).permute(0, 3, 1, 2)
                                                      .float() / 127.5 - 1))
    for follower, reading, probe in ((EYES, readings.eye, 1), (MOUTH, readings.mouth, 2)):
        unit = LATENT_CONTROLS[follower.control].unit
        gain = follower.sign * float(reading[probe] - reading[0]) / follower.probe / unit
        assert gain > 0 and src.info[f"{follower.measure}_gain"] == pytest.approx(gain, rel=1e-4)
    offsets = sum(r.control_series(f.control, follow_track(f, getattr(measured, f.measure), measured.found, src,
                                                             against_source=False)) for f in (EYES, MOUTH))
    dp = r.spec.rescale(measured.p) - r.spec.rescale(measured.p[:1])
    expected = r.faces(src, dp, offset=offsets, roll_region="crop")  # face-only output
    assert all(np.array_equal(a, b) for a, b in zip(both.frames, expected))
