"""upfirdn2d: upsample (zero insertion), pad, FIR-filter (true convolution), downsample."""

from __future__ import annotations

from typing import Sequence

import torch

from ._impl import resolve_impl
from ._torch import IntPair, as_2d_kernel, output_size, parse_pad, parse_scale, upfirdn2d_torch

_upfirdn2d_torch = upfirdn2d_torch  # the name the tests and older code use
__all__ = ["IntPair", "as_2d_kernel", "output_size", "parse_pad", "parse_scale", "upfirdn2d"]


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    up: IntPair = 1,
    down: IntPair = 1,
    pad: Sequence[int] = (0, 0),
    impl: str = "auto",
) -> torch.Tensor:
    """Upsample, pad, filter and downsample a batch of images ``x`` of shape ``[N, C, H, W]``.

    Each channel is zero-inserted by ``up`` (after every sample, so the length becomes
    ``H * up``), padded by ``pad`` (negative values crop), convolved with ``kernel`` (a true
    convolution, i.e. the kernel is flipped; 'valid' mode) and subsampled by ``down``
    starting at index 0. ``up``/``down`` are ints or ``(x, y)`` pairs; ``pad`` is ``(p0, p1)``
    for both axes or ``(x0, x1, y0, y1)``. Differentiable twice.
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects [N, C, H, W], got shape {tuple(x.shape)}")
    ux, uy = parse_scale(up, "up")
    dx, dy = parse_scale(down, "down")
    px0, px1, py0, py1 = parse_pad(pad)
    f = as_2d_kernel(kernel).to(device=x.device, dtype=x.dtype)
    kh, kw = f.shape
    out_h = output_size(x.shape[2], uy, dy, py0, py1, kh)
    out_w = output_size(x.shape[3], ux, dx, px0, px1, kw)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"upfirdn2d output would be empty ({out_h}x{out_w}) for input {tuple(x.shape)}")
    # The CUDA path treats the kernel as a constant; a kernel that needs a gradient uses PyTorch.
    if not f.requires_grad and resolve_impl(impl, x, "upfirdn2d") == "cuda":
        from ._cuda import upfirdn2d_cuda

        return upfirdn2d_cuda(x, f, ux, uy, dx, dy, px0, px1, py0, py1)
    return upfirdn2d_torch(x, f, ux, uy, dx, dy, px0, px1, py0, py1)
