"""The e4e encoder (Tov et al. 2021, ``Encoder4Editing``) exactly as published, at its final stage.

Architecture (``models/encoders/psp_encoders.py`` of the e4e code, ``num_layers=50, mode='ir_se'``):
an IR-SE50 body whose feature maps after units 6, 20 and 23 (c1 64 px, c2 32 px, c3 16 px for a
256 px input) feed a small FPN (1x1 lateral convs 256->512 and 128->512, bilinear
``align_corners=True`` upsample-and-add), then one ``GradualStyleBlock`` per W+ layer: heads 0-2
read c3, heads 3-6 read p2 (32 px), the rest read p1 (64 px). Head 0 gives ``w0``, broadcast to all
layers; head ``i > 0`` adds a delta to layer ``i`` (the progressive encoder with every delta
active, as at inference). State_dict keys equal the official ones without the ``encoder.`` prefix.

The official checkpoint stores ``latent_avg`` beside the encoder and its codes are
``encoder(x) + latent_avg``; :class:`E4EEncoder` keeps it as a non-persistent buffer so that
``forward`` returns the final W+ codes (see :attr:`E4EEncoder.has_latent_avg`).
"""

from __future__ import annotations

import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from latentreenact.identity.irse_blocks import irse50_body, irse_input_layer

STYLE_DIM = 512
COARSE_END = 3  # heads [0, 3) read c3 (input/16 px)
MIDDLE_END = 7  # heads [3, 7) read p2 (input/8 px); heads >= 7 read p1 (input/4 px)
TAP_C1, TAP_C2, TAP_C3 = 6, 20, 23  # body unit indices whose outputs feed the FPN


class EqualLinear(nn.Module):
    """StyleGAN2's equalised linear layer (no activation): ``x @ (W * lr_mul / sqrt(in)).T + b * lr_mul``."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the scaled linear map."""
        return F.linear(x, self.weight * self.scale, bias=self.bias * self.lr_mul)


class GradualStyleBlock(nn.Module):
    """``log2(spatial)`` stride-2 3x3 convs with LeakyReLU(0.01) down to 1x1, then EqualLinear."""

    def __init__(self, in_c: int, out_c: int, spatial: int):
        super().__init__()
        self.out_c = out_c
        self.spatial = spatial
        num_pools = int(round(math.log2(spatial)))
        modules: List[nn.Module] = [nn.Conv2d(in_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        for _ in range(num_pools - 1):
            modules += [nn.Conv2d(out_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*modules)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, in_c, spatial, spatial] -> [B, out_c]."""
        return self.linear(self.convs(x).reshape(-1, self.out_c))


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN merge: bilinear (``align_corners=True``) upsampling of ``x`` to ``y``'s size, plus ``y``."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


def n_styles_for_size(stylegan_size: int) -> int:
    """W+ layers of a StyleGAN2 generator of this resolution (``2 * log2(size) - 2``): 256 -> 14."""
    return 2 * int(round(math.log2(stylegan_size))) - 2


class E4EEncoder(nn.Module):
    """e4e ``Encoder4Editing``: [B, 3, input_size, input_size] RGB in [-1, 1] -> W+ codes [B, n_styles, 512].

    ``forward`` returns ``encoder(x) + latent_avg`` when :attr:`has_latent_avg` is true (the
    official checkpoints), else the raw encoder output. Without a latent_avg (the bare ``{"e": ...}``
    variant) the caller must add the generator's mean latent to get W+ codes, or call
    :meth:`set_latent_avg` with it once. :meth:`raw_codes` always gives the encoder output alone.
    """

    def __init__(self, n_styles: int = 18, input_size: int = 256):
        super().__init__()
        if n_styles < 1:
            raise ValueError(f"n_styles must be positive, got {n_styles}")
        if input_size < 32 or input_size & (input_size - 1):
            raise ValueError(f"input_size must be a power of two >= 32, got {input_size}")
        self.n_styles = n_styles
        self.input_size = input_size
        self.input_layer = irse_input_layer()
        self.body = irse50_body()
        self.styles = nn.ModuleList()
        for i in range(n_styles):
            spatial = input_size // (16 if i < COARSE_END else 8 if i < MIDDLE_END else 4)
            self.styles.append(GradualStyleBlock(STYLE_DIM, STYLE_DIM, spatial))
        self.latlayer1 = nn.Conv2d(256, 512, 1, 1, 0)
        self.latlayer2 = nn.Conv2d(128, 512, 1, 1, 0)
        self.register_buffer("latent_avg", torch.zeros(n_styles, STYLE_DIM), persistent=False)
        self.has_latent_avg = False

    def set_latent_avg(self, latent_avg: Optional[torch.Tensor]) -> None:
        """Set the average latent added by ``forward``: [512], [1, 512] or [n_styles, 512]; ``None`` clears it."""
        if latent_avg is None:
            self.latent_avg.zero_()
            self.has_latent_avg = False
            return
        t = latent_avg.detach()
        if t.ndim == 1:
            t = t[None]
        if t.ndim != 2 or t.shape[-1] != STYLE_DIM or t.shape[0] not in (1, self.n_styles):
            raise ValueError(f"latent_avg must be [{STYLE_DIM}], [1, {STYLE_DIM}] or [{self.n_styles}, {STYLE_DIM}], "
                             f"got {tuple(latent_avg.shape)}")
        with torch.no_grad():
            self.latent_avg.copy_(t.to(self.latent_avg.device, self.latent_avg.dtype).expand_as(self.latent_avg))
        self.has_latent_avg = True

    def raw_codes(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder output alone (no latent_avg): [B, n_styles, 512]."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, self.input_size, self.input_size):
            raise ValueError(f"e4e expects images [B, 3, {self.input_size}, {self.input_size}] in [-1, 1], "
                             f"got {tuple(x.shape)}; resize the aligned crop to {self.input_size} px first")
        x = self.input_layer(x)
        c1 = c2 = x
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i == TAP_C1:
                c1 = x
            elif i == TAP_C2:
                c2 = x
        c3 = x
        w0 = self.styles[0](c3)
        codes = [w0]
        features = p2 = c3
        for i in range(1, self.n_styles):
            if i == COARSE_END:
                p2 = _upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == MIDDLE_END:
                features = _upsample_add(p2, self.latlayer2(c1))
            codes.append(w0 + self.styles[i](features))
        return torch.stack(codes, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W+ codes [B, n_styles, 512]: ``raw_codes(x) + latent_avg`` if the encoder has one."""
        codes = self.raw_codes(x)
        if self.has_latent_avg:
            codes = codes + self.latent_avg
        return codes
