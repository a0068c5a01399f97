"""StyleGAN2 generator (rosinality layout and numerics, see docs/architecture.md §4.1)."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn

from .base import NOISE_MODES, GeneratorBase
from .stylegan2_layers import DEFAULT_BLUR, ConstantInput, EqualLinear, PixelNorm, StyledConv, ToRGB


def default_channels(channel_multiplier: int = 2) -> Dict[int, int]:
    """The stock channel table of StyleGAN2 for a channel multiplier."""
    cm = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm, 1024: 16 * cm}


class StyleGAN2Generator(GeneratorBase):
    """StyleGAN2 generator with rosinality's parameter names.

    ``channels`` maps each resolution (4 .. size) to its channel count; by default it is the
    stock table for ``channel_multiplier``. With the ``"default"`` formulation activations are
    kept channels-last (about 2x faster convolutions on CPU); see ``set_formulation``. W+ index use: conv1 <- 0, to_rgb1 <- 1, then for
    k = 0..: convs[2k] <- 2k+1, convs[2k+1] <- 2k+2, to_rgbs[k] <- 2k+3.
    ``conv_clamp`` is stylegan2-ada's activation clamp (256 in many published configs): every
    convolution's activated output and every ToRGB output (before the skip sum) is clamped to
    ``[-conv_clamp, conv_clamp]``; ``None`` (rosinality's generators) clamps nothing.
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 channels: Optional[Mapping[int, int]] = None, blur_taps: Sequence[float] = DEFAULT_BLUR,
                 lr_mlp: float = 0.01, conv_clamp: Optional[float] = None):
        super().__init__()
        self.formulation = "default"
        log_size = int(math.log2(size))
        if size < 4 or 2 ** log_size != size:
            raise ValueError(f"size must be a power of two >= 4, got {size}")
        table = {int(k): int(v) for k, v in (channels or default_channels(channel_multiplier)).items()}
        missing = [2 ** i for i in range(2, log_size + 1) if 2 ** i not in table]
        if missing:
            raise ValueError(f"channels has no entry for resolutions {missing}")
        self.size, self.style_dim, self.n_mlp = size, style_dim, n_mlp
        self.channels = {2 ** i: table[2 ** i] for i in range(2, log_size + 1)}
        self.blur_taps = tuple(blur_taps)
        self.lr_mlp = lr_mlp
        if conv_clamp is not None and not conv_clamp > 0:
            raise ValueError(f"conv_clamp must be positive or None, got {conv_clamp}")
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        clamp = self.conv_clamp
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)])
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_taps=blur_taps, conv_clamp=clamp)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False, blur_taps=blur_taps, clamp=clamp)
        self.log_size = log_size
        self.num_layers = (log_size - 2) * 2 + 1
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_ch = self.channels[4]
        for i in range(3, log_size + 1):
            out_ch = self.channels[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_taps=blur_taps,
                                         conv_clamp=clamp))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_taps=blur_taps, conv_clamp=clamp))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_taps=blur_taps, clamp=clamp))
            in_ch = out_ch
        self.n_latent = log_size * 2 - 2
        self.register_buffer("latent_avg", torch.zeros(style_dim))
        self.has_latent_avg = False

    @property
    def resolution(self) -> int:
        """Output image size in pixels."""
        return self.size

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this architecture."""
        return {"size": self.size, "style_dim": self.style_dim, "n_mlp": self.n_mlp,
                "channels": {str(k): v for k, v in self.channels.items()},
                "blur_taps": list(self.blur_taps), "lr_mlp": self.lr_mlp, "conv_clamp": self.conv_clamp}

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """``latent_avg`` is optional: the common port's state dicts have no such key.

        Without it the buffer is zeroed and ``has_latent_avg`` is False (truncation then needs an
        explicit centre), so ``load_state_dict(sd, strict=True)`` accepts those state dicts."""
        key = prefix + "latent_avg"
        present = key in state_dict
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        if not present:
            if key in missing_keys:
                missing_keys.remove(key)
            self.latent_avg.zero_()
            self.has_latent_avg = False

    def set_latent_avg(self, latent_avg: torch.Tensor) -> None:
        """Store the checkpoint's average w (used as the default truncation centre)."""
        self.latent_avg.copy_(latent_avg.reshape(self.style_dim))
        self.has_latent_avg = True

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, style_dim] -> w [B, style_dim]."""
        if z.ndim != 2 or z.shape[1] != self.style_dim:
            raise ValueError(f"z must be [B, {self.style_dim}], got {tuple(z.shape)}")
        return self.style(z)

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        """rosinality alias of :meth:`mapping`."""
        return self.mapping(z)

    def stored_noise(self) -> List[torch.Tensor]:
        """The per-layer noise buffers used by ``noise_mode="const"``."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def synthesis(self, wplus: torch.Tensor, noise_mode: str = "const",
                  noise: Optional[Sequence[Optional[torch.Tensor]]] = None,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """W+ [B, n_latent, style_dim] -> image [B, 3, size, size] (roughly in [-1, 1]).

        ``noise_mode``: ``"const"`` stored buffers, ``"random"`` fresh noise (from ``generator``),
        ``"none"`` no noise. An explicit per-layer ``noise`` list overrides the mode for its
        non-``None`` entries.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if wplus.ndim != 3 or wplus.shape[1:] != (self.n_latent, self.style_dim):
            raise ValueError(f"W+ must be [B, {self.n_latent}, {self.style_dim}], got {tuple(wplus.shape)}")
        if noise is None:
            noise = self.stored_noise() if noise_mode == "const" else [None] * self.num_layers
        elif len(noise) != self.num_layers:
            raise ValueError(f"noise must have {self.num_layers} entries, got {len(noise)}")
        elif noise_mode == "const":
            stored = self.stored_noise()
            noise = [stored[i] if n is None else n for i, n in enumerate(noise)]
        layer_mode = "random" if noise_mode == "const" else noise_mode  # explicit tensors are used as given
        out = self.input(wplus.shape[0])
        if self.formulation == "default":
            out = out.contiguous(memory_format=torch.channels_last)
        out = self.conv1(out, wplus[:, 0], noise[0], layer_mode, generator)
        skip = self.to_rgb1(out, wplus[:, 1])
        i = 1
        for conv_up, conv, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2],
                                                 self.to_rgbs):
            out = conv_up(out, wplus[:, i], n1, layer_mode, generator)
            out = conv(out, wplus[:, i + 1], n2, layer_mode, generator)
            skip = to_rgb(out, wplus[:, i + 2], skip)
            i += 2
        return skip.contiguous()
