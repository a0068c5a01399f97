"""Per-source pose calibration (``Reenactor.calibrate`` / ``calibrated``): closed forms on tiny models with a
controlled estimator reading, and the property it exists for on the default models and a real photo: after
calibration the estimator sees a pitch edit move the face by the angle asked."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch

from fixtures.face_photos import photo, single_thread
from latentreenact.pose_delta import CALIBRATION_STEPS, GAIN_LIMITS, LEAK_ANGLES
from tiny_reenactor import face, tiny_reenactor

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


@pytest.fixture(scope="module")
def tiny():  # type: ignore[no-untyped-def]
    r = tiny_reenactor(calibrate=False)
    return r, r.invert(face(r.generator, 3), align=False, tune="none", check_identity=False)


def test_calibrated_divides_each_entry_by_its_clipped_gain(tiny) -> None:  # type: ignore[no-untyped-def]
    r, src = tiny
    assert src.pose_gains == {}
    dp = torch.arange(2 * r.spec.k, dtype=torch.float32).reshape(2, r.spec.k) / 10
    assert r.calibrated(src, dp) is dp
    pitch, yaw = r.spec.names.index("pitch"), r.spec.names.index("yaw")
    for gain, divisor in ((0.5, 0.5), (0.1, GAIN_LIMITS[0]), (10.0, GAIN_LIMITS[1])):
        src.pose_gains = {"pitch": gain}
        out = r.calibrated(src, dp)
        torch.testing.assert_close(out[:, pitch], dp[:, pitch] / divisor)
        others = [i for i in range(r.spec.k) if i != pitch]
        assert torch.equal(out[:, others], dp[:, others])
    src.pose_gains = {"pitch": 0.5, "yaw": 2.0}
    torch.testing.assert_close(r.calibrated(src, dp)[:, yaw], dp[:, yaw] / 2.0)
    # the gains reach the pixels: faces() of Δp equals faces() of the calibrated Δp without gains
    calibrated = r.calibrated(src, dp)
    with_gains = r.faces(src, dp)
    # edits ask for angles: they are not calibrated
    edit = r.edit_delta(src, pitch=6.0)
    np.testing.assert_array_equal(r.edit(src, pitch=6.0), r.faces(src, edit, calibrate=False)[0])
    assert not np.array_equal(r.edit(src, pitch=6.0), r.faces(src, edit)[0])
    src.pose_gains = {}
    np.testing.assert_array_equal(with_gains, r.faces(src, calibrated))


def test_calibrate_measures_the_estimators_reading_of_edits_through_a(  # type: ignore[no-untyped-def]
        tiny, monkeypatch, caplog) -> None:
    r, src = tiny
    src.pose_gains = {}
    pitch = r.spec.names.index("pitch")
    asked = []
    shift = r.shift

    def recording_shift(s, dp, offset=None):  # type: ignore[no-untyped-def]
        asked.append(dp.clone())
        return shift(s, dp, offset)

    def reading(values, found=(True, True)):  # type: ignore[no-untyped-def]
        def pose(crops):  # type: ignore[no-untyped-def]
            p = torch.zeros(len(crops), r.spec.k)
            p[:, pitch] = torch.tensor(values)
            return p, torch.tensor(found)
        return pose

    monkeypatch.setattr(r, "shift", recording_shift)
    monkeypatch.setattr(r.meter, "pose", reading([-3.0, 5.0]))
    step = CALIBRATION_STEPS["pitch"]
    pitch_only = {"pitch": step}
    assert r.calibrate(src, pitch_only) == {"pitch": pytest.approx(8.0 / (2 * step))}
    # A was asked for -step and +step degrees of pitch (rescaled: degrees * 6 / 20) and nothing else
    expected = torch.zeros(2, r.spec.k)
    expected[:, pitch] = torch.tensor([-step, step]) * 6 / 20
    torch.testing.assert_close(asked[-1], expected)
    assert r.calibrate(src, {"pitch": 4.0}) == {"pitch": pytest.approx(1.0)}
    with caplog.at_level(logging.WARNING):
        monkeypatch.setattr(r.meter, "pose", reading([2.0, -2.0]))  # reads the wrong way: not a gain
        assert r.calibrate(src, pitch_only) == {}
        monkeypatch.setattr(r.meter, "pose", reading([-3.0, 5.0], found=(True, False)))  # no face in a render
        assert r.calibrate(src, pitch_only) == {}
    assert caplog.text.count("calibration could not be measured") == 2


def test_calibrated_cancels_the_head_turn_of_the_expression_columns(tiny, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A linear stand-in for 'render, then read with the estimator': yaw read = 0.8 A's yaw + Σ_e L_e A's e,
    pitch read = 1.25 A's pitch (rescaled units). Calibrating against it, a driving Δp must read back exactly."""
    r, src = tiny
    src.pose_gains, src.pose_leaks = {}, {}
    names = list(r.spec.names)
    yaw, pitch = names.index("yaw"), names.index("pitch")
    exp = [i for i, n in enumerate(names) if n.startswith("exp_")]
    leak = torch.linspace(-0.3, 0.4, len(exp))
    model = torch.eye(r.spec.k)
    model[yaw, yaw], model[pitch, pitch] = 0.8, 1.25
    model[yaw, exp] = leak
    asked = []
    shift = r.shift

    def recording_shift(s, dp, offset=None):  # type: ignore[no-untyped-def]
        asked.append(dp.clone())
        return shift(s, dp, offset)

    def read(dp: torch.Tensor) -> torch.Tensor:  # raw pose vectors of the renders of Δp
        return r.spec.unscale(r.spec.rescale(src.p) + dp @ model.T)

    monkeypatch.setattr(r, "shift", recording_shift)
    monkeypatch.setattr(r.meter, "pose", lambda crops: (read(asked[-1]), torch.ones(len(crops), dtype=torch.bool)))
    src.pose_gains = r.calibrate(src)
    src.pose_leaks = r.calibrate_leaks(src)
    assert src.pose_gains == {"pitch": pytest.approx(1.25), "yaw": pytest.approx(0.8)}
    assert set(src.pose_leaks) == {"yaw"}  # pitch is not compensated (LEAK_ANGLES)
    torch.testing.assert_close(torch.tensor([src.pose_leaks["yaw"][names[i]] for i in exp]), leak)
    driving = torch.randn(6, r.spec.k, generator=torch.Generator().manual_seed(0))
    driving[:, names.index("roll")] = 0.0
    r.faces(src, driving)
    torch.testing.assert_close(asked[-1], r.calibrated(src, driving))
    seen = asked[-1] @ model.T
    torch.testing.assert_close(seen[:, [yaw, pitch]], driving[:, [yaw, pitch]])
    without = r.calibrated(replace(src, pose_leaks={}), driving) @ model.T  # the leak is what the compensation cancels
    assert (without[:, yaw] - driving[:, yaw]).abs().max() > 0.1


def test_leaks_from_readings_leave_out_what_cannot_be_read() -> None:
    from latentreenact.net3d.pose_vector import PoseVectorSpec
    from latentreenact.pose_delta import leak_deltas, leaks_from_readings, remove_leaks

    spec = PoseVectorSpec(("yaw", "pitch", "exp_0", "exp_1"), {"exp_0": (-2.0, 2.0), "exp_1": (-1.0, 1.0)})
    names, dp = leak_deltas(spec, step=2.0)
    assert names == ["exp_0", "exp_1"]
    torch.testing.assert_close(dp, torch.tensor([[0, 0, -2, 0], [0, 0, 2, 0], [0, 0, 0, -2], [0, 0, 0, 2.0]]))
    p = torch.zeros(4, 4)
    p[:, 0] = torch.tensor([-1.0, 3.0, 5.0, float("nan")])  # degrees of yaw read per render
    leaks = leaks_from_readings(spec, names, p, torch.tensor([True, True, True, True]), step=2.0,
                                angles=("yaw", "pitch", "tilt"))
    per_degree = spec.shift_scale / 40.0  # rescaled units of yaw per degree (its scale: ±40°)
    assert leaks == {"yaw": {"exp_0": pytest.approx(4.0 / 4.0 * per_degree)}, "pitch": {"exp_0": 0.0, "exp_1": 0.0}}
    lost = leaks_from_readings(spec, names, p, torch.tensor([True, False, True, True]), step=2.0)
    assert lost == {"yaw": {}}
    dp = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert remove_leaks(spec, dp, {}) is dp and remove_leaks(spec, dp, {"yaw": {}}) is dp
    torch.testing.assert_close(remove_leaks(spec, dp, {"yaw": {"exp_0": 0.5, "exp_1": -0.25}}),
                               torch.tensor([[1.0 - 1.5 + 1.0, 2.0, 3.0, 4.0]]))


def test_invert_calibrates_when_asked() -> None:
    on = tiny_reenactor()
    image = face(on.generator, 3)
    src = on.invert(image, align=False, tune="none", check_identity=False)
    assert set(src.pose_gains) <= set(CALIBRATION_STEPS) and src.info["pose_gains"] == src.pose_gains
    assert set(src.pose_leaks) <= set(LEAK_ANGLES) and src.info["pose_leaks"] == src.pose_leaks
    off = tiny_reenactor(calibrate=False)
    bare = off.invert(image, align=False, tune="none", check_identity=False)
    assert bare.pose_gains == {} and bare.pose_leaks == {}


def test_calibrated_pitch_edits_move_as_asked_on_real_photos() -> None:
    """The default models on real photos (no tuning): A alone moves the estimator's pitch by 1.11 and 0.85 of
    what is asked (a 16° swing reads as 17.8° and 13.7°); a calibrated (driving) swing within 5% of 16°."""
    from latentreenact.images import resize_square
    from latentreenact.reenactor import Reenactor

    r = Reenactor.from_pretrained("default")
    column = r.spec.names.index("pitch")
    for name in ("astronaut", "biden_blue_room"):
        src = r.invert(photo(name), tune="none", check_identity=False)
        gain = src.pose_gains["pitch"]
        assert GAIN_LIMITS[0] < gain < GAIN_LIMITS[1]
        renders = r.faces(src, torch.cat([r.edit_delta(src, pitch=angle) for angle in (-8.0, 8.0)]))
        p, found = r.pose([resize_square(face, r.align_size) for face in renders])
        assert found.all()
        moved = float(p[1, column] - p[0, column])
        assert moved == pytest.approx(16.0, rel=0.05), (name, moved, gain)


def test_pose_delta_on_a_layout_without_roll() -> None:
    from latentreenact.net3d.pose_vector import PoseVectorSpec
    from latentreenact.pose_delta import calibration_deltas, split_roll

    spec = PoseVectorSpec(("yaw", "pitch", "exp_0"), {"exp_0": (-2.0, 2.0)})
    dp = torch.ones(2, 3)
    assert split_roll(spec, dp) == (dp, None)
    names, deltas = calibration_deltas(spec, torch.zeros(1, 3), {"pitch": 5.0, "roll": 5.0})
    assert names == ["pitch"]
    torch.testing.assert_close(deltas, torch.tensor([[0.0, -1.5, 0.0], [0.0, 1.5, 0.0]]))  # 5 * 6 / 20
