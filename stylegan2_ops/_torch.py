"""The PyTorch paths of the ops and their argument parsing, shared by the public entry points
and by the autograd Functions around the CUDA kernels (``_cuda``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

IntPair = Union[int, Sequence[int]]


def parse_scale(value: IntPair, name: str) -> Tuple[int, int]:
    """Return ``(x, y)`` factors from an int or an ``(x, y)`` pair."""
    if isinstance(value, int):
        sx = sy = value
    else:
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (x, y) pair, got {value!r}")
        sx, sy = (int(v) for v in value)
    if sx < 1 or sy < 1:
        raise ValueError(f"{name} factors must be >= 1, got {value!r}")
    return sx, sy


def parse_pad(pad: Sequence[int]) -> Tuple[int, int, int, int]:
    """Return ``(x0, x1, y0, y1)`` from ``(p0, p1)`` (both axes) or ``(x0, x1, y0, y1)``."""
    pad = [int(p) for p in pad]
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return pad[0], pad[1], pad[2], pad[3]
    raise ValueError(f"pad must have 2 or 4 entries, got {pad!r}")


def as_2d_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """A 2-D ``[kh, kw]`` FIR kernel; a 1-D kernel ``k`` means the separable ``outer(k, k)``."""
    if kernel.ndim == 1:
        return torch.outer(kernel, kernel)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 1-D or 2-D, got shape {tuple(kernel.shape)}")
    return kernel


def output_size(size: int, up: int, down: int, pad0: int, pad1: int, taps: int) -> int:
    """Length of one output axis."""
    return (size * up + pad0 + pad1 - taps) // down + 1


def upfirdn2d_torch(
    x: torch.Tensor, f: torch.Tensor,
    ux: int, uy: int, dx: int, dy: int, px0: int, px1: int, py0: int, py1: int,
) -> torch.Tensor:
    """Exact PyTorch path: channel-grouped (depthwise) convolutions, no zero-inserted copies.

    Without upsampling: pad (or crop) then a strided depthwise correlation with the flipped
    kernel. With upsampling: a strided depthwise transposed convolution computes the 'full'
    convolution of the zero-inserted input with the kernel; the requested window of it is
    then cut out (or zero-extended) and subsampled.
    """
    channels = x.shape[1]
    kh, kw = f.shape
    if ux == 1 and uy == 1:
        weight = f.flip([0, 1])[None, None].expand(channels, 1, kh, kw)
        if px0 == px1 >= 0 and py0 == py1 >= 0:  # symmetric: let the convolution pad (no copy)
            return F.conv2d(x, weight, stride=(dy, dx), padding=(py0, px0), groups=channels)
        x = F.pad(x, [px0, px1, py0, py1])
        return F.conv2d(x, weight, stride=(dy, dx), groups=channels)
    h, w = x.shape[2], x.shape[3]
    full = F.conv_transpose2d(x, f[None, None].expand(channels, 1, kh, kw), stride=(uy, ux), groups=channels)
    full_h, full_w = full.shape[2], full.shape[3]
    out_h = h * uy + py0 + py1 - kh + 1  # before downsampling
    out_w = w * ux + px0 + px1 - kw + 1
    start_y, start_x = kh - 1 - py0, kw - 1 - px0
    out = F.pad(full, [-start_x, start_x + out_w - full_w, -start_y, start_y + out_h - full_h])
    if dx > 1 or dy > 1:
        out = out[:, :, ::dy, ::dx]
    return out


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


def bias_act_torch(
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
