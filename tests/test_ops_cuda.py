"""CUDA plugin vs PyTorch path: forward, gradient, double gradient; golden cases on CUDA."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from stylegan2_ops import fused_bias_act, fused_leaky_relu, upfirdn2d

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA plugin tests skipped")
pytestmark = needs_cuda

UPFIRDN_CASES = [
    (1, 1, (1, 1), (4, 4), 17, 19),
    (2, 1, (2, 1), (4, 4), 16, 16),
    (1, 2, (1, 1), (4, 4), 32, 24),
    (2, 2, (1, 2), (4, 4), 13, 15),
    ((2, 1), (1, 2), (0, 1, 2, 0), (3, 5), 12, 20),
    (1, 1, (-1, 2), (4, 4), 20, 20),
    ((3, 2), (2, 3), (-2, 1, 3, -1), (3, 2), 14, 12),
    (4, 1, (3, 4), (8, 8), 9, 9),
]
DTYPES = {torch.float64: (1e-10, 1e-10), torch.float32: (1e-5, 1e-4), torch.float16: (2e-2, 2e-2)}


def _close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    """``actual`` (in ``dtype``) against ``expected`` (computed in float64), relative to its scale."""
    atol, rtol = DTYPES[dtype]
    scale = float(expected.detach().abs().max().clamp_min(1.0))
    torch.testing.assert_close(actual.detach().double(), expected.detach().double(), atol=atol * scale, rtol=rtol)


@pytest.fixture(scope="module", autouse=True)
def plugins_build() -> None:
    """Both plugins must build on a CUDA machine: a fallback warning fails the module."""
    from stylegan2_ops._plugin import PluginFallbackWarning, load_plugin

    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginFallbackWarning)
        for name in ("upfirdn2d", "bias_act"):
            assert load_plugin(name) is not None, f"the CUDA plugin {name!r} did not build"


def _upfirdn_both(x, f, up, down, pad, r, v):
    """(y, dy/dx . r, d(dx . v)/dr) for impl='cuda' and impl='torch' (the latter in float64)."""
    results = []
    for impl, xx, ff, rr in (("cuda", x, f, r), ("torch", x.double(), f.double(), r.double())):
        xx = xx.detach().requires_grad_(True)
        rr = rr.detach().requires_grad_(True)
        y = upfirdn2d(xx, ff, up, down, pad, impl=impl)
        (gx,) = torch.autograd.grad(y, xx, rr, create_graph=True)
        (ggr,) = torch.autograd.grad((gx * v.to(gx.dtype)).sum(), rr)
        results.append((y, gx, ggr))
    return results


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("up, down, pad, kshape, h, w", UPFIRDN_CASES)
def test_upfirdn2d_cuda_equals_torch(up, down, pad, kshape, h, w, dtype) -> None:
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(2, 3, h, w, device="cuda", generator=g).to(dtype)
    f = torch.rand(kshape, device="cuda", generator=g).to(dtype)
    f = f / f.sum()
    y_shape = upfirdn2d(x.double(), f.double(), up, down, pad, impl="torch").shape
    r = torch.randn(y_shape, device="cuda", generator=g).to(dtype)
    v = torch.randn(x.shape, device="cuda", generator=g).to(dtype)
    (y, gx, ggr), (y_ref, gx_ref, ggr_ref) = _upfirdn_both(x, f, up, down, pad, r, v)
    assert y.dtype == dtype and y.shape == y_ref.shape
    _close(y, y_ref, dtype)
    _close(gx, gx_ref, dtype)
    _close(ggr, ggr_ref, dtype)


@pytest.mark.parametrize("up, down, pad, kshape, h, w", UPFIRDN_CASES[:5])
def test_upfirdn2d_cuda_gradcheck(up, down, pad, kshape, h, w) -> None:
    x = torch.randn(1, 2, min(h, 8), min(w, 8), device="cuda", dtype=torch.float64, requires_grad=True)
    f = torch.randn(kshape, device="cuda", dtype=torch.float64)
    fn = lambda t: upfirdn2d(t, f, up, down, pad, impl="cuda")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_upfirdn2d_cuda_non_contiguous_input() -> None:
    x = torch.randn(2, 8, 12, 3, device="cuda").permute(0, 3, 1, 2)  # [2, 3, 8, 12], channels-last-ish
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], device="cuda")
    torch.testing.assert_close(
        upfirdn2d(x, f, up=2, pad=(2, 1), impl="cuda"), upfirdn2d(x, f, up=2, pad=(2, 1), impl="torch"),
        atol=1e-5, rtol=1e-5)


def test_upfirdn2d_cuda_checks_are_clear() -> None:
    from stylegan2_ops._plugin import load_plugin

    plugin = load_plugin("upfirdn2d")
    x = torch.zeros(1, 1, 4, 4, device="cuda")
    with pytest.raises(RuntimeError, match="same dtype"):
        plugin.upfirdn2d(x, torch.ones(2, 2, device="cuda", dtype=torch.float64), 1, 1, 1, 1, 0, 0, 0, 0)
    # Messages with numbers and shapes (formatting them once crashed the process: csrc/messages.h).
    with pytest.raises(RuntimeError, match=r"\[N, C, H, W\], got \[1, 4, 4\]"):
        plugin.upfirdn2d(x[0], torch.ones(2, 2, device="cuda"), 1, 1, 1, 1, 0, 0, 0, 0)
    with pytest.raises(RuntimeError, match="CUDA tensor"):
        plugin.upfirdn2d(x.cpu(), torch.ones(2, 2), 1, 1, 1, 1, 0, 0, 0, 0)
    with pytest.raises(RuntimeError, match=r"down factors must be >= 1, got \(0, 1\)"):
        plugin.upfirdn2d(x, torch.ones(2, 2, device="cuda"), 1, 1, 0, 1, 0, 0, 0, 0)
    with pytest.raises(RuntimeError, match=r"output would be empty \(3x0\) for input \[1, 1, 4, 4\]"):
        plugin.upfirdn2d(x, torch.ones(2, 2, device="cuda"), 1, 1, 1, 1, -4, 0, 0, 0)
    with pytest.raises(RuntimeError, match=r"x \(cuda:0\) and f \(cpu\)|CUDA tensor, got one on cpu"):
        plugin.upfirdn2d(x, torch.ones(2, 2), 1, 1, 1, 1, 0, 0, 0, 0)


def test_bias_act_cuda_checks_are_clear() -> None:
    from stylegan2_ops._plugin import load_plugin

    plugin = load_plugin("bias_act")
    x = torch.zeros(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match=r"dim must be in \[0, 2\) for x of shape \[2, 3\], got 5"):
        plugin.bias_act(x, None, None, 5, 0, 0.2, 1.0, -1.0)
    with pytest.raises(RuntimeError, match=r"bias must have shape \[3\] \(x has shape \[2, 3\] and dim is 1\), got \[4\]"):
        plugin.bias_act(x, torch.zeros(4, device="cuda"), None, 1, 0, 0.2, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="act must be 0 .*, got 7"):
        plugin.bias_act(x, None, None, 1, 7, 0.2, 1.0, -1.0)
    with pytest.raises(RuntimeError, match=r"bias must be on x's device cuda:0, got cpu"):
        plugin.bias_act(x, torch.zeros(3), None, 1, 0, 0.2, 1.0, -1.0)
    with pytest.raises(RuntimeError, match=r"ref must have the gradient's shape \[2, 3\], got \[3\]"):
        plugin.bias_act(x, None, torch.zeros(3, device="cuda"), 1, 1, 0.2, 1.0, -1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("clamp", [None, 0.5])
@pytest.mark.parametrize("dim, with_bias", [(1, True), (-1, True), (1, False), (0, True)])
def test_bias_act_cuda_equals_torch(dtype, act, clamp, dim, with_bias) -> None:
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(4, 6, 5, device="cuda", generator=g).to(dtype)
    b = torch.randn(x.shape[dim], device="cuda", generator=g).to(dtype) if with_bias else None
    r = torch.randn(x.shape, device="cuda", generator=g).to(dtype)
    v = torch.randn(x.shape, device="cuda", generator=g).to(dtype)
    results = []
    for impl, cast in (("cuda", lambda t: t), ("torch", lambda t: t.double())):
        xx = cast(x).detach().requires_grad_(True)
        bb = cast(b).detach().requires_grad_(True) if with_bias else None
        rr = cast(r).detach().requires_grad_(True)
        y = fused_bias_act(xx, bb, dim=dim, act=act, alpha=0.2, gain=1.4, clamp=clamp, impl=impl)
        inputs = (xx, bb) if with_bias else (xx,)
        grads = torch.autograd.grad(y, inputs, rr, create_graph=True)
        (ggr,) = torch.autograd.grad((grads[0] * cast(v)).sum(), rr)
        results.append((y, *grads, ggr))
    for got, want in zip(*results):
        assert got.dtype == dtype
        _close(got, want, dtype)


def test_bias_act_cuda_gradcheck() -> None:
    x = torch.randn(3, 4, 5, device="cuda", dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, device="cuda", dtype=torch.float64, requires_grad=True)
    for act in ("linear", "relu", "lrelu"):
        fn = lambda t, c: fused_bias_act(t, c, dim=1, act=act, impl="cuda")  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b))
        assert torch.autograd.gradgradcheck(fn, (x, b))


def test_bias_act_cuda_non_contiguous_input() -> None:
    x = torch.randn(5, 6, 7, device="cuda").transpose(0, 2)  # [7, 6, 5]
    b = torch.randn(6, device="cuda")
    torch.testing.assert_close(
        fused_leaky_relu(x, b, impl="cuda"), fused_leaky_relu(x, b, impl="torch"), atol=1e-6, rtol=1e-6)


# --------------------------------------------------------------------------------- golden
@pytest.fixture(scope="module")
def ops_golden(golden_dir: Path) -> dict:
    return torch.load(golden_dir / "ops" / "ops.pt", map_location="cpu", weights_only=True)


def _assert_grad_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max().clamp_min(1e-12)
    assert ((actual.cpu() - expected).abs().max() / scale).item() < 1e-3


def test_golden_upfirdn2d_on_cuda(ops_golden: dict) -> None:
    for case in ops_golden["upfirdn2d"]:
        x = case["x"].cuda().requires_grad_(True)
        y = upfirdn2d(x, case["kernel"].cuda(), case["up"], case["down"], case["pad"], impl="cuda")
        assert (y.cpu() - case["y"]).abs().max().item() < 1e-4
        (grad_x,) = torch.autograd.grad((y * case["R"].cuda()).sum(), x)
        _assert_grad_close(grad_x, case["grad_x"])


def test_golden_fused_leaky_relu_on_cuda(ops_golden: dict) -> None:
    for case in ops_golden["fused_leaky_relu"]:
        x = case["x"].cuda().requires_grad_(True)
        b = case["bias"].cuda().requires_grad_(True)
        y = fused_leaky_relu(x, b, case["negative_slope"], case["scale"], impl="cuda")
        assert (y.cpu() - case["y"]).abs().max().item() < 1e-4
        grad_x, grad_b = torch.autograd.grad((y * case["R"].cuda()).sum(), (x, b))
        _assert_grad_close(grad_x, case["grad_x"])
        _assert_grad_close(grad_b, case["grad_bias"])
