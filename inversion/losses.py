"""Losses shared by the projector and pivotal tuning.

- :func:`default_perceptual_loss`: the offline stand-in for LPIPS (LPIPS needs ImageNet backbone
  weights, which are not shipped): :class:`~latentreenact.perceptual.IdentityFeatureLoss`, i.e.
  L1 between channel-normalised multi-layer SFace feature maps of the two images, after the fixed
  FFHQ -> ArcFace 112 px warp. It is *not* LPIPS; thresholds tuned for LPIPS (e.g. PTI's 0.06) do
  not carry over exactly. Pass an ``LPIPS`` module (``latentreenact.perceptual.LPIPS``) to use the real one.
- :func:`resolve_loss`: turns ``"default"`` / ``"sface"`` / ``None`` / a callable into a callable.
- :func:`noise_regularization` and :func:`normalize_noise_`: the StyleGAN2 projector's
  multi-scale autocorrelation penalty on optimised noise maps and their re-normalisation.

Loss callables take ``(x, y)`` images [B, 3, S, S] in [-1, 1] and return a scalar or a per-image
[B] tensor (reduced with the mean by :func:`scalar_loss`).
"""

from __future__ import annotations

import logging
from typing import Callable, List, Optional, Sequence, Union

import torch
from torch import nn

from latentreenact.identity import IdentityLoss, load_sface
from latentreenact.identity.loss import ffhq_to_arcface
from latentreenact.perceptual import IdentityFeatureLoss

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossSpec = Union[str, LossFn, None]


class SFaceFeatures(nn.Module):
    """FFHQ-aligned images (any size, RGB [-1, 1]) -> SFace feature maps at 112..7 px."""

    def __init__(self, sface: nn.Module) -> None:
        super().__init__()
        self.sface = sface

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The feature maps of the ArcFace-warped crop of ``x``."""
        return self.sface.feature_maps(ffhq_to_arcface(x))


def sface_feature_loss(device: Union[str, torch.device] = "cpu") -> nn.Module:
    """The offline perceptual loss: ``IdentityFeatureLoss`` on SFace features (normalised, L1). Per image [B]."""
    return IdentityFeatureLoss(SFaceFeatures(load_sface(device)), normalize=True)


def default_perceptual_loss(device: Union[str, torch.device] = "cpu") -> Optional[nn.Module]:
    """:func:`sface_feature_loss` when SFace's model file is installed, else ``None`` (logged).

    ``None`` means no perceptual term: the losses then fall back to pixel MSE (and identity, if given).
    """
    try:
        return sface_feature_loss(device)
    except (FileNotFoundError, ImportError, OSError) as exc:  # ModelFileError is a FileNotFoundError
        log.warning("SFace is not available (%s); no perceptual loss will be used", exc)
        return None


def resolve_loss(spec: LossSpec, kind: str, device: Union[str, torch.device] = "cpu") -> Optional[LossFn]:
    """A loss callable from a spec.

    ``kind="perceptual"``: ``"default"`` -> :func:`default_perceptual_loss` (may be ``None``),
    ``"sface"`` -> :func:`sface_feature_loss` (fails when SFace is missing), ``"none"``/``None`` -> ``None``.
    ``kind="identity"``: ``"sface"`` or ``"default"`` -> ``IdentityLoss("sface")`` (``1 - cos`` after
    the FFHQ -> ArcFace warp), ``"none"``/``None`` -> ``None``. A callable is returned unchanged.
    """
    if spec is None or spec == "none":
        return None
    if callable(spec):
        if isinstance(spec, nn.Module):
            spec.eval().requires_grad_(False)
        return spec
    if kind == "perceptual":
        if spec == "default":
            return default_perceptual_loss(device)
        if spec == "sface":
            return sface_feature_loss(device)
    elif kind == "identity":
        if spec in ("default", "sface"):
            return IdentityLoss("sface", device=device)
    else:
        raise ValueError(f"unknown loss kind {kind!r}")
    raise ValueError(f"unknown {kind} loss {spec!r}; use 'default', 'sface', 'none' or a callable (x, y) -> distance")


def scalar_loss(fn: LossFn, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``fn(x, y)`` reduced to a scalar by its mean."""
    value = fn(x, y)
    if not torch.is_tensor(value):
        raise TypeError(f"loss {fn!r} returned {type(value).__name__}, expected a tensor")
    return value.mean()


def noise_regularization(noises: Sequence[torch.Tensor]) -> torch.Tensor:
    """StyleGAN2 projector noise penalty: squared autocorrelation (1 px shifts in x and y) of every
    noise map, repeated on 2x average-pooled versions down to 8 px."""
    loss = noises[0].new_zeros(())
    for noise in noises:
        size = noise.shape[-1]
        while True:
            loss = loss + (noise * torch.roll(noise, shifts=1, dims=3)).mean().pow(2) \
                + (noise * torch.roll(noise, shifts=1, dims=2)).mean().pow(2)
            if size <= 8:
                break
            noise = noise.reshape(-1, 1, size // 2, 2, size // 2, 2).mean(dim=(3, 5))
            size //= 2
    return loss


@torch.no_grad()
def normalize_noise_(noises: Sequence[torch.Tensor]) -> None:
    """Give every noise map zero mean and unit standard deviation, in place."""
    for noise in noises:
        noise.sub_(noise.mean()).div_(noise.std().clamp_min(1e-8))
