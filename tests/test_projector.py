"""The latent projector (inversion.projector) on a tiny StyleGAN2."""

from __future__ import annotations

import pytest
import torch

from fixtures.face_photos import single_thread
from helpers import tiny_generator
from inversion.losses import noise_regularization, normalize_noise_
from inversion.projector import learning_rate, project

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    g = tiny_generator(size=16)
    rng = torch.Generator().manual_seed(1)
    with torch.no_grad():
        w = g.mapping(torch.randn(1, g.style_dim, generator=rng))
        wplus = w[:, None].repeat(1, g.n_latent, 1) + 0.3 * torch.randn(1, g.n_latent, g.style_dim, generator=rng)
        target = g.synthesis(wplus)
    return g, wplus, target


def _state(g: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in g.state_dict().items()}


def test_recovers_rendered_wplus(setup) -> None:  # type: ignore[no-untyped-def]
    g, wplus, target = setup
    before = _state(g)
    flags = [p.requires_grad for p in g.parameters()]
    result = project(g, target, steps=100, w_plus=True, perceptual=None, seed=0, progress=False)
    mse = result.losses["mse"]
    assert len(mse) == 100 and set(result.losses) == {"mse", "total"}
    assert mse[-1] < 0.02 * mse[0]
    assert torch.mean((result.image - target) ** 2) < 0.01
    assert result.wplus.shape == wplus.shape and result.noise is None
    torch.testing.assert_close(result.image, g.synthesis(result.wplus).detach())
    assert all(torch.equal(v, g.state_dict()[k]) for k, v in before.items())
    assert [p.requires_grad for p in g.parameters()] == flags and all(p.grad is None for p in g.parameters())


def test_seeded_determinism(setup) -> None:  # type: ignore[no-untyped-def]
    g, _, target = setup
    a = project(g, target, steps=8, perceptual=None, seed=3, progress=False)
    b = project(g, target, steps=8, perceptual=None, seed=3, progress=False)
    c = project(g, target, steps=8, perceptual=None, seed=4, progress=False)
    assert torch.equal(a.wplus, b.wplus) and a.losses == b.losses
    assert not torch.equal(a.wplus, c.wplus)


def test_noise_optimisation_keeps_noise_normalised(setup) -> None:  # type: ignore[no-untyped-def]
    g, _, target = setup
    stored = [n.clone() for n in g.stored_noise()]
    result = project(g, target, steps=15, perceptual=None, optimize_noise=True, progress=False)
    assert "noise_reg" in result.losses and len(result.losses["noise_reg"]) == 15
    maps = [n for n in result.noise if n is not None]
    assert len(maps) == len(stored)
    for n in maps:
        assert abs(float(n.mean())) < 1e-5 and abs(float(n.std()) - 1) < 1e-4
    assert any(not torch.allclose(n, s / s.std()) for n, s in zip(maps, stored))  # they were optimised
    assert all(torch.equal(a, b) for a, b in zip(stored, g.stored_noise()))
    assert result.losses["mse"][-1] < result.losses["mse"][0]


def test_w_mode_start_and_pluggable_losses(setup) -> None:  # type: ignore[no-untyped-def]
    g, wplus, target = setup
    calls = []

    def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return (x - y).abs().flatten(1).mean(1)

    result = project(g, target, steps=5, perceptual=l1, identity=l1, identity_weight=0.5,
                     progress=False)
    assert torch.equal(result.wplus, result.wplus[:, :1].expand_as(result.wplus))
    assert {"mse", "perceptual", "identity", "total"} == set(result.losses) and len(calls) == 10
    # started from the true W+ without latent noise: the first loss is ~0
    exact = project(g, target, steps=1, w_plus=True, start=wplus, initial_noise_factor=0.0, perceptual=None,
                    progress=False)
    assert exact.losses["mse"][0] < 1e-10


def test_bad_inputs(setup) -> None:  # type: ignore[no-untyped-def]
    g, wplus, target = setup
    with pytest.raises(ValueError, match="target"):
        project(g, target[0], steps=1, perceptual=None, progress=False)
    with pytest.raises(ValueError, match="exceeds"):
        project(g, torch.zeros(1, 3, 32, 32), steps=1, perceptual=None, progress=False)
    with pytest.raises(ValueError, match="start"):
        project(g, target, steps=1, start=wplus[:, :3], perceptual=None, progress=False)
    with pytest.raises(ValueError, match="perceptual"):
        project(g, target, steps=1, perceptual="lpips-please", progress=False)


def test_learning_rate_ramp_and_noise_helpers() -> None:
    assert learning_rate(0.0, 0.1) == 0.0
    assert learning_rate(0.5, 0.1) == pytest.approx(0.1)
    assert learning_rate(0.99, 0.1) < 0.001
    assert learning_rate(0.025, 0.1) == pytest.approx(0.05)
    rng = torch.Generator().manual_seed(0)
    white = [torch.randn(1, 1, 32, 32, generator=rng)]
    smooth = [torch.nn.functional.interpolate(torch.randn(1, 1, 4, 4, generator=rng), size=32, mode="bilinear")]
    normalize_noise_(smooth)
    assert abs(float(smooth[0].std()) - 1) < 1e-5
    assert noise_regularization(white) < 0.01 < noise_regularization(smooth)
