"""Inversion recipes (inversion.recipes): the offset penalty's closed form, the pivot search, the locality
preset, and run_recipe's contract, on tiny StyleGAN2 generators (pixel losses only, so no SFace)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fixtures.face_photos import single_thread
from helpers import tiny_generator
from inversion.projector import project, render_with_noise, wplus_offset_penalty
from inversion.pti import PRESETS, locality_latents, tune
from inversion.recipes import DEFAULT_RECIPE, RECIPES, PivotSearch, get_recipe, run_recipe, search_pivot

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)
L1 = lambda x, y: (x - y).abs().mean()  # noqa: E731 - a cheap stand-in for the perceptual loss


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    g = tiny_generator(size=32)
    rng = torch.Generator().manual_seed(5)
    with torch.no_grad():
        w = g.mapping(torch.randn(2, g.style_dim, generator=rng))
        start = w[:1, None].repeat(1, g.n_latent, 1)  # the "encoder's" code
        target = g.synthesis(w[1:, None].repeat(1, g.n_latent, 1))  # another face of the generator
    return g, start, target


def test_offset_penalty_closed_form() -> None:
    w = torch.randn(1, 1, 5).repeat(1, 4, 1)
    assert float(wplus_offset_penalty(w)) == 0.0
    offsets = torch.zeros(1, 4, 5)
    offsets[0, 0, 0], offsets[0, 1, 0] = 1.0, -1.0  # mean offset 0; squared norms 1, 1, 0, 0
    assert float(wplus_offset_penalty(w + offsets)) == pytest.approx(0.5)
    assert float(wplus_offset_penalty(w + offsets, scale=2.0)) == pytest.approx(0.125)


def test_pivot_search_fits_the_target_and_the_penalty_holds_the_layers_together(setup) -> None:
    g, start, target = setup
    before = F.mse_loss(render_with_noise(g, start, 32), target)
    free = search_pivot(g, target, start, PivotSearch(steps=40, lr=0.05, offset_weight=0.0, identity_weight=0.0),
                        perceptual=L1, identity=None)
    held = search_pivot(g, target, start, PivotSearch(steps=40, lr=0.05, offset_weight=1e4, identity_weight=0.0),
                        perceptual=L1, identity=None)
    with torch.no_grad():
        assert F.mse_loss(render_with_noise(g, free, 32), target) < 0.7 * before
        assert F.mse_loss(render_with_noise(g, held, 32), target) < before
    assert float(wplus_offset_penalty(held)) < 0.1 * float(wplus_offset_penalty(free))


def test_offset_weight_is_ignored_in_w(setup) -> None:
    g, start, target = setup
    a = project(g, target, steps=3, start=start, perceptual=None, offset_weight=0.0, progress=False)
    b = project(g, target, steps=3, start=start, perceptual=None, offset_weight=1e6, progress=False)
    assert torch.equal(a.wplus, b.wplus) and "offset" not in b.losses


def test_locality_keeps_the_tuned_generator_closer_elsewhere(setup) -> None:
    """PTI's locality term: the same tuning with it moves the renders of nearby random codes less."""
    g, start, target = setup
    args = dict(preset="local", steps=25, lr=0.02, perceptual=L1, progress=False, seed=1)
    plain = tune(g, start, target, locality_every=0, **args).generator
    local = tune(g, start, target, **args).generator
    codes = locality_latents(g, start, 4, 30.0, 0.5, torch.Generator().manual_seed(9))
    with torch.no_grad():
        reference = render_with_noise(g, codes, 32)
        moved_plain = F.mse_loss(render_with_noise(plain, codes, 32), reference)
        moved_local = F.mse_loss(render_with_noise(local, codes, 32), reference)
    assert moved_local < 0.8 * moved_plain
    assert PRESETS["local"].locality_every == 1


def test_run_recipe_contract(setup) -> None:
    g, start, target = setup
    original = {k: v.clone() for k, v in g.state_dict().items()}
    pivot, tuned, info = run_recipe(g, start, target, "none")
    assert pivot is start and tuned is None and info == {"recipe": "none"}
    calls = []
    pivot, tuned, info = run_recipe(g, start, target, "editable", tune_steps=3, perceptual=L1, callback=calls.append)
    steps = RECIPES["editable"].pivot.steps
    assert calls == list(range(1, steps + 1)) + [steps + n for n in range(1, 4)]
    assert not torch.equal(pivot, start) and tuned is not g and info["tune_steps_run"] == 3
    assert all(torch.equal(v, original[k]) for k, v in g.state_dict().items())  # the shared generator is untouched

    def stop(n: int) -> None:
        if n == 2:
            raise TimeoutError("time limit")

    with pytest.raises(TimeoutError):
        run_recipe(g, start, target, "pivot", perceptual=L1, callback=stop)
    with pytest.raises(ValueError, match="unknown inversion recipe"):
        run_recipe(g, start, target, "fastest")
    assert get_recipe(None) is RECIPES["none"] and DEFAULT_RECIPE in RECIPES
