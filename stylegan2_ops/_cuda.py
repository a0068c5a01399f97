"""Autograd Functions around the CUDA kernels, differentiable twice.

The Functions take their forward kernel as a callable, so the same autograd logic runs with the
compiled plugin (``plugin_*_kernel``, used by ``upfirdn2d_cuda`` / ``bias_act_cuda``) or with the
PyTorch path standing in for it (``torch_*_kernel``, used by the CPU tests).

* upfirdn2d is linear in ``x``: its gradient is again an upfirdn2d (flipped kernel, up and down
  swapped, pads from ``upfirdn2d_backward_params``), so every higher derivative follows by
  recursion. The FIR kernel ``f`` is a constant: it receives no gradient.
* bias_act's gradient is ``grad * act'(x + b) * gain`` (zero where the clamp is active), computed
  by the kernel's gradient mode from the saved input. For the piecewise-linear activations
  (linear, relu, lrelu) that gradient is linear in ``grad`` and piecewise constant in ``x``, so
  its own derivative is the same mask multiply and zero for ``x`` and ``b``.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch.autograd import Function

from ._torch import ACTIVATIONS, bias_act_torch, output_size, upfirdn2d_torch

Params = Tuple[int, int, int, int, int, int, int, int]  # ux, uy, dx, dy, px0, px1, py0, py1
Upfirdn2dKernel = Callable[..., torch.Tensor]  # (x, f, ux, uy, dx, dy, px0, px1, py0, py1)
# (x, b, ref, dim, act, alpha, gain, clamp); ref None: forward, else the gradient of x at ref
BiasActKernel = Callable[..., torch.Tensor]

ACT_CODES = {"linear": 0, "relu": 1, "lrelu": 2}


def _plugin(name: str):
    from ._plugin import load_plugin

    module = load_plugin(name)
    if module is None:
        raise RuntimeError(f"the CUDA plugin {name!r} is unavailable; use impl='torch'")
    return module


# ----------------------------------------------------------------------------------- kernels
def plugin_upfirdn2d_kernel(x: torch.Tensor, f: torch.Tensor, *params: int) -> torch.Tensor:
    """upfirdn2d forward by the compiled CUDA plugin."""
    return _plugin("upfirdn2d").upfirdn2d(x, f, *params)


def torch_upfirdn2d_kernel(x: torch.Tensor, f: torch.Tensor, *params: int) -> torch.Tensor:
    """upfirdn2d forward by the PyTorch path (the CPU stand-in for the plugin)."""
    return upfirdn2d_torch(x, f, *params)


def plugin_bias_act_kernel(
    x: torch.Tensor, b: Optional[torch.Tensor], ref: Optional[torch.Tensor],
    dim: int, act: str, alpha: float, gain: float, clamp: float,
) -> torch.Tensor:
    """bias_act forward (``ref`` None) or gradient by the compiled CUDA plugin."""
    return _plugin("bias_act").bias_act(x, b, ref, dim, ACT_CODES[act], alpha, gain, clamp)


def torch_bias_act_kernel(
    x: torch.Tensor, b: Optional[torch.Tensor], ref: Optional[torch.Tensor],
    dim: int, act: str, alpha: float, gain: float, clamp: float,
) -> torch.Tensor:
    """The plugin's contract in PyTorch: forward, or ``x * act'(ref + b) * gain * clamp mask``."""
    spec = ACTIVATIONS[act]
    if ref is None:
        return bias_act_torch(x, b, dim, spec, alpha, gain, clamp if clamp >= 0 else None)
    z = ref if b is None else ref + b.reshape([-1 if i == dim else 1 for i in range(ref.ndim)])
    if act == "linear":
        slope = torch.ones_like(z)
    else:
        slope = torch.where(z > 0, torch.ones_like(z), torch.full_like(z, alpha if act == "lrelu" else 0.0))
    slope = slope * gain
    if clamp >= 0:
        v = spec.func(z, alpha) * gain
        slope = slope * ((v >= -clamp) & (v <= clamp)).to(slope.dtype)
    return x * slope


# ---------------------------------------------------------------------------------- upfirdn2d
def upfirdn2d_backward_params(in_h: int, in_w: int, kh: int, kw: int, params: Params) -> Params:
    """Parameters of the upfirdn2d (with the flipped kernel) that computes the gradient wrt ``x``.

    Per axis (input length n, up u, down d, pads p0/p1, k taps, output length m): the adjoint
    zero-inserts by d, pads by ``k - 1 - p0`` and ``n * u - m * d + p0``, convolves with the
    flipped kernel and keeps every u-th sample, which gives back length n.
    """
    ux, uy, dx, dy, px0, px1, py0, py1 = params
    out_h = output_size(in_h, uy, dy, py0, py1, kh)
    out_w = output_size(in_w, ux, dx, px0, px1, kw)
    return (
        dx, dy, ux, uy,
        kw - 1 - px0, in_w * ux - out_w * dx + px0,
        kh - 1 - py0, in_h * uy - out_h * dy + py0,
    )


class Upfirdn2dFunction(Function):
    """upfirdn2d with a pluggable forward kernel; gradients by recursion on the adjoint."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, f: torch.Tensor, params: Params, kernel: Upfirdn2dKernel) -> torch.Tensor:
        y = kernel(x, f, *params)
        ctx.save_for_backward(f)
        ctx.kernel = kernel
        ctx.backward_params = upfirdn2d_backward_params(x.shape[2], x.shape[3], f.shape[0], f.shape[1], params)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (f,) = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = Upfirdn2dFunction.apply(grad, f.flip([0, 1]), ctx.backward_params, ctx.kernel)
        return grad_x, None, None, None


def upfirdn2d_function(
    x: torch.Tensor, f: torch.Tensor, ux: int, uy: int, dx: int, dy: int,
    px0: int, px1: int, py0: int, py1: int, kernel: Upfirdn2dKernel,
) -> torch.Tensor:
    """Differentiable upfirdn2d of ``x`` (``[N, C, H, W]``) by ``kernel``; ``f`` gets no gradient."""
    return Upfirdn2dFunction.apply(x, f.detach(), (ux, uy, dx, dy, px0, px1, py0, py1), kernel)


def upfirdn2d_cuda(
    x: torch.Tensor, f: torch.Tensor, ux: int, uy: int, dx: int, dy: int,
    px0: int, px1: int, py0: int, py1: int,
) -> torch.Tensor:
    """upfirdn2d by the CUDA plugin (``f``: ``[kh, kw]``, x's dtype and device; no gradient)."""
    return upfirdn2d_function(x, f, ux, uy, dx, dy, px0, px1, py0, py1, plugin_upfirdn2d_kernel)


# ----------------------------------------------------------------------------------- bias_act
class BiasActFunction(Function):
    """``clamp(act(x + b) * gain)`` with a pluggable kernel; the gradient is ``BiasActGradFunction``."""

    @staticmethod
    def forward(ctx, x, b, dim, act, alpha, gain, clamp, kernel):
        y = kernel(x, b, None, dim, act, alpha, gain, clamp)
        ctx.cfg = (dim, act, alpha, gain, clamp, kernel)
        ctx.ndim = x.ndim
        ctx.needs_ref = act != "linear" or clamp >= 0
        ctx.save_for_backward(*((x, b) if ctx.needs_ref else (None, None)))
        return y

    @staticmethod
    def backward(ctx, grad):
        x, b = ctx.saved_tensors
        dim, _, _, gain, _, _ = ctx.cfg
        grad_x = grad_b = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if ctx.needs_ref:
                grad_x = BiasActGradFunction.apply(grad, x, b, *ctx.cfg)
            else:
                grad_x = grad * gain if gain != 1 else grad
        if ctx.needs_input_grad[1]:
            dims = [i for i in range(ctx.ndim) if i != dim]
            grad_b = grad_x.sum(dims) if dims else grad_x
        if not ctx.needs_input_grad[0]:
            grad_x = None
        return grad_x, grad_b, None, None, None, None, None, None


class BiasActGradFunction(Function):
    """``grad * act'(x + b) * gain * clamp mask``: linear in ``grad``, piecewise constant in ``x``, ``b``."""

    @staticmethod
    def forward(ctx, grad, x, b, dim, act, alpha, gain, clamp, kernel):
        ctx.cfg = (dim, act, alpha, gain, clamp, kernel)
        ctx.save_for_backward(x, b)
        return kernel(grad, b, x, dim, act, alpha, gain, clamp)

    @staticmethod
    def backward(ctx, grad_grad):
        x, b = ctx.saved_tensors
        out_grad = out_x = out_b = None
        if ctx.needs_input_grad[0]:
            out_grad = BiasActGradFunction.apply(grad_grad, x, b, *ctx.cfg)
        if ctx.needs_input_grad[1]:
            out_x = torch.zeros_like(x)  # the mask is piecewise constant (as in torch's double backward)
        if ctx.needs_input_grad[2]:
            out_b = torch.zeros_like(b)
        return out_grad, out_x, out_b, None, None, None, None, None, None


def bias_act_function(
    x: torch.Tensor, b: Optional[torch.Tensor], dim: int, act: str, alpha: float, gain: float,
    clamp: Optional[float], kernel: BiasActKernel,
) -> torch.Tensor:
    """Differentiable ``clamp(act(x + b) * gain)`` by ``kernel``; ``act`` in linear/relu/lrelu."""
    if act not in ACT_CODES:
        raise ValueError(f"act must be one of {sorted(ACT_CODES)} here, got {act!r}")
    clamp_value = float(clamp) if clamp is not None and clamp >= 0 else -1.0
    return BiasActFunction.apply(x, b, int(dim), act, float(alpha), float(gain), clamp_value, kernel)


def bias_act_cuda(
    x: torch.Tensor, b: Optional[torch.Tensor], dim: int, act: str, alpha: float, gain: float,
    clamp: Optional[float],
) -> torch.Tensor:
    """fused bias + activation by the CUDA plugin (``b`` may be None; ``dim`` non-negative)."""
    return bias_act_function(x, b, dim, act, alpha, gain, clamp, plugin_bias_act_kernel)
