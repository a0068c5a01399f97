"""stylegan2_ops.conv3x3: Winograd F(4x4, 3x3) against the direct convolution, in closed form and by gradients."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F

from stylegan2_ops.conv3x3 import _transforms, conv3x3, winograd_pays, winograd_weight
from latentreenact.models.stylegan2_layers import ModulatedConv2d, set_conv_impl, set_formulation


def _data(n, c, o, h, w, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, h, w, generator=g, dtype=dtype),
            torch.randn(o, c, 3, 3, generator=g, dtype=dtype) / (9 * c) ** 0.5)


@pytest.mark.parametrize("shape", [(1, 3, 5, 8, 8), (2, 4, 6, 7, 9), (1, 2, 3, 1, 1), (3, 5, 2, 4, 13)])
def test_winograd_equals_direct_in_float64(shape):
    """Exact arithmetic identity: in float64 the two agree to rounding, for any size (whole and partial tiles)."""
    x, w = _data(*shape)
    assert torch.allclose(conv3x3(x, w, impl="winograd"), F.conv2d(x, w, padding=1), atol=1e-12, rtol=0)


def test_closed_form_single_tap():
    """A kernel with one tap shifts the image: the centre tap copies it, a corner tap shifts it by one pixel."""
    x = torch.arange(2 * 6 * 7, dtype=torch.float32).reshape(1, 2, 6, 7)
    w = torch.zeros(2, 2, 3, 3)
    w[0, 0, 1, 1] = 1.0  # output 0 = input 0
    w[1, 1, 0, 0] = 2.0  # output 1 = 2 * input 1 shifted down and right, zero-padded
    y = conv3x3(x, w, impl="winograd")
    assert torch.allclose(y[0, 0], x[0, 0], atol=1e-4)
    shifted = torch.zeros(6, 7)
    shifted[1:, 1:] = 2 * x[0, 1, :-1, :-1]
    assert torch.allclose(y[0, 1], shifted, atol=1e-3)


def test_float32_error_is_that_of_the_direct_convolution():
    x, w = _data(1, 256, 256, 32, 32, dtype=torch.float32)
    exact = F.conv2d(x.double(), w.double(), padding=1)
    scale = exact.abs().max().item()
    assert (conv3x3(x, w, impl="winograd").double() - exact).abs().max().item() <= 3e-5 * scale
    assert (conv3x3(x, w, impl="direct").double() - exact).abs().max().item() <= 3e-5 * scale


def test_gradients_match_the_direct_convolution():
    x, w = _data(2, 4, 3, 6, 10)
    up = torch.randn(2, 3, 6, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grads = []
    for impl in ("direct", "winograd"):
        xi, wi = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        (conv3x3(xi, wi, impl=impl) * up).sum().backward()
        grads.append((xi.grad, wi.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-12)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-12)


def test_gradcheck():
    x, w = _data(1, 2, 2, 5, 6)
    assert torch.autograd.gradcheck(lambda a, b: conv3x3(a, b, impl="winograd"),
                                    (x.requires_grad_(True), w.requires_grad_(True)))


def test_transformed_weight_is_used_as_given():
    x, w = _data(1, 3, 4, 8, 8)
    assert torch.allclose(conv3x3(x, w, impl="winograd", transformed=winograd_weight(w)),
                          conv3x3(x, w, impl="winograd"))
    assert not torch.allclose(conv3x3(x, w, impl="winograd", transformed=winograd_weight(2 * w)),
                              conv3x3(x, w, impl="winograd"))


def test_auto_rule():
    big = torch.zeros(1, 512, 32, 32)
    assert winograd_pays(big, 512, weight_grad=False)
    assert not winograd_pays(big, 512, weight_grad=True)  # the weight transform's gradient costs too much
    assert winograd_pays(torch.zeros(1, 512, 64, 64), 512, weight_grad=True)
    assert not winograd_pays(torch.zeros(1, 128, 64, 64), 128, weight_grad=False)  # few channels
    assert not winograd_pays(torch.zeros(1, 512, 16, 16), 512, weight_grad=False)  # gains less than its memory
    assert not winograd_pays(big.half(), 512, weight_grad=False)
    assert not winograd_pays(torch.zeros(1, 512, 32, 32, device="meta"), 512, weight_grad=False)  # not a CPU


def test_bad_arguments():
    x, w = _data(1, 3, 4, 8, 8)
    with pytest.raises(ValueError, match="impl"):
        conv3x3(x, w, impl="fast")
    with pytest.raises(ValueError, match=r"\[out, C, 3, 3\]"):
        conv3x3(x, w[:, :2])
    with pytest.raises(ValueError, match=r"\[out, in, 3, 3\]"):
        winograd_weight(w[..., :2])


@pytest.mark.parametrize("batch", [1, 3])
def test_modulated_convolution_uses_it_and_equals_the_reference(batch):
    """A 256-channel modulated layer at 32 px takes the Winograd path and matches the grouped reference."""
    torch.manual_seed(0)
    layer = ModulatedConv2d(256, 256, 3, style_dim=16).eval().requires_grad_(False)
    x = torch.randn(batch, 256, 32, 32).contiguous(memory_format=torch.channels_last)
    style = torch.randn(batch, 16)
    assert winograd_pays(x, 256, weight_grad=False)
    with torch.no_grad():
        fast = set_formulation(layer, "default")(x, style)
        ref = set_formulation(layer, "reference")(x, style)
    assert (fast - ref).abs().max().item() <= 1e-4 * ref.abs().max().item()
    # the cached transform follows an in-place change of the weight
    with torch.no_grad():
        layer.weight.mul_(-1)
        flipped = set_formulation(layer, "default")(x, style)
    assert torch.allclose(flipped, -fast, atol=1e-5 * fast.abs().max().item())


def test_autograd_after_a_call_in_inference_mode():
    """The transform matrices are cached: made first under inference_mode they must still serve autograd."""
    _transforms.cache_clear()
    x, w = _data(1, 2, 2, 4, 4, dtype=torch.float32)
    with torch.inference_mode():
        conv3x3(x, w, impl="winograd")
    xg = x.clone().requires_grad_(True)
    conv3x3(xg, w, impl="winograd").sum().backward()
    assert xg.grad is not None


def test_set_conv_impl_switches_the_layers():
    torch.manual_seed(0)
    layer = ModulatedConv2d(8, 8, 3, style_dim=4).eval().requires_grad_(False)
    x, style = torch.randn(2, 8, 8, 8, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    layer.double()
    with torch.no_grad():
        outs = {impl: set_conv_impl(layer, impl)(x, style) for impl in ("direct", "winograd", "auto")}
    assert layer.conv_impl == "auto"
    assert torch.allclose(outs["direct"], outs["winograd"], atol=1e-12)
    assert not outs["winograd"].is_contiguous()  # the Winograd path ran: its output is stored channels last
    assert outs["direct"].is_contiguous()
    with pytest.raises(ValueError, match="conv impl"):
        set_conv_impl(layer, "fast")


@pytest.mark.parametrize("values", [1, 2 * 36 * 2 * 3 * 4])  # one tile row per band; two (the last one short)
def test_bands_of_tile_rows(monkeypatch, values):
    """Large maps are computed in bands of tile rows: the same values and gradients as one band."""
    op = importlib.import_module("stylegan2_ops.conv3x3")  # the module, which the package's function name hides

    x, w = _data(2, 4, 3, 19, 10)
    up = torch.randn(2, 3, 19, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(op, "CHUNK_VALUES", values)
    xi = x.clone().requires_grad_(True)  # bands are used when the weight needs no gradient
    y = conv3x3(xi, w, impl="winograd")
    (y * up).sum().backward()
    xd = x.clone().requires_grad_(True)
    (F.conv2d(xd, w, padding=1) * up).sum().backward()
    assert torch.allclose(y, F.conv2d(x, w, padding=1), atol=1e-12)
    assert torch.allclose(xi.grad, xd.grad, atol=1e-12)


def test_gradgradcheck():
    """Second derivatives (path-length and R1 regularisers differentiate a gradient)."""
    x, w = _data(1, 2, 2, 5, 5)
    assert torch.autograd.gradgradcheck(lambda a, b: conv3x3(a, b, impl="winograd"),
                                        (x.requires_grad_(True), w.requires_grad_(True)))
