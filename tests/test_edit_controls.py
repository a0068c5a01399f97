"""The edit vocabulary (latentreenact.edit_controls) on its own: closed forms of Δp and ΔW+, and every refusal."""

from __future__ import annotations

import pytest
import torch

from latentreenact.edit_controls import EditControls
from latentreenact.net3d.controls import CONTROLS
from latentreenact.net3d.pose_vector import ANGLE_SCALES, LAYOUTS, SHIFT_SCALE, PoseVectorSpec
from tiny_reenactor import tiny_controls

SPEC = PoseVectorSpec(LAYOUTS["bfm"], {f"exp_{i}": (-1.0 - 0.3 * i, 2.0 + 0.1 * i) for i in range(10)})
P = torch.linspace(-0.5, 0.7, SPEC.k)[None]


def test_names_offer_the_w_space_controls_only_when_there_are_some():
    assert EditControls(SPEC, 4).names() == tuple(CONTROLS)
    assert EditControls(SPEC, 4, tiny_controls()).names() == (*CONTROLS, "eyes_closed", "lips_apart")


def test_an_angle_edit_is_the_rescaled_difference():
    """yaw +10° adds 10 * a / scale to the yaw entry of Δp and nothing elsewhere (the rescaling's closed form)."""
    dp = EditControls(SPEC, 4).delta(P, yaw=10.0, pitch=-5.0)
    expected = torch.zeros(1, SPEC.k)
    expected[0, 0] = 10.0 * SHIFT_SCALE / ANGLE_SCALES["yaw"]
    expected[0, 1] = -5.0 * SHIFT_SCALE / ANGLE_SCALES["pitch"]
    torch.testing.assert_close(dp, expected)


def test_absolute_sets_the_entry_and_expressions_use_their_range():
    edits = EditControls(SPEC, 4)
    lo, hi = SPEC.ranges["exp_2"]
    dp = edits.delta(P, expression={2: hi}, absolute=True)
    assert dp[0, 5] == pytest.approx(SHIFT_SCALE - float(SPEC.rescale(P)[0, 5]), abs=1e-5)
    assert torch.count_nonzero(dp) == 1
    assert torch.count_nonzero(edits.delta(P)) == 0  # no edit, no motion


def test_a_pose_vector_control_adds_its_direction():
    edits = EditControls(SPEC, 4)
    dp = edits.delta(P, controls={"mouth_open": 0.5})
    raw = edits.pose_directions()["mouth_open"]
    assert torch.count_nonzero(raw[3:]) > 0
    for i, name in enumerate(SPEC.names[3:], start=3):  # the rescaling's closed form: 2a / (max - min) per unit
        lo, hi = SPEC.ranges[name]
        assert float(dp[0, i]) == pytest.approx(0.5 * float(raw[i]) * 2 * SHIFT_SCALE / (hi - lo), rel=1e-5, abs=1e-7)
    both = edits.delta(P, controls={"mouth_open": 0.5, "smile": -1.0})
    torch.testing.assert_close(both, dp + edits.delta(P, controls={"smile": -1.0}))  # controls add up
    assert torch.count_nonzero(dp[0, :3]) == 0  # the head does not turn
    assert edits.offset({"mouth_open": 0.5}) is None  # not a W-space control


def test_w_space_controls_offset_and_series():
    controls = tiny_controls()
    edits = EditControls(SPEC, 4, controls)
    unit = controls.offset({"eyes_closed": 1.0}, 4)
    torch.testing.assert_close(edits.offset({"eyes_closed": 2.0, "smile": 1.0}), 2.0 * unit)
    series = edits.series("eyes_closed", torch.tensor([0.0, 1.0, -0.5]))
    assert series.shape == (3, 4, 8)
    torch.testing.assert_close(series, torch.tensor([0.0, 1.0, -0.5])[:, None, None] * unit)
    assert torch.count_nonzero(edits.delta(P, controls={"eyes_closed": 1.0})) == 0  # not part of Δp


@pytest.mark.parametrize("call, message", [
    (lambda e: e.delta(P, jaw=1.0), "not in this model's pose vector"),
    (lambda e: e.delta(P, yaw=float("nan")), "finite"),
    (lambda e: e.delta(P, controls={"smile": float("inf")}), "finite"),
    (lambda e: e.delta(P, controls={"frown": 1.0}), "unknown expression controls"),
    (lambda e: e.delta(P, controls={"eyes_closed": 1.0}), "no W-space controls file"),
    (lambda e: e.offset({"lips_apart": 1.0}), "no W-space controls file"),
    (lambda e: e.series("eyes_closed", torch.ones(2)), "no W-space controls file"),
    (lambda e: e.delta(P, yaw=1e6), "limited to ±90 degrees"),
    (lambda e: e.delta(P, pitch=-90.0, absolute=True), "beyond ±18"),  # 90 degrees, but 27 units of pitch's ±6
    (lambda e: e.delta(P, expression={0: 1e3}), "beyond ±18"),
    (lambda e: e.delta(P, controls={"smile": -11.0}), "limited to ±10"),
])
def test_bad_requests_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call(EditControls(SPEC, 4))


def test_nan_series_values_are_refused():
    with pytest.raises(ValueError, match="NaN or Inf"):
        EditControls(SPEC, 4, tiny_controls()).series("eyes_closed", torch.tensor([0.0, float("nan")]))


def test_the_range_limits_closed_form():
    """Yaw may reach ±90 degrees (15 units of its ±6 = ±40 degrees, inside 3 x 6); pitch stops at 3 x 6 units =
    60 degrees; an expression at 3 times its range from the middle; every refusal leaves an edit at the edge
    possible."""
    edits = EditControls(SPEC, 4)
    edits.delta(P, yaw=90.0, absolute=True)
    edits.delta(P, pitch=60.0, absolute=True)
    with pytest.raises(ValueError, match="beyond"):
        edits.delta(P, pitch=60.5, absolute=True)
    lo, hi = SPEC.ranges["exp_2"]
    middle, half = (lo + hi) / 2, (hi - lo) / 2
    edits.delta(P, expression={2: middle + 2.99 * half}, absolute=True)
    with pytest.raises(ValueError, match="beyond"):
        edits.delta(P, expression={2: middle - 3.01 * half}, absolute=True)
    edits.delta(P, controls={"mouth_open": 10.0})
