"""The straightforward formulations of the ops, kept as an independent reference.

Used by the tests (a second derivation of the same maths) and by ``benchmarks/`` as the
baseline the default path is measured against. Not used by the models.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ._torch import IntPair, as_2d_kernel, parse_pad, parse_scale


def upfirdn2d_reference(
    x: torch.Tensor, kernel: torch.Tensor, up: IntPair = 1, down: IntPair = 1, pad: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """Zero-insert, pad, then one single-channel convolution over an ``[N*C, 1, H, W]`` reshape."""
    ux, uy = parse_scale(up, "up")
    dx, dy = parse_scale(down, "down")
    px0, px1, py0, py1 = parse_pad(pad)
    f = as_2d_kernel(kernel).to(x)
    n, c, h, w = x.shape
    out = x.reshape(n * c, 1, h, 1, w, 1)
    out = F.pad(out, [0, ux - 1, 0, 0, 0, uy - 1])  # zeros after every sample
    out = out.reshape(n * c, 1, h * uy, w * ux)
    out = F.pad(out, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    out = out[:, :, max(-py0, 0): out.shape[2] - max(-py1, 0), max(-px0, 0): out.shape[3] - max(-px1, 0)]
    out = F.conv2d(out, f.flip([0, 1])[None, None])
    out = out[:, :, ::dy, ::dx]
    return out.reshape(n, c, out.shape[2], out.shape[3])


def fused_leaky_relu_reference(
    x: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = 0.2, scale: float = 2 ** 0.5
) -> torch.Tensor:
    """``leaky_relu(x + bias) * scale`` with the bias broadcast over dim 1."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope) * scale
