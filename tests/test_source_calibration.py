"""The per-source calibration on its own (latentreenact.source_calibration), with a renderer whose renders and
readings the test sets: what is rendered, and the gains against the closed form."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch

from latentreenact import source_calibration
from latentreenact.driving_landmarks import FOLLOWERS, Openings
from latentreenact.latent_controls import LATENT_CONTROLS
from latentreenact.net3d.pose_vector import PoseVectorSpec
from latentreenact.pose_delta import LEAK_STEP
from latentreenact.source import Source

SPEC = PoseVectorSpec(("yaw", "pitch", "exp_0"), {"exp_0": (-2.0, 2.0)})
SIZE = 8
#: a W+ offset per control value of 1, one number per control, so the rendered offsets tell which was asked
CONTROL_SCALE = {"eyes_closed": 1.0, "lips_apart": 10.0}


class Renderer:
    """Records every render; the meter's readings are whatever the test sets."""

    def __init__(self, names: Tuple[str, ...] = ("eyes_closed", "lips_apart")) -> None:
        self.names = names
        self.renders: List[Tuple[torch.Tensor, Optional[torch.Tensor], bool]] = []
        self.pose_reading: Tuple[torch.Tensor, torch.Tensor] = (torch.zeros(0, SPEC.k),
                                                                torch.zeros(0, dtype=torch.bool))
        self.meter = SimpleNamespace(spec=SPEC, align_size=SIZE, pose=lambda crops: self.pose_reading,
                                     estimate=lambda crops: None)
        self.spec = SPEC

    def faces(self, src: Source, dp: torch.Tensor, calibrate: bool = True,
              offset: Optional[torch.Tensor] = None) -> np.ndarray:
        self.renders.append((dp.clone(), None if offset is None else offset.clone(), calibrate))
        return np.zeros((len(dp), SIZE, SIZE, 3), np.uint8)

    def control_names(self) -> Tuple[str, ...]:
        return self.names

    def control_series(self, name: str, values: torch.Tensor) -> torch.Tensor:
        return CONTROL_SCALE[name] * values.float().view(-1, 1, 1) * torch.ones(len(values), 2, 3)


def source(info: Optional[Dict[str, Any]] = None) -> Source:
    return Source(crop=np.zeros((SIZE, SIZE, 3), np.uint8), wplus=torch.zeros(1, 2, 3), p=torch.zeros(1, SPEC.k),
                  generator=None, transform=np.eye(3), image=np.zeros((SIZE, SIZE, 3), np.uint8), info=info or {})


def test_follower_gains_render_nothing_without_the_sources_openings(  # type: ignore[no-untyped-def]
        monkeypatch) -> None:
    renderer, bare = Renderer(), Renderer(names=())
    assert source_calibration.follower_gains(renderer, source()) == {}  # openings unknown
    assert source_calibration.follower_gains(bare, source({"eye_opening": 0.3})) == {}  # no controls to follow
    assert renderer.renders == [] and bare.renders == []
    # only the eye's opening is known: only the eye is probed (the source, then eyes_closed at its probe)
    eye_only = Renderer()
    readings = Openings(eye=torch.tensor([0.30, 0.22]), mouth=torch.tensor([0.05, 0.05]))
    monkeypatch.setattr(source_calibration, "landmark_openings", lambda params: readings)
    assert set(source_calibration.follower_gains(eye_only, source({"eye_opening": 0.3}))) == {"eye"}
    (_, offsets, _), = eye_only.renders
    probe = FOLLOWERS["eye"].probe * CONTROL_SCALE["eyes_closed"]
    torch.testing.assert_close(offsets[:, 0, 0], torch.tensor([0.0, probe]))


def test_follower_gains_against_the_closed_form(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    renderer = Renderer()
    src = source({"eye_opening": 0.3, "mouth_opening": 0.05})
    # renders: the source, the eye probe, the mouth probe; each reading moves only the measure it probes
    readings = Openings(eye=torch.tensor([0.30, 0.22, 0.30]), mouth=torch.tensor([0.05, 0.05, 0.13]))
    monkeypatch.setattr(source_calibration, "landmark_openings", lambda params: readings)
    gains = source_calibration.follower_gains(renderer, src)
    eye, mouth = FOLLOWERS["eye"], FOLLOWERS["mouth"]
    assert gains == {
        "eye": pytest.approx(-1.0 * (0.22 - 0.30) / (eye.probe * LATENT_CONTROLS["eyes_closed"].unit)),
        "mouth": pytest.approx((0.13 - 0.05) / (mouth.probe * LATENT_CONTROLS["lips_apart"].unit)),
    }
    # one batch, uncalibrated, at Δp = 0, with the offsets 0, eyes_closed at its probe, lips_apart at its probe
    (dp, offsets, calibrate), = renderer.renders
    assert not calibrate and torch.equal(dp, torch.zeros(3, SPEC.k))
    torch.testing.assert_close(offsets[:, 0, 0], torch.tensor([0.0, eye.probe * 1.0, mouth.probe * 10.0]))


def test_follower_gains_leave_out_readings_that_move_the_wrong_way(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src = source({"eye_opening": 0.3, "mouth_opening": 0.05})
    readings = Openings(eye=torch.tensor([0.30, 0.35, 0.30]), mouth=torch.tensor([0.05, 0.05, math.nan]))
    monkeypatch.setattr(source_calibration, "landmark_openings", lambda params: readings)
    assert source_calibration.follower_gains(Renderer(), src) == {}


def test_pose_gains_read_the_renders_at_minus_and_plus_the_step() -> None:
    renderer = Renderer()
    pitch = SPEC.names.index("pitch")
    p = torch.zeros(2, SPEC.k)
    p[:, pitch] = torch.tensor([-3.0, 9.0])
    renderer.pose_reading = (p, torch.tensor([True, True]))
    assert source_calibration.pose_gains(renderer, source(), {"pitch": 4.0}) == {"pitch": pytest.approx(1.5)}
    (dp, offset, calibrate), = renderer.renders
    assert not calibrate and offset is None
    expected = torch.zeros(2, SPEC.k)
    expected[:, pitch] = torch.tensor([-4.0, 4.0]) * 6 / 20  # degrees rescaled to A's [-6, 6] over [-20, 20]
    torch.testing.assert_close(dp, expected)
    # entries the layout lacks: nothing to measure, nothing rendered
    assert source_calibration.pose_gains(renderer, source(), {"tilt": 4.0}) == {}
    assert len(renderer.renders) == 1


def test_pose_gains_leave_out_what_cannot_be_read(caplog) -> None:  # type: ignore[no-untyped-def]
    renderer = Renderer()
    pitch = SPEC.names.index("pitch")
    p = torch.zeros(2, SPEC.k)
    p[:, pitch] = torch.tensor([-3.0, 9.0])
    with caplog.at_level(logging.WARNING):
        renderer.pose_reading = (p, torch.tensor([True, False]))  # no face in the +step render
        assert source_calibration.pose_gains(renderer, source(), {"pitch": 4.0}) == {}
        renderer.pose_reading = (-p, torch.tensor([True, True]))  # read the other way
        assert source_calibration.pose_gains(renderer, source(), {"pitch": 4.0}) == {}
    assert caplog.text.count("pitch calibration could not be measured") == 2


def test_pose_leaks_render_each_expression_entry_and_name_what_cannot_be_read(caplog) -> None:  # type: ignore[no-untyped-def]
    renderer = Renderer()
    renderer.pose_reading = (torch.tensor([[-2.0, 0.0, 0.0], [6.0, 1.0, 0.0]]), torch.tensor([True, True]))
    step = LEAK_STEP
    assert source_calibration.pose_leaks(renderer, source()) == {"yaw": {"exp_0": pytest.approx(
        8.0 * SPEC.shift_scale / 40.0 / (2 * step))}}
    (dp, offset, calibrate), = renderer.renders  # one uncalibrated batch: exp_0 at -step and +step, nothing else
    assert not calibrate and offset is None
    torch.testing.assert_close(dp, torch.tensor([[0.0, 0.0, -step], [0.0, 0.0, step]]))
    renderer.pose_reading = (renderer.pose_reading[0], torch.tensor([True, False]))
    with caplog.at_level(logging.WARNING):
        assert source_calibration.pose_leaks(renderer, source()) == {"yaw": {}}
    assert "the yaw turn of exp_0 could not be measured" in caplog.text
