"""conv3x3: a 3x3 convolution, stride 1, zero padding 1, direct or by Winograd's F(4x4, 3x3).

Winograd's minimal filtering computes each 4x4 output tile from a 6x6 input tile with 36 products
per channel pair instead of 144 (Lavin and Gray, "Fast Algorithms for Convolutional Neural
Networks", 2016; interpolation points 0, 1, -1, 2, -2 and infinity). The three transforms are small
matrices applied as matrix products, and the 36 channel products are one batched matrix product, so
autograd gives the backward pass. On a CPU (``benchmarks/bench_conv3x3.py``) it is 1.2 to 2.1x
faster than the direct convolution for 256 and 512 channels from 32 px when the weight's transform
is kept, and slower for 128 channels or for weight gradients on small maps: ``impl="auto"`` takes it
only where it was measured faster (:func:`winograd_pays`). Its float32 error is of the same order as
the direct convolution's (about 1e-5 of the output's magnitude).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["conv3x3", "winograd_pays", "winograd_weight"]

_CHOICES = ("auto", "direct", "winograd")
TILE = 4  # output tile side
_SPAN = TILE + 2  # input tile side
CHUNK_VALUES = 2 ** 21  # transformed input values per band of tile rows (8 MiB in float32)

# F(4, 3) in one dimension: input transform B^T, filter transform G, output transform A^T.
_BT = ((4, 0, -5, 0, 1, 0),
       (0, -4, -4, 1, 1, 0),
       (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0),
       (0, 2, -1, -2, 1, 0),
       (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0),
      (-1 / 6, -1 / 6, -1 / 6),
      (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6),
      (1 / 24, -1 / 12, 1 / 6),
      (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0),
       (0, 1, -1, 2, -2, 0),
       (0, 1, 1, 4, 4, 0),
       (0, 1, -1, 8, -8, 1))


@lru_cache(maxsize=None)
def _transforms(dtype: torch.dtype, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 2-D transforms as Kronecker products: input [36, 36], filter [36, 9], output [16, 36]."""
    with torch.inference_mode(False):  # kept for later calls, so never an inference tensor autograd cannot save
        bt, g, at = (torch.tensor(m, dtype=torch.float64) for m in (_BT, _G, _AT))
        return tuple(torch.kron(m, m).to(dtype=dtype, device=device) for m in (bt, g, at))  # type: ignore[return-value]


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """The filter transform of ``weight`` [out, in, 3, 3]: [36, out, in] (differentiable)."""
    if weight.ndim != 4 or weight.shape[2:] != (3, 3):
        raise ValueError(f"winograd_weight expects [out, in, 3, 3], got shape {tuple(weight.shape)}")
    out_ch, in_ch = weight.shape[:2]
    _, g, _ = _transforms(weight.dtype, weight.device)
    return (g @ weight.reshape(out_ch * in_ch, 9).t()).view(_SPAN * _SPAN, out_ch, in_ch)


def winograd_pays(x: torch.Tensor, out_channels: int, weight_grad: bool) -> bool:
    """Whether ``impl="auto"`` takes Winograd for ``x`` [N, C, H, W]: on a CPU, for at least 256
    input and output channels on maps of at least 32 x 32, or 64 x 64 when the weight needs a gradient.

    The weight's transform is 4x the weight (36 MiB for 512 x 512 channels) and costs a pass over it:
    without a weight gradient the caller keeps it, and Winograd also wins at 8 and 16 px, but by a
    millisecond or two, not worth keeping that much memory; with a weight gradient the transform and
    its gradient come every pass, which only large maps repay."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):  # measured on CPUs only
        return False
    area = x.shape[2] * x.shape[3]
    return min(x.shape[1], out_channels) >= 256 and area >= (64 * 64 if weight_grad else 32 * 32)


def _winograd(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    out_ch = u.shape[1]
    tiles_h, tiles_w = -(-h // TILE), -(-w // TILE)
    bb, _, aa = _transforms(x.dtype, x.device)
    ut = u.transpose(1, 2)  # [36, in, out]
    # channels last, padded by 1 (and up to whole tiles) at the bottom and right
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, tiles_w * TILE - w + 1, 1, tiles_h * TILE - h + 1))
    out = x.new_empty(n, tiles_h * TILE, tiles_w * TILE, out_ch)
    # bands of tile rows whose transformed tiles stay in the cache: 1.2-1.4x at 64-128 px. Not when the weight
    # needs a gradient: each band's product would add a [36, in, out] gradient, slower than one band.
    if torch.is_grad_enabled() and u.requires_grad:
        rows = tiles_h
    else:
        rows = max(1, CHUNK_VALUES // (_SPAN * _SPAN * n * tiles_w * max(c, out_ch)))
    for r0 in range(0, tiles_h, rows):
        k = min(rows, tiles_h - r0)
        d = xp[:, r0 * TILE: (r0 + k) * TILE + 2].unfold(1, _SPAN, TILE).unfold(2, _SPAN, TILE)  # [N, k, tw, C, 6, 6]
        d = d.permute(4, 5, 0, 1, 2, 3).reshape(_SPAN * _SPAN, -1)  # [36, N * k * tw * C]
        v = (bb @ d).view(_SPAN * _SPAN, n * k * tiles_w, c)
        m = torch.bmm(v, ut)  # [36, tiles, out]
        y = (aa @ m.view(_SPAN * _SPAN, -1)).view(TILE, TILE, n, k, tiles_w, out_ch)
        out[:, r0 * TILE: (r0 + k) * TILE].view(n, k, TILE, tiles_w, TILE, out_ch).copy_(y.permute(2, 3, 0, 4, 1, 5))
    return out[:, :h, :w].permute(0, 3, 1, 2)  # NCHW, stored channels last


def conv3x3(x: torch.Tensor, weight: torch.Tensor, impl: str = "auto",
            transformed: Optional[torch.Tensor] = None) -> torch.Tensor:
    """3x3 convolution of ``x`` [N, C, H, W] with ``weight`` [out, C, 3, 3], stride 1, zero padding 1.

    ``impl``: ``"direct"`` (``F.conv2d``), ``"winograd"`` (F(4x4, 3x3)), or ``"auto"`` (Winograd where
    :func:`winograd_pays`). ``transformed``: ``winograd_weight(weight)`` when the caller keeps it (a
    cache); it must match ``weight``. The Winograd output is stored channels last.
    """
    if impl not in _CHOICES:
        raise ValueError(f"impl must be one of {_CHOICES}, got {impl!r}")
    if x.ndim != 4 or weight.ndim != 4 or weight.shape[2:] != (3, 3) or weight.shape[1] != x.shape[1]:
        raise ValueError(f"conv3x3 expects x [N, C, H, W] and weight [out, C, 3, 3], got {tuple(x.shape)} "
                         f"and {tuple(weight.shape)}")
    if impl == "auto":
        grad = torch.is_grad_enabled() and weight.requires_grad
        impl = "winograd" if winograd_pays(x, weight.shape[0], grad) else "direct"
    if impl == "direct":
        return F.conv2d(x, weight, padding=1)
    return _winograd(x, winograd_weight(weight) if transformed is None else transformed)
