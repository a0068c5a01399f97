"""Perceptual losses: LPIPS (user-supplied ImageNet backbone + lpips' heads), the offline
identity-feature L1 loss, and (MS-)SSIM. Importing this package loads no weights."""

from .backbones import FeatureStack, alexnet_features, load_backbone, vgg16_features
from .identity_loss import IdentityFeatureLoss
from .lpips import LPIPS, find_lpips_heads, normalize_channels
from .msssim import ms_ssim, ssim

__all__ = [
    "FeatureStack", "IdentityFeatureLoss", "LPIPS", "alexnet_features", "find_lpips_heads",
    "load_backbone", "ms_ssim", "normalize_channels", "ssim", "vgg16_features",
]
