"""The bound on the source's expression plus Δp (``pose_delta.limit_expression``, ``ReenactOptions.expression_limit``):
closed forms, the property that a zero Δp is never changed, and the video path's track on a tiny model."""

from __future__ import annotations

import pytest
import torch

from latentreenact.cli.options import limit_of
from latentreenact.net3d.pose_vector import PoseVectorSpec
from latentreenact.pose_delta import EXPRESSION_LIMIT, limit_expression
from latentreenact.reenact_video import ReenactOptions, pose_track, source_rescaled
from tiny_reenactor import face, tiny_reenactor

SPEC = PoseVectorSpec(("yaw", "pitch", "exp_0", "exp_1"), {"exp_0": (-2.0, 2.0), "exp_1": (-1.0, 1.0)})


def test_targets_are_cut_at_the_limit_or_at_the_source_beyond_it() -> None:
    source = torch.tensor([0.5, -1.0, 1.0, -5.0])  # rescaled; exp_1 lies beyond a limit of 4
    dp = torch.tensor([[10.0, -9.0, 5.0, -3.0],   # angles untouched; exp_0 1 + 5 -> 4; exp_1 -8 -> -5 (its own)
                       [0.0, 0.0, 0.0, 0.0],      # no change stays no change
                       [0.0, 0.0, -2.0, 2.0],     # inside, and back towards 0 from beyond: untouched
                       [0.0, 0.0, -7.0, 12.0]])   # 1 - 7 = -6 -> -4; -5 + 12 = 7 -> 4
    out = limit_expression(SPEC, dp, source, 4.0)
    expected = torch.tensor([[10.0, -9.0, 3.0, 0.0],
                             [0.0, 0.0, 0.0, 0.0],
                             [0.0, 0.0, -2.0, 2.0],
                             [0.0, 0.0, -5.0, 9.0]])
    torch.testing.assert_close(out, expected)
    assert limit_expression(SPEC, dp, source, None) is dp
    torch.testing.assert_close(limit_expression(SPEC, dp, source, 100.0), dp)


def test_zero_motion_and_small_motion_are_never_changed() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        source = 12 * torch.rand(4, generator=gen) - 6  # anywhere in [-6, 6]
        dp = torch.zeros(3, 4)
        assert torch.equal(limit_expression(SPEC, dp, source, 2.0), dp)
        small = 0.5 * torch.randn(3, 4, generator=gen)
        out = limit_expression(SPEC, small, source, 6.0)
        inside = ((source + small).abs() <= 6.0) | (small * source < 0)  # inside the box, or back towards 0
        assert torch.equal(out[inside], small[inside])


def test_bad_limits_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="limit must be > 0"):
        limit_expression(SPEC, torch.zeros(1, 4), torch.zeros(4), 0.0)
    with pytest.raises(ValueError, match="expected"):
        limit_expression(SPEC, torch.zeros(1, 3), torch.zeros(4), 4.0)


def test_the_video_track_takes_the_option() -> None:
    r = tiny_reenactor(calibrate=False)
    src = r.invert(face(r.generator, 3), align=False, tune="none", check_identity=False)
    rescaled = source_rescaled(r, src)
    assert rescaled.shape == (r.spec.k,)
    p = src.p.detach().float().reshape(1, -1).repeat(3, 1)
    exp = [i for i, n in enumerate(r.spec.names) if n.startswith("exp_")]
    scale = r.spec.unscale(torch.ones(1, r.spec.k))[0] - r.spec.unscale(torch.zeros(1, r.spec.k))[0]
    p[1, exp[0]] += 50 * scale[exp[0]]  # 50 rescaled units: far beyond any limit
    found = torch.ones(3, dtype=torch.bool)
    args = dict(relative=True, sequence=True, smoothing=0.0, what="frames")
    free = pose_track(r, src, p, found, **args)
    cut = pose_track(r, src, p, found, expression_limit=ReenactOptions(expression_limit=4.0).expression_limit, **args)
    assert float(free.dp[1, exp[0]]) == pytest.approx(50.0, rel=1e-4)
    bound = max(4.0, float(rescaled[exp[0]]))
    assert float(cut.dp[1, exp[0]]) == pytest.approx(bound - float(rescaled[exp[0]]), abs=1e-4)
    assert torch.equal(cut.dp[[0, 2]], free.dp[[0, 2]])  # frames without that motion: unchanged


def test_the_default_and_the_command_line_value() -> None:
    assert ReenactOptions().expression_limit == EXPRESSION_LIMIT == 6.0  # the generated faces' whole range
    assert limit_of(None) == EXPRESSION_LIMIT and limit_of(0.0) is None and limit_of(4.5) == 4.5
