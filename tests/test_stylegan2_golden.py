"""Golden parity: our generator reproduces the reference implementation's outputs."""

import pytest
import torch

from latentreenact import load_generator
from latentreenact.models.stylegan2_layers import set_conv_impl, set_formulation

IMG_TOL = 1e-4
GRAD_TOL = 1e-3


@pytest.fixture(scope="module")
def vectors(golden_dir):
    return torch.load(golden_dir / "stylegan2_64" / "vectors.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="module", params=["default", "reference", "winograd"])
def generator(request, golden_dir):
    """The golden generator in each formulation; ``winograd``: the default one with every 3x3 convolution
    that does not upsample by Winograd (its channels are too few for ``auto`` to take it)."""
    g = load_generator(golden_dir / "stylegan2_64" / "generator.pt")
    if request.param == "winograd":
        return set_conv_impl(set_formulation(g, "default"), "winograd")
    return set_formulation(g, request.param)


def close(a, b, tol=IMG_TOL):
    return (a - b).abs().max().item() <= tol


def test_architecture_inferred(generator, golden_dir):
    import json

    meta = json.loads((golden_dir / "stylegan2_64" / "meta.json").read_text())
    assert generator.resolution == meta["size"]
    assert generator.style_dim == meta["style_dim"]
    assert generator.n_mlp == meta["n_mlp"]
    assert generator.n_latent == meta["n_latent"]
    assert generator.num_layers == meta["num_layers"]
    assert {str(k): v for k, v in generator.channels.items()} == meta["channels"]
    n_params = sum(p.numel() for p in generator.parameters())
    assert n_params == meta["params"]
    assert not generator.training


def test_mapping(generator, vectors):
    with torch.no_grad():
        assert close(generator.mapping(vectors["z"]), vectors["w_from_z"])


def test_image_from_z(generator, vectors):
    with torch.no_grad():
        img, latent = generator([vectors["z"]], return_latents=True, randomize_noise=False)
    assert close(img, vectors["img_z"]) and close(latent, vectors["latent_z"])


def test_truncation(generator, vectors):
    with torch.no_grad():
        img, _ = generator([vectors["z"]], truncation=0.7, truncation_latent=vectors["mean_latent"],
                           randomize_noise=False)
    assert close(img, vectors["img_trunc"])


def test_style_mixing(generator, vectors):
    with torch.no_grad():
        img, latent = generator([vectors["z"], vectors["z2"]], inject_index=3, return_latents=True,
                                randomize_noise=False)
    assert close(img, vectors["img_mix"]) and close(latent, vectors["latent_mix"])


def test_wplus_input(generator, vectors):
    with torch.no_grad():
        img, _ = generator([vectors["wplus"]], input_is_latent=True, randomize_noise=False)
        via_synthesis = generator.synthesis(vectors["wplus"], noise_mode="const")
    assert close(img, vectors["img_wplus"]) and close(via_synthesis, vectors["img_wplus"])


def test_explicit_noise(generator, vectors):
    with torch.no_grad():
        img, _ = generator([vectors["wplus"]], input_is_latent=True, noise=vectors["noise"])
    assert close(img, vectors["img_wplus_noise"])


def test_wplus_gradient(generator, vectors, request):
    if request.node.callspec.params["generator"] == "winograd":
        pytest.skip("float32 W+ gradients are compared for the default and reference formulations; Winograd's "
                    "rounding flips one leaky ReLU at 64 px, a jump in the gradient, not an error: its gradient "
                    "is checked in float64 by test_wplus_gradient_winograd_float64")
    w = vectors["wplus"].clone().requires_grad_(True)
    img, _ = generator([w], input_is_latent=True, randomize_noise=False)
    (img * vectors["grad_R"]).sum().backward()
    ref = vectors["grad_wplus"]
    assert (w.grad - ref).abs().max().item() <= GRAD_TOL * ref.abs().max().item()


def test_wplus_gradient_winograd_float64(golden_dir, vectors):
    """In float64 (no rounding to flip an activation's sign) the W+ gradient through Winograd convolutions equals
    the direct convolutions' to 1e-10 of its size, and both match the reference implementation's gradient."""
    grads = {}
    for impl in ("direct", "winograd"):
        g = set_conv_impl(set_formulation(load_generator(golden_dir / "stylegan2_64" / "generator.pt"), "default"),
                          impl).double()
        w = vectors["wplus"].double().clone().requires_grad_(True)
        img, _ = g([w], input_is_latent=True, randomize_noise=False)
        (img * vectors["grad_R"].double()).sum().backward()
        grads[impl] = w.grad
    ref = vectors["grad_wplus"].double()
    assert (grads["winograd"] - grads["direct"]).abs().max().item() <= 1e-10 * ref.abs().max().item()
    assert (grads["winograd"] - ref).abs().max().item() <= GRAD_TOL * ref.abs().max().item()


def test_batch_one_matches_batched(generator, vectors):
    """The batch-1 path (weight modulation) equals the batched path (activation modulation)."""
    with torch.no_grad():
        single = generator.synthesis(vectors["wplus"][:1], noise_mode="const")
    assert close(single, vectors["img_wplus"][:1])


def test_strict_load_state_dict_of_the_common_port(golden_dir, vectors):
    """The common port's state dicts have no ``latent_avg``: a strict load still works."""
    from latentreenact.models.stylegan2 import StyleGAN2Generator

    ckpt = torch.load(golden_dir / "stylegan2_64" / "generator.pt", map_location="cpu", weights_only=False)
    state = ckpt["g_ema"]
    assert "latent_avg" not in state
    reference = load_generator(golden_dir / "stylegan2_64" / "generator.pt")
    g = StyleGAN2Generator(**reference.config)
    g.set_latent_avg(torch.ones(g.style_dim))
    result = g.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert not g.has_latent_avg and torch.count_nonzero(g.latent_avg) == 0
    with torch.no_grad():
        img = g.eval()([vectors["wplus"]], input_is_latent=True, randomize_noise=False)[0]
    assert close(img, vectors["img_wplus"])
    # A state dict that carries latent_avg loads it; a wrong key is still an error.
    g.load_state_dict({**state, "latent_avg": torch.full((g.style_dim,), 0.5)}, strict=True)
    assert torch.allclose(g.latent_avg, torch.full((g.style_dim,), 0.5))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        g.load_state_dict({**state, "bogus": torch.zeros(1)}, strict=True)
    with pytest.raises(RuntimeError, match="Missing key"):
        g.load_state_dict({k: v for k, v in state.items() if k != "input.input"}, strict=True)
