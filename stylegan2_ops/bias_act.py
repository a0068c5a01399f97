"""fused_bias_act: add a per-channel bias, apply an activation, scale, optionally clamp."""

from __future__ import annotations

from typing import Optional

import torch

from ._impl import resolve_impl
from ._torch import ACTIVATIONS, CUDA_ACTIVATIONS, Activation, bias_act_torch

_bias_act_torch = bias_act_torch  # the name the tests and older code use
__all__ = ["ACTIVATIONS", "CUDA_ACTIVATIONS", "Activation", "fused_bias_act", "fused_leaky_relu"]


def fused_bias_act(
    x: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    dim: int = 1,
    act: str = "linear",
    alpha: Optional[float] = None,
    gain: Optional[float] = None,
    clamp: Optional[float] = None,
    impl: str = "auto",
) -> torch.Tensor:
    """``clamp(act(x + bias, alpha) * gain)`` with ``bias`` broadcast along ``dim``.

    ``act`` is one of ``linear``, ``relu``, ``lrelu``, ``tanh``, ``sigmoid``; ``alpha`` (the
    leaky slope) and ``gain`` default to the activation's own (``lrelu``: 0.2 and sqrt(2)).
    ``clamp`` limits the output to ``[-clamp, clamp]``. Differentiable twice.
    """
    if act not in ACTIVATIONS:
        raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    spec = ACTIVATIONS[act]
    alpha = spec.default_alpha if alpha is None else float(alpha)
    gain = spec.default_gain if gain is None else float(gain)
    dim = dim % x.ndim if x.ndim else 0
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != x.shape[dim]:
            raise ValueError(f"bias of shape {tuple(bias.shape)} does not match dim {dim} of x {tuple(x.shape)}")
        bias = bias.to(x.dtype)
    if act in CUDA_ACTIVATIONS and resolve_impl(impl, x, "bias_act") == "cuda":
        from ._cuda import bias_act_cuda

        return bias_act_cuda(x, bias, dim, act, alpha, gain, clamp)
    return bias_act_torch(x, bias, dim, spec, alpha, gain, clamp)


def fused_leaky_relu(
    x: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    negative_slope: float = 0.2,
    scale: float = 2 ** 0.5,
    impl: str = "auto",
) -> torch.Tensor:
    """``leaky_relu(x + bias, negative_slope) * scale``, the bias broadcast over dim 1."""
    return fused_bias_act(x, bias, dim=1, act="lrelu", alpha=negative_slope, gain=scale, impl=impl)
