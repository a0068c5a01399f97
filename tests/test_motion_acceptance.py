"""Issue #16's acceptance on `eval motion` results (latentreenact.evaluation.acceptance): the targets' edges, missing
and NaN values, identity, and the counts."""

from __future__ import annotations

import math

from latentreenact.evaluation.acceptance import MOTION_TARGETS, Target, acceptance, acceptance_markdown, meets


def result(pitch=(0.9, 1.0), yaw=(0.9, 1.0), mouth=(0.9, 1.0), dlib=(0.3, 0.5), no_face=0, source="a.png"):
    signals = {name: {"correlation": r, "gain": g} for name, (r, g) in
               (("pitch", pitch), ("yaw", yaw), ("mouth", mouth), ("roll", (-1.0, 0.0)))}
    return {"source": f"/x/{source}", "driving": "/y/clip.mp4", "signals": signals,
            "identity": {"dlib_mean": dlib[0], "dlib_max": dlib[1], "frames_without_face": no_face}}


def test_meets_includes_the_edges_and_refuses_what_is_not_a_number() -> None:
    angle = Target(0.8, 0.7, 1.3)
    assert meets({"correlation": 0.8, "gain": 0.7}, angle) and meets({"correlation": 1.0, "gain": 1.3}, angle)
    assert not meets({"correlation": 0.7999, "gain": 1.0}, angle)
    assert not meets({"correlation": 0.9, "gain": 0.6999}, angle) and not meets({"correlation": 0.9, "gain": 1.31}, angle)
    assert not meets({"correlation": 0.9, "gain": -1.0}, angle)  # the wrong way round
    assert not meets({"correlation": math.nan, "gain": 1.0}, angle) and not meets({"gain": 1.0}, angle)
    assert not meets({"correlation": 0.9, "gain": None}, angle)
    assert MOTION_TARGETS["mouth"] == Target(0.8, 0.5, 1.5)  # the mouth's gain range is wider than the angles'


def test_acceptance_counts_signals_and_identity_per_pair() -> None:
    rows = [result(), result(pitch=(0.79, 1.0), mouth=(0.9, 1.49), source="b.png"),
            result(yaw=(0.9, 1.31), mouth=(0.9, 1.51), dlib=(0.3, 0.61), source="c.png"),
            result(dlib=(0.51, 0.55), source="d.png"), result(no_face=1, source="e.png")]
    summary = acceptance(rows)
    assert [p["signals"] for p in summary["pairs"][1:3]] == [
        {"pitch": False, "yaw": True, "mouth": True}, {"pitch": True, "yaw": False, "mouth": False}]
    assert [p["identity"] for p in summary["pairs"]] == [True, True, False, False, False]
    assert summary["met"] == {"pitch": 4, "yaw": 4, "mouth": 4} and summary["identity_met"] == 2
    assert (summary["cells_met"], summary["cells"], summary["pair_count"]) == (12, 15, 5)
    text = acceptance_markdown(summary)
    assert "| b.png | clip.mp4 | no | yes | yes | yes |" in text
    assert "| **met** | | 4 of 5 | 4 of 5 | 4 of 5 | 2 of 5 |" in text and "Motion cells met: 12 of 15." in text
    assert "pitch: r >= 0.8 with gain in [0.7, 1.3]" in text and "<= 0.6 on every frame" in text
