"""StyleGAN2 residual discriminator (rosinality layout)."""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from .stylegan2 import default_channels
from .stylegan2_layers import DEFAULT_BLUR, Blur, EqualConv2d, EqualLinear, FusedLeakyReLU


class ConvLayer(nn.Sequential):
    """[Blur] + EqualConv2d (+ bias/leaky ReLU); stride 2 when ``downsample``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, downsample: bool = False,
                 blur_taps: Sequence[float] = DEFAULT_BLUR, bias: bool = True, activate: bool = True):
        layers = []
        if downsample:
            p = len(blur_taps) - 2 + (kernel_size - 1)
            layers.append(Blur(blur_taps, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3x3 convs (the second downsampling) with a 1x1 downsampling skip, scaled by 1/sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int, blur_taps: Sequence[float] = DEFAULT_BLUR):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, blur_taps=blur_taps)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_taps=blur_taps)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, blur_taps=blur_taps, activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class StyleGAN2Discriminator(nn.Module):
    """Residual discriminator with the minibatch standard-deviation layer (group 4, 1 feature)."""

    def __init__(self, size: int, channel_multiplier: int = 2, channels: Optional[Mapping[int, int]] = None,
                 blur_taps: Sequence[float] = DEFAULT_BLUR):
        super().__init__()
        table = {int(k): int(v) for k, v in (channels or default_channels(channel_multiplier)).items()}
        log_size = int(math.log2(size))
        if size < 8 or 2 ** log_size != size:
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        layers = [ConvLayer(3, table[size], 1)]
        in_ch = table[size]
        for i in range(log_size, 2, -1):
            out_ch = table[2 ** (i - 1)]
            layers.append(ResBlock(in_ch, out_ch, blur_taps))
            in_ch = out_ch
        self.convs = nn.Sequential(*layers)
        self.stddev_group, self.stddev_feat = 4, 1
        self.final_conv = ConvLayer(in_ch + 1, table[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(table[4] * 4 * 4, table[4], activation="fused_lrelu"),
                                          EqualLinear(table[4], 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, size, size] -> realness logits [B, 1]."""
        out = self.convs(image)
        b, c, h, w = out.shape
        group = max(g for g in range(1, min(b, self.stddev_group) + 1) if b % g == 0)
        std = out.view(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
        return self.final_linear(self.final_conv(out).view(b, -1))
