"""The offline default perceptual loss: L1 between multi-layer features of an identity network.

Not LPIPS: no ImageNet backbone and no learned perceptual weights, just the feature maps of a
face-identity network (e.g. SFace), compared with L1, plus an optional MS-SSIM term on the
pixels. Works with any ``nn.Module`` that maps images to a list of feature maps.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .msssim import ms_ssim

__all__ = ["IdentityFeatureLoss"]


class IdentityFeatureLoss(nn.Module):
    """``sum_l w_l * mean|f_l(x) - f_l(y)| + msssim_weight * (1 - MS-SSIM(x, y))``, per image ``[B]``.

    ``extractor(images) -> list of [B, C_l, H_l, W_l]`` (or [B, D]) tensors; it does its own
    resizing/cropping. ``layer_weights``: one per feature map (default all 1).
    ``normalize``: unit-normalise feature maps along channels first (LPIPS-style), which makes the
    layers comparable in scale. ``freeze`` puts the extractor in eval mode without parameter
    gradients (it is a fixed loss network). Images in [-1, 1] (``data_range`` 2 for MS-SSIM).
    """

    def __init__(self, extractor: nn.Module, layer_weights: Optional[Sequence[float]] = None,
                 msssim_weight: float = 0.0, normalize: bool = False, data_range: float = 2.0,
                 freeze: bool = True) -> None:
        super().__init__()
        if msssim_weight < 0:
            raise ValueError("msssim_weight must be >= 0")
        self.extractor = extractor
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]
        self.msssim_weight = float(msssim_weight)
        self.normalize = normalize
        self.data_range = data_range
        if freeze:
            extractor.requires_grad_(False).eval()
        self._target_cache: Optional[tuple] = None

    def _features(self, images: torch.Tensor) -> list:
        feats = self.extractor(images)
        if torch.is_tensor(feats):
            feats = [feats]
        feats = list(feats)
        if not feats:
            raise ValueError("the feature extractor returned no feature maps")
        if self.layer_weights is not None and len(self.layer_weights) != len(feats):
            raise ValueError(f"{len(self.layer_weights)} layer weights given for {len(feats)} feature maps")
        return feats

    def _target_features(self, y: torch.Tensor) -> list:
        """The features of ``y``, reused while the same unchanged tensor comes back (a fixed target in an
        optimisation loop: tuning computes them once instead of every step). The cache holds the
        tensor itself, so a new tensor is never mistaken for it; a target that needs gradients is not
        cached."""
        if y.requires_grad and torch.is_grad_enabled():
            return self._features(y)
        cached = self._target_cache
        if cached is not None and cached[0] is y and cached[1] == y._version:
            return cached[2]
        with torch.no_grad():
            feats = self._features(y)
        self._target_cache = (y, y._version, feats)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss per image pair ``[B]`` (take ``.mean()`` for a scalar)."""
        if x.shape != y.shape:
            raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        fx, fy = self._features(x), self._target_features(y)
        weights = self.layer_weights or [1.0] * len(fx)
        loss = x.new_zeros(x.shape[0])
        for w, a, b in zip(weights, fx, fy):
            if self.normalize and a.dim() >= 2:
                a = a / (a.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
                b = b / (b.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            loss = loss + w * (a - b).abs().flatten(1).mean(dim=1)
        if self.msssim_weight:
            loss = loss + self.msssim_weight * (1.0 - ms_ssim(x, y, data_range=self.data_range))
        return loss
