"""fused_bias_act: add a per-channel bias, apply an activation, scale, optionally clamp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ._impl import resolve_impl


@dataclass(frozen=True)
class Activation:
    """An activation with its default ``alpha`` and gain."""

    func: Callable[[torch.Tensor, float], torch.Tensor]
    default_alpha: float
    default_gain: float
    in_place: Optional[Callable[[torch.Tensor, float], torch.Tensor]] = None


ACTIVATIONS = {
    "linear": Activation(lambda x, a: x, 0.0, 1.0),
    "relu": Activation(lambda x, a: F.relu(x), 0.0, 2 ** 0.5, lambda x, a: F.relu_(x)),
    "lrelu": Activation(lambda x, a: F.leaky_relu(x, a), 0.2, 2 ** 0.5, lambda x, a: F.leaky_relu_(x, a)),
    "tanh": Activation(lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, a: torch.sigmoid(x), 0.0, 1.0),
}
CUDA_ACTIVATIONS = ("linear", "relu", "lrelu")


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
    return _bias_act_torch(x, bias, dim, spec, alpha, gain, clamp)


def _bias_act_torch(
    x: torch.Tensor, bias: Optional[torch.Tensor], dim: int, spec: Activation,
    alpha: float, gain: float, clamp: Optional[float],
) -> torch.Tensor:
    """Exact PyTorch path; in-place steps only where autograd does not need the intermediates."""
    graph = torch.is_grad_enabled() and (x.requires_grad or (bias is not None and bias.requires_grad))
    if bias is not None:
        x = x + bias.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    elif not graph:
        x = x.clone()
    if graph or spec.in_place is None:
        x = spec.func(x, alpha)
        if gain != 1:
            x = x * gain
    else:
        x = spec.in_place(x, alpha)
        if gain != 1:
            x.mul_(gain)
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def fused_leaky_relu(
    x: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    negative_slope: float = 0.2,
    scale: float = 2 ** 0.5,
    impl: str = "auto",
) -> torch.Tensor:
    """``leaky_relu(x + bias, negative_slope) * scale``, the bias broadcast over dim 1."""
    return fused_bias_act(x, bias, dim=1, act="lrelu", alpha=negative_slope, gain=scale, impl=impl)
