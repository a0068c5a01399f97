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


def test_joint_tuning_fits_every_photo(setup) -> None:
    """Two photos of one 'person' (two targets, a pivot each): one tuned generator fits both."""
    g, start, target = setup
    with torch.no_grad():
        other_start = start + 0.3 * torch.randn(start.shape, generator=torch.Generator().manual_seed(3))
        other = (target + 0.2 * torch.randn(target.shape, generator=torch.Generator().manual_seed(4))).clamp(-1, 1)
    pivots, targets = torch.cat([start, other_start]), torch.cat([target, other])
    result = tune(g, pivots, targets, preset="pti", steps=30, lr=0.01, perceptual=None, progress=False)
    with torch.no_grad():
        for i in range(2):
            before = F.mse_loss(render_with_noise(g, pivots[i:i + 1], 32), targets[i:i + 1])
            after = F.mse_loss(render_with_noise(result.generator, pivots[i:i + 1], 32), targets[i:i + 1])
            assert after < 0.8 * before, i
    with pytest.raises(ValueError, match="one per target"):
        tune(g, start, targets, preset="pti", steps=1, perceptual=None, progress=False)


def test_invert_with_more_photos_of_the_person(tmp_path) -> None:
    import numpy as np
    from click.testing import CliRunner

    from latentreenact.cli.main import cli
    from tiny_reenactor import SIZE, tiny_reenactor

    r = tiny_reenactor()
    rng = np.random.default_rng(0)
    photos = [(rng.random((SIZE, SIZE, 3)) * 200 + 40).astype(np.uint8) for _ in range(2)]
    src = r.invert(photos[0], align=False, tune="pti", tune_steps=2, perceptual="none", also=[photos[1]],
                   check_identity=False)
    assert src.info["photos"] == 2 and src.wplus.shape[0] == 1 and src.generator is not r.generator
    with pytest.raises(ValueError, match="used only by tuning"):
        r.invert(photos[0], align=False, tune="none", also=[photos[1]])
    with pytest.raises(ValueError, match="one entry per extra photo"):
        r.invert(photos[0], align=False, tune="pti", also=[photos[1]], also_landmarks=[])
    result = CliRunner().invoke(cli, ["edit", "--source", str(tmp_path / "a.png"), "--source", str(tmp_path / "b.png"),
                                      "--tune", "none", "--yaw", "5", "-o", str(tmp_path / "e.png")])
    assert result.exit_code == 3 and "a.png" in result.output  # missing files first
    for name, photo in zip(("a.png", "b.png"), photos):
        from PIL import Image
        Image.fromarray(photo).save(tmp_path / name)
    result = CliRunner().invoke(cli, ["edit", "--source", str(tmp_path / "a.png"), "--source", str(tmp_path / "b.png"),
                                      "--tune", "none", "--yaw", "5", "-o", str(tmp_path / "e.png")])
    assert result.exit_code == 5 and "does not tune" in result.output and not (tmp_path / "e.png").exists()
