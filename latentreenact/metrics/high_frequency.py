"""High-frequency energy of an image, and the artifact ratio of an edited render to its unedited render.

``high_frequency_energy``: the mean squared difference between the grey image (in [0, 1]) and its
Gaussian blur (standard deviation ``sigma`` pixels, periodic borders). ``artifact_ratio(edit, reference)``
is their ratio: about 1 when an edit keeps the reference's texture, below 1 when it blurs, above 1
when it adds grid-like or noisy texture. For a sinusoid of amplitude ``a`` and frequency ``f``
(cycles per pixel) the energy is ``(a * (1 - exp(-2 pi^2 sigma^2 f^2)))^2 / 2`` (tested).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

GREY = (0.299, 0.587, 0.114)


def _grey(image: np.ndarray) -> torch.Tensor:
    """uint8 or float [0, 1] image [H, W] or [H, W, 3] -> float64 [1, 1, H, W] in [0, 1]."""
    array = np.asarray(image)
    values = array.astype(np.float64) / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)
    if values.ndim == 3:
        if values.shape[2] != 3:
            raise ValueError(f"expected an [H, W] or [H, W, 3] image, got {array.shape}")
        values = values @ np.asarray(GREY)
    elif values.ndim != 2:
        raise ValueError(f"expected an [H, W] or [H, W, 3] image, got {array.shape}")
    if not np.isfinite(values).all():
        raise ValueError("the image contains NaN or Inf values")
    return torch.from_numpy(values)[None, None]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(4 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-t * t / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="circular")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def high_frequency_energy(image: np.ndarray, sigma: float = 1.0) -> float:
    """Mean squared (grey image - its Gaussian blur) of a uint8 or [0, 1] float image [H, W(, 3)]."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    x = _grey(image)
    return float((x - _blur(x, sigma)).pow(2).mean())


def artifact_ratio(edited: np.ndarray, reference: np.ndarray, sigma: float = 1.0) -> float:
    """``high_frequency_energy(edited) / high_frequency_energy(reference)`` (ValueError for a flat reference)."""
    base = high_frequency_energy(reference, sigma)
    if base <= 1e-20:
        raise ValueError("the reference image has no high-frequency energy (flat image)")
    return high_frequency_energy(edited, sigma) / base
