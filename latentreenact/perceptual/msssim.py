"""SSIM and multi-scale SSIM (Wang, Simoncelli, Bovik 2003) in PyTorch, differentiable.

Gaussian window 11 px, sigma 1.5, valid filtering, K1 = 0.01, K2 = 0.03, scale weights
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling between scales. Images too small
for five scales use fewer (the smallest scale must still hold one window) with the weights of
the scales used renormalised to sum to one. Negative contrast-structure terms are clamped at
zero before the powers (as common implementations do), so MS-SSIM lies in [0, 1].
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ["ssim", "ms_ssim", "MS_SSIM_WEIGHTS"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-coords.square() / (2 * sigma * sigma))
    return g / g.sum()


def _band(n: int, window: torch.Tensor) -> torch.Tensor:
    """``[n, n - k + 1]`` matrix M with ``(v @ M)[j] = sum_i window[i] * v[i + j]`` (valid correlation)."""
    k = window.shape[0]
    out = n - k + 1
    rows = torch.arange(out, device=window.device)[None, :] + torch.arange(k, device=window.device)[:, None]
    band = window.new_zeros(n, out)
    band[rows, torch.arange(out, device=window.device).expand(k, out)] = window[:, None].expand(k, out)
    return band


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable valid Gaussian filtering of every channel, as two banded matrix products
    (much faster on CPUs than a depthwise convolution with a 1-channel kernel)."""
    h, w = x.shape[-2:]
    return _band(h, window).t() @ (x @ _band(w, window))


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float,
                k1: float, k2: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean SSIM and mean contrast-structure term, each ``[B]``."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y, xx, yy, xy = _filter(torch.cat([x, y, x * x, y * y, x * y], dim=1), window).chunk(5, dim=1)
    var_x = xx - mu_x.square()
    var_y = yy - mu_y.square()
    cov = xy - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.square() + mu_y.square() + c1)
    return (luminance * cs).flatten(1).mean(dim=1), cs.flatten(1).mean(dim=1)


def _check(x: torch.Tensor, y: torch.Tensor, window_size: int) -> None:
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"(MS-)SSIM needs two batches of equal shape [B, C, H, W], got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window_size:
        raise ValueError(f"images of {tuple(x.shape[-2:])} px are smaller than the {window_size} px SSIM window")


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, window_size: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM per image ``[B]``; ``data_range`` is max - min of the pixel scale (2 for [-1, 1])."""
    _check(x, y, window_size)
    return _ssim_terms(x, y, _gaussian(window_size, sigma, x), data_range, k1, k2)[0]


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, window_size: int = 11,
            sigma: float = 1.5, weights: Optional[Sequence[float]] = None, k1: float = 0.01,
            k2: float = 0.03) -> torch.Tensor:
    """Multi-scale SSIM per image ``[B]`` in [0, 1] (1 for identical images)."""
    _check(x, y, window_size)
    weights = tuple(weights) if weights is not None else MS_SSIM_WEIGHTS
    levels = min(len(weights), int(math.floor(math.log2(min(x.shape[-2:]) / window_size))) + 1)
    w = torch.tensor(weights[:levels], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    window = _gaussian(window_size, sigma, x)
    result = None
    for level in range(levels):
        full, cs = _ssim_terms(x, y, window, data_range, k1, k2)
        value = full if level == levels - 1 else cs
        term = value.clamp_min(0.0).pow(w[level])
        result = term if result is None else result * term
        if level < levels - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return result
