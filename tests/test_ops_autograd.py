"""The CUDA ops' autograd Functions, run on CPU with the PyTorch path standing in for the kernels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stylegan2_ops._cuda import (
    bias_act_function,
    torch_bias_act_kernel,
    torch_upfirdn2d_kernel,
    upfirdn2d_backward_params,
    upfirdn2d_function,
)
from stylegan2_ops.bias_act import ACTIVATIONS, _bias_act_torch
from stylegan2_ops.upfirdn2d import _upfirdn2d_torch, as_2d_kernel, parse_pad, parse_scale

# (up, down, pad, kernel shape, input H, W): ints, (x, y) pairs, 2- and 4-entry pads, negative pads
UPFIRDN_CASES = [
    (1, 1, (1, 1), (4, 4), 7, 9),
    (2, 1, (2, 1), (4, 4), 5, 6),
    (1, 2, (1, 1), (4, 4), 8, 7),
    (2, 2, (1, 2), (4, 4), 5, 7),
    ((2, 1), (1, 2), (0, 1, 2, 0), (3, 5), 6, 8),
    (1, 1, (-1, 2), (4, 4), 8, 8),
    ((3, 2), (2, 3), (-2, 1, 3, -1), (3, 2), 7, 6),
    ((1, 4), (3, 1), (2, -1, -2, 3), (2, 5), 9, 5),
]


def _params(up, down, pad):
    ux, uy = parse_scale(up, "up")
    dx, dy = parse_scale(down, "down")
    return (ux, uy, dx, dy) + parse_pad(pad)


def _upfirdn(x, f, params):
    return upfirdn2d_function(x, f, *params, kernel=torch_upfirdn2d_kernel)


def _bias_act(x, b, dim, act, alpha, gain, clamp=None):
    return bias_act_function(x, b, dim, act, alpha, gain, clamp, torch_bias_act_kernel)


def _assert_grad_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max().clamp_min(1e-12)
    assert ((actual - expected).abs().max() / scale).item() < 1e-3


@pytest.fixture(scope="module")
def ops_golden(golden_dir: Path) -> dict:
    return torch.load(golden_dir / "ops" / "ops.pt", map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------------- golden
def test_upfirdn2d_function_matches_golden(ops_golden: dict) -> None:
    for case in ops_golden["upfirdn2d"]:
        x = case["x"].clone().requires_grad_(True)
        f = as_2d_kernel(case["kernel"])
        y = _upfirdn(x, f, _params(case["up"], case["down"], case["pad"]))
        assert y.shape == case["y"].shape
        assert (y - case["y"]).abs().max().item() < 1e-4
        (grad_x,) = torch.autograd.grad((y * case["R"]).sum(), x)
        _assert_grad_close(grad_x, case["grad_x"])


def test_bias_act_function_matches_golden(ops_golden: dict) -> None:
    for case in ops_golden["fused_leaky_relu"]:
        x = case["x"].clone().requires_grad_(True)
        b = case["bias"].clone().requires_grad_(True)
        y = _bias_act(x, b, 1, "lrelu", case["negative_slope"], case["scale"])
        assert (y - case["y"]).abs().max().item() < 1e-4
        grad_x, grad_b = torch.autograd.grad((y * case["R"]).sum(), (x, b))
        _assert_grad_close(grad_x, case["grad_x"])
        _assert_grad_close(grad_b, case["grad_bias"])


# ---------------------------------------------------------------------------------- upfirdn2d
@pytest.mark.parametrize("up, down, pad, kshape, h, w", UPFIRDN_CASES)
def test_upfirdn2d_function_equals_torch_path(up, down, pad, kshape, h, w) -> None:
    g = torch.Generator().manual_seed(1)
    params = _params(up, down, pad)
    x = torch.randn(2, 3, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    f = torch.randn(kshape, generator=g, dtype=torch.float64)
    y = _upfirdn(x, f, params)
    y_ref = _upfirdn2d_torch(x, f, *params)
    torch.testing.assert_close(y, y_ref)
    r = torch.randn(y.shape, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    # first and second derivatives (wrt the output gradient) agree with autograd of the torch path
    (gx,) = torch.autograd.grad(y, x, r, create_graph=True)
    (gx_ref,) = torch.autograd.grad(y_ref, x, r, create_graph=True)
    torch.testing.assert_close(gx, gx_ref)
    (ggr,) = torch.autograd.grad((gx * v).sum(), r)
    (ggr_ref,) = torch.autograd.grad((gx_ref * v).sum(), r)
    torch.testing.assert_close(ggr, ggr_ref)


@pytest.mark.parametrize("up, down, pad, kshape, h, w", UPFIRDN_CASES)
def test_upfirdn2d_gradcheck_and_gradgradcheck(up, down, pad, kshape, h, w) -> None:
    g = torch.Generator().manual_seed(2)
    params = _params(up, down, pad)
    x = torch.randn(1, 2, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    f = torch.randn(kshape, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: _upfirdn(t, f, params), (x,))
    assert torch.autograd.gradgradcheck(lambda t: _upfirdn(t, f, params), (x,))


@pytest.mark.parametrize("up, down, pad, kshape, h, w", UPFIRDN_CASES)
def test_upfirdn2d_backward_pad_formula(up, down, pad, kshape, h, w) -> None:
    g = torch.Generator().manual_seed(3)
    params = _params(up, down, pad)
    x = torch.randn(2, 2, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    f = torch.randn(kshape, generator=g, dtype=torch.float64)
    y = _upfirdn2d_torch(x, f, *params)
    r = torch.randn(y.shape, generator=g, dtype=torch.float64)
    (expected,) = torch.autograd.grad(y, x, r)
    back = upfirdn2d_backward_params(h, w, kshape[0], kshape[1], params)
    actual = _upfirdn2d_torch(r, f.flip([0, 1]), *back)
    assert actual.shape == x.shape
    torch.testing.assert_close(actual, expected)
    # the adjoint of the adjoint is the forward op again
    forward_again = _upfirdn2d_torch(x.detach(), f, *upfirdn2d_backward_params(
        y.shape[2], y.shape[3], kshape[0], kshape[1], back))
    torch.testing.assert_close(forward_again, y.detach())


def test_upfirdn2d_kernel_gets_no_gradient() -> None:
    x = torch.randn(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    f = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    _upfirdn(x, f, (2, 2, 1, 1, 1, 1, 1, 1)).sum().backward()
    assert x.grad is not None and f.grad is None


# ----------------------------------------------------------------------------------- bias_act
@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("dim", [1, -1])
def test_bias_act_gradcheck_and_gradgradcheck(act: str, with_bias: bool, dim: int) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    dim = dim % x.ndim
    b = torch.randn(x.shape[dim], generator=g, dtype=torch.float64, requires_grad=True) if with_bias else None
    inputs = (x, b) if with_bias else (x,)

    def fn(*args):
        return _bias_act(args[0], args[1] if with_bias else None, dim, act, 0.2, 1.3)

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("clamp", [None, 0.6])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_bias_act_function_equals_torch_path(act: str, clamp, dim: int) -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(x.shape[dim], generator=g, dtype=torch.float64, requires_grad=True)
    alpha, gain = 0.3, 1.7
    y = _bias_act(x, b, dim, act, alpha, gain, clamp)
    y_ref = _bias_act_torch(x, b, dim, ACTIVATIONS[act], alpha, gain, clamp)
    torch.testing.assert_close(y, y_ref)
    r = torch.randn(y.shape, generator=g, dtype=torch.float64, requires_grad=True)
    grads = torch.autograd.grad(y, (x, b), r, create_graph=True)
    grads_ref = torch.autograd.grad(y_ref, (x, b), r, create_graph=True)
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want)
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    second = torch.autograd.grad((grads[0] * v).sum(), (r, x, b), allow_unused=True)
    second_ref = torch.autograd.grad((grads_ref[0] * v).sum(), (r, x, b), allow_unused=True)
    for got, want, wrt in zip(second, second_ref, (r, x, b)):  # None means zero
        got = torch.zeros_like(wrt) if got is None else got
        want = torch.zeros_like(wrt) if want is None else want
        torch.testing.assert_close(got, want)


def test_bias_act_clamp_gradcheck() -> None:
    g = torch.Generator().manual_seed(6)
    x = torch.randn(4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    fn = lambda t, c: _bias_act(t, c, 1, "lrelu", 0.2, 2 ** 0.5, 0.8)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_bias_act_one_dimensional_bias_gradient() -> None:
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, c: _bias_act(t, c, 0, "relu", 0.0, 2.0), (x, b))


def test_bias_act_rejects_other_activations() -> None:
    with pytest.raises(ValueError, match="tanh"):
        _bias_act(torch.zeros(2, 2), None, 1, "tanh", 0.0, 1.0)
