"""upfirdn2d: upsample (zero insertion), pad, FIR-filter (true convolution), downsample."""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from ._impl import resolve_impl

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
    return _upfirdn2d_torch(x, f, ux, uy, dx, dy, px0, px1, py0, py1)


def _upfirdn2d_torch(
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
