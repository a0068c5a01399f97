"""Pivotal tuning (inversion.pti) on tiny StyleGAN2 generators."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fixtures.face_photos import single_thread
from helpers import tiny_generator
from inversion.pti import PRESETS, parameter_groups, released_layer_patterns, select_parameters, tune
from latentreenact.models.stylegan2 import StyleGAN2Generator

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    g = tiny_generator(size=32)
    rng = torch.Generator().manual_seed(2)
    with torch.no_grad():
        pivot = g.mapping(torch.randn(1, g.style_dim, generator=rng))[:, None].repeat(1, g.n_latent, 1)
        target = (g.synthesis(pivot) + 0.3 * torch.randn(1, 3, 32, 32, generator=rng)).clamp(-1, 1)
    return g, pivot, target


def _snapshot(g: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in g.state_dict().items()}


def test_presets_have_the_documented_values() -> None:
    released, pti = PRESETS["released"], PRESETS["pti"]
    assert (released.steps, released.lr, released.layers, released.mse_weight, released.perceptual_weight,
            released.stop_threshold) == (200, 3e-3, "released", 100.0, 1.0, None)
    assert (pti.steps, pti.lr, pti.layers, pti.mse_weight, pti.perceptual_weight, pti.stop_threshold) == \
        (350, 3e-4, "all", 1.0, 1.0, 0.06)


def test_released_selection_is_the_32_to_256_px_convs() -> None:
    g256 = StyleGAN2Generator(256, 8, 1, channels={2 ** i: 2 for i in range(2, 9)})
    assert released_layer_patterns(g256) == [f"convs.{i}.*" for i in range(4, 12)]
    names = select_parameters(g256, "released")
    assert names and all(n.split(".")[0] == "convs" and 4 <= int(n.split(".")[1]) <= 11 for n in names)
    assert len(names) == 8 * 5  # conv weight, modulation weight + bias, noise strength, activation bias
    assert select_parameters(g256, "all") == [n for n, _ in g256.named_parameters()]
    assert select_parameters(g256, ["to_rgbs.0.*"]) == [n for n, _ in g256.named_parameters()
                                                        if n.startswith("to_rgbs.0.")]
    with pytest.raises(ValueError, match="no synthesis layers at 32..256 px"):
        select_parameters(tiny_generator(size=16), "released")  # no layer at 32..256 px


def test_input_generator_unchanged_and_loss_reduced(setup) -> None:  # type: ignore[no-untyped-def]
    g, pivot, target = setup
    before = _snapshot(g)
    flags = [p.requires_grad for p in g.parameters()]
    result = tune(g, pivot, target, preset="pti", lr=3e-3, steps=25, perceptual=None, progress=False)
    assert all(torch.equal(v, g.state_dict()[k]) for k, v in before.items())
    assert [p.requires_grad for p in g.parameters()] == flags and all(p.grad is None for p in g.parameters())
    tuned = result.generator
    assert tuned is not g and not tuned.training and not any(p.requires_grad for p in tuned.parameters())
    with torch.no_grad():
        old, new = F.mse_loss(g.synthesis(pivot), target), F.mse_loss(tuned.synthesis(pivot), target)
    assert new < 0.7 * old
    assert result.steps_run == 25 and not result.stopped_early and len(result.losses["mse"]) == 25
    assert torch.equal(result.pivot, pivot)


def test_subset_changes_only_selected_parameters(setup) -> None:  # type: ignore[no-untyped-def]
    g, pivot, target = setup
    result = tune(g, pivot, target, preset="released", steps=5, perceptual=None, progress=False)
    selected = set(select_parameters(g, "released"))
    assert selected == {n for n, _ in g.named_parameters() if n.startswith(("convs.4.", "convs.5."))}
    original = dict(g.named_parameters())
    for name, p in result.generator.named_parameters():
        if name in selected:
            assert not torch.equal(p, original[name]), name
        else:
            assert torch.equal(p, original[name]), name
    for name, buf in result.generator.named_buffers():
        assert torch.equal(buf, dict(g.named_buffers())[name])


def test_early_stopping(setup) -> None:  # type: ignore[no-untyped-def]
    g, pivot, target = setup
    first = tune(g, pivot, target, preset="pti", steps=5, perceptual=None, stop_threshold=10.0, progress=False)
    assert first.stopped_early and first.steps_run == 0
    start = F.mse_loss(g.synthesis(pivot), target).item()
    mid = tune(g, pivot, target, preset="pti", lr=3e-3, steps=60, perceptual=None, stop_threshold=0.9 * start,
               progress=False)
    assert mid.stopped_early and 0 < mid.steps_run < 60 and mid.losses["mse"][-1] <= 0.9 * start
    pl = tune(g, pivot, target, preset="pti", steps=3, progress=False,
              perceptual=lambda x, y: (x - y).abs().mean(), stop_threshold=1e3)  # watches the perceptual loss
    assert pl.stopped_early and pl.steps_run == 0 and "perceptual" in pl.losses


def test_callback_sees_each_step_and_can_stop_the_tuning(setup) -> None:  # type: ignore[no-untyped-def]
    g, pivot, target = setup
    seen = []
    result = tune(g, pivot, target, preset="pti", steps=4, perceptual=None, progress=False, callback=seen.append)
    assert seen == [1, 2, 3, 4] and result.steps_run == 4

    def stop_after_two(steps: int) -> None:
        if steps == 2:
            raise TimeoutError("time is up")

    with pytest.raises(TimeoutError, match="time is up"):
        tune(g, pivot, target, preset="pti", steps=50, perceptual=None, progress=False, callback=stop_after_two)


def test_locality_regulariser_runs_and_is_seeded(setup) -> None:  # type: ignore[no-untyped-def]
    g, pivot, target = setup
    kwargs = dict(preset="pti", lr=3e-3, steps=6, perceptual=lambda x, y: (x - y).abs().mean(), locality_every=2,
                  locality_alpha=2.0, progress=False)
    a = tune(g, pivot, target, seed=5, **kwargs)
    b = tune(g, pivot, target, seed=5, **kwargs)
    assert len(a.losses["locality"]) == 3 and a.losses["locality"][0] == 0.0  # tuned == original at step 0
    assert a.losses["locality"][1] > 0
    assert a.losses == b.losses
    sa, sb = a.generator.state_dict(), b.generator.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bad_arguments(setup) -> None:  # type: ignore[no-untyped-def]
    g, pivot, target = setup
    with pytest.raises(ValueError, match="preset"):
        tune(g, pivot, target, preset="fast", perceptual=None, progress=False)
    with pytest.raises(ValueError, match="pivot"):
        tune(g, pivot[:, 0], target, perceptual=None, progress=False)


def test_learning_rate_scaling(setup) -> None:  # type: ignore[no-untyped-def]
    g, pivot, target = setup
    params = [p for n, p in g.named_parameters() if n.startswith("convs.4.")]
    assert parameter_groups(g, params, 0.1) == [{"params": params, "lr": 0.1}]  # StyleGAN2: equalized lr
    groups = parameter_groups(g, params, 0.1, "rms")
    for group, p in zip(groups, params):
        expected = 0.1 * max(float(p.detach().pow(2).mean().sqrt()), 1e-3) if p.ndim >= 2 else 0.1
        assert group["params"] == [p] and group["lr"] == pytest.approx(expected)
    assert parameter_groups(torch.nn.Linear(2, 2), params, 0.1)[0]["lr"] != 0.1  # not StyleGAN2: "rms"
    with pytest.raises(ValueError, match="lr_scaling"):
        parameter_groups(g, params, 0.1, "adaptive")
    result = tune(g, pivot, target, preset="released", steps=3, perceptual=None, lr_scaling="rms", progress=False)
    assert result.steps_run == 3
