"""Properties of the generator and discriminator beyond the golden vectors."""

import pytest
import torch

from latentreenact.models.discriminator import StyleGAN2Discriminator
from latentreenact.models.stylegan2_layers import set_formulation

from helpers import tiny_generator


def test_default_equals_reference_formulation_with_grads():
    g = tiny_generator(size=32, dtype=torch.float64)
    w = torch.randn(3, g.n_latent, g.style_dim, dtype=torch.float64, requires_grad=True)
    outs, grads = [], []
    for form in ("reference", "default"):
        set_formulation(g, form)
        img = g.synthesis(w, noise_mode="const")
        grads.append(torch.autograd.grad(img.square().sum(), w)[0])
        outs.append(img)
    assert torch.allclose(outs[0], outs[1], atol=1e-10) and torch.allclose(grads[0], grads[1], atol=1e-10)


def test_identical_wplus_rows_equal_single_w():
    g = tiny_generator()
    w = g.mapping(torch.randn(2, g.style_dim))
    with torch.no_grad():
        a, _ = g([w], input_is_latent=True, randomize_noise=False)
        b = g.synthesis(w[:, None].repeat(1, g.n_latent, 1))
    assert torch.equal(a, b)


def test_noise_modes_and_seeded_random_noise():
    g = tiny_generator()
    w = torch.randn(2, g.n_latent, g.style_dim)
    with torch.no_grad():
        const = g.synthesis(w, noise_mode="const")
        none = g.synthesis(w, noise_mode="none")
        r1 = g.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(3))
        r2 = g.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(3))
        r3 = g.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(4))
        zero_noise = g.synthesis(w, noise=[torch.zeros_like(n) for n in g.stored_noise()])
    assert torch.equal(r1, r2) and not torch.equal(r1, r3)
    assert not torch.equal(const, none)
    assert torch.allclose(zero_noise, none, atol=1e-6)


def test_truncation_psi_zero_gives_centre_image():
    g = tiny_generator()
    centre = g.mean_latent(64, seed=0)
    assert torch.equal(centre, g.mean_latent(64, seed=0))
    with torch.no_grad():
        img, lat = g([torch.randn(2, g.style_dim)], truncation=0.0, truncation_latent=centre,
                     randomize_noise=False, return_latents=True)
    assert torch.allclose(lat, centre[:, None].expand_as(lat))
    # Same latent in both rows; batched CPU kernels are not bit-identical per row, so compare to 1e-5.
    assert (img[0] - img[1]).abs().max().item() <= 1e-5


def test_truncation_needs_centre_and_bad_shapes_rejected():
    g = tiny_generator()
    with pytest.raises(ValueError, match="truncation_latent"):
        g([torch.randn(1, g.style_dim)], truncation=0.5)
    with pytest.raises(ValueError, match="W\\+ must be"):
        g.synthesis(torch.randn(1, g.n_latent + 1, g.style_dim))
    with pytest.raises(ValueError, match="noise_mode"):
        g.synthesis(torch.randn(1, g.n_latent, g.style_dim), noise_mode="loud")


def test_path_length_regulariser_double_backward():
    """Path-length regularisation differentiates a gradient: needs double backward through the ops."""
    g = tiny_generator(size=8, style_dim=4, dtype=torch.float64).train()

    def path_penalty(w):
        img = g.synthesis(w, noise_mode="const")
        noise = torch.ones_like(img) / img.shape[2]
        (grad,) = torch.autograd.grad((img * noise).sum(), w, create_graph=True)
        return grad.square().sum()

    w = torch.randn(1, g.n_latent, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(path_penalty, (w,))
    path_penalty(w).backward()
    assert all(p.grad is not None for n, p in g.named_parameters() if n.startswith(("convs", "conv1")))


def test_discriminator_keys_shapes_and_r1():
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(16, channels={4: 4, 8: 3, 16: 2}).double()
    keys = set(d.state_dict())
    for k in ("convs.0.0.weight", "convs.0.1.bias", "convs.1.conv1.0.weight", "convs.1.conv2.0.kernel",
              "convs.1.conv2.1.weight", "convs.1.skip.1.weight", "final_conv.0.weight", "final_linear.1.bias"):
        assert k in keys
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    assert d(x).shape == (4, 1)
    assert d(x[:3]).shape == (3, 1)  # batch not divisible by the stddev group

    def r1(img):
        (grad,) = torch.autograd.grad(d(img).sum(), img, create_graph=True)
        return grad.square().sum()

    # R1's own gradient (a double backward through the ops) against central differences along
    # random directions: <grad r1(x), v> == (r1(x + eps v) - r1(x - eps v)) / (2 eps)
    x0 = x[:2].detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(r1(x0), x0)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(x0.shape, dtype=torch.float64, generator=gen)
        eps = 1e-5
        numeric = (r1((x0 + eps * v).detach().requires_grad_()) - r1((x0 - eps * v).detach().requires_grad_())) / (2 * eps)
        assert torch.allclose((grad * v).sum(), numeric, rtol=1e-5, atol=1e-8)


def test_demodulation_cache_follows_in_place_weight_updates():
    """The inference-time cache of sum_k W^2 must see optimiser-style in-place updates."""
    g = tiny_generator()
    w = torch.randn(1, g.n_latent, g.style_dim)
    fresh = tiny_generator()
    with torch.no_grad():
        g.synthesis(w)  # fills the caches
        for p, q in zip(g.parameters(), fresh.parameters()):
            p.mul_(1.5).add_(0.01)  # in place, as an optimiser step does
            q.mul_(1.5).add_(0.01)
        assert torch.allclose(g.synthesis(w), fresh.synthesis(w), atol=1e-6)
    with torch.inference_mode():
        assert torch.allclose(g.synthesis(w), fresh.synthesis(w), atol=1e-6)
    img = g.synthesis(w)  # grad mode: no cached (graph-less) tensors leak into autograd
    img.sum().backward()
    assert g.convs[0].conv.weight.grad is not None
