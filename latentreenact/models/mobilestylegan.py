"""MobileStyleGAN (Belousov 2021), a 1024 px wavelet-based StyleGAN2 student, in plain PyTorch.

Weights come from the OpenVINO IR files shipped by the PyPI package ``random-face``
(``random_face/data/{MappingNetwork,SynthesisNetwork}.{xml,bin}``), read by our own IR parser
(:mod:`latentreenact.models.openvino_ir`). The weights derive from NVIDIA's StyleGAN2-FFHQ model:
research / non-commercial use only.

What the IR holds (and therefore what this module computes):

* mapping: PixelNorm, then 8 x (linear with the equalised-lr scales already folded in, leaky ReLU
  0.2, gain sqrt(2)).
* synthesis: a 4x4x512 constant; ``conv1`` (modulated 3x3 conv); 7 blocks, each ``up`` (the hidden
  state times a per-channel style modulation, then an inverse Haar transform: channels ``[0, C/4)``
  are the LL band, ``[C/4, C)`` the (LH, HL, HH) bands interleaved per channel), ``conv1`` and
  ``conv2`` (modulated depthwise-separable 3x3 convs); the last block's ``to_img`` (modulated 1x1
  conv to 12 wavelet channels: 3 LL + 3x3 high bands) and a final inverse Haar transform to 1024 px.
  Every styled conv adds noise and a bias, then leaky ReLU 0.2 (no gain).
* demodulation in this model is style independent (it used fixed statistics), so the IR folds it
  into the conv weights; we keep the folded weights (``weight`` / ``weight_pw``), which is exact.
* noise: the IR holds one fixed noise map per styled conv, already multiplied by its strength. We
  store ``strength = rms(map)`` and ``const = map / strength`` so that ``noise_mode="const"``
  reproduces the IR; ``"random"`` draws fresh N(0, 1) maps times that strength (an estimate of the
  trained strength; the 4x4 one rests on 16 samples).
* the IR takes a single w for all layers. The per-level ``to_img`` heads for 8..512 px that the
  model was distilled with are not in the IR (the export pruned them: only the final image was an
  output), so ``from_ir`` builds a model without them; see :meth:`MobileSynthesis.forward`.
  ``from_ir(heads="default")`` attaches heads we fitted in closed form instead
  (:mod:`latentreenact.models.mobilestylegan_heads`).

W+ layout (n_latent = 23 = 2 + 3 per block). The IR ties all layers to one w; here every row of
W+ is read separately. Default ``style_layout="per_layer"``: each of the 23 modulated layers of
the IR has its own row, so no row is shared or unused:

=====================  =======================================================
style index            layer it modulates
=====================  =======================================================
0                      ``conv1`` (4x4)
3k + 1 (k = 0..6)      block k ``up`` (modulated inverse-Haar upsampling)
3k + 2                 block k ``conv1``
3k + 3                 block k ``conv2``
3k + 4                 block k ``to_img`` (2**(k+4) px wavelet head); k = 6: index 22, the
                       only head in the IR. Heads of k < 6 (``level_heads=True``) share the
                       row with block k+1 ``up``, and ``to_img1`` (8 px) shares row 1, as
                       StyleGAN2's to_rgb shares with the next conv.
=====================  =======================================================

``style_layout="upstream"`` reproduces the slicing of the upstream MobileStyleGAN.pytorch code
(so W+ codes made for that PyTorch model render the same): 0 ``conv1``; 1 ``to_img1``; block k:
``up`` and ``conv1`` <- 3k+1, ``conv2`` <- 3k+2, ``to_img`` <- 3k+3; row 22 unused. With the IR
weights (no intermediate heads) rows 3, 6, ..., 18 and 22 then have no effect.

Block k works at 2**(k+3) px (hidden state) and its head gives a 2**(k+4) px image.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import NOISE_MODES, GeneratorBase
from .openvino_ir import IRFormatError, IRGraph, IRLayer

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
DEFAULT_CHANNELS: Tuple[int, ...] = (512, 512, 512, 512, 512, 256, 128, 64)
RANDOM_FACE_PIN = "random-face==2021.7.21.1"
INV_SQRT2 = 1.0 / math.sqrt(2.0)
STYLE_LAYOUTS = ("per_layer", "upstream")


@dataclass(frozen=True)
class StyleIndex:
    """Which W+ row feeds which layer (see the module docstring)."""

    conv1: int
    to_img1: int
    blocks: Tuple[Tuple[int, int, int, int], ...]  # per block: (up, conv1, conv2, to_img)

    @classmethod
    def build(cls, n_blocks: int, layout: str = "per_layer") -> "StyleIndex":
        """The table for ``n_blocks`` blocks in one of ``STYLE_LAYOUTS``."""
        if layout == "per_layer":
            return cls(0, 1, tuple((3 * k + 1, 3 * k + 2, 3 * k + 3, 3 * k + 4) for k in range(n_blocks)))
        if layout == "upstream":
            return cls(0, 1, tuple((3 * k + 1, 3 * k + 1, 3 * k + 2, 3 * k + 3) for k in range(n_blocks)))
        raise ValueError(f"style_layout must be one of {STYLE_LAYOUTS}, got {layout!r}")


# ----------------------------------------------------------------------------------- wavelets
def inverse_haar(ll: torch.Tensor, lh: torch.Tensor, hl: torch.Tensor, hh: torch.Tensor) -> torch.Tensor:
    """Single-level inverse 2-D Haar (db1) transform: four [B, C, H, W] bands -> [B, C, 2H, 2W].

    Same convention as ``pytorch_wavelets.DWTInverse(wave="db1")``: LH is the vertical detail
    (filtered along height), HL the horizontal one.
    """
    b, c, h, w = ll.shape
    lo_even, lo_odd = ll + lh, ll - lh  # along height: rows 2i, 2i+1 of the low-pass half
    hi_even, hi_odd = hl + hh, hl - hh  # rows 2i, 2i+1 of the high-pass half
    even_rows = torch.stack([lo_even + hi_even, lo_even - hi_even], dim=-1)  # along width: cols 2j, 2j+1
    odd_rows = torch.stack([lo_odd + hi_odd, lo_odd - hi_odd], dim=-1)
    return torch.stack([even_rows, odd_rows], dim=3).mul_(0.5).reshape(b, c, 2 * h, 2 * w)


def split_bands(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split [B, 4C, H, W] laid out as (LL: C, then per channel (LH, HL, HH)) into four bands."""
    b, c4, h, w = x.shape
    c = c4 // 4
    high = x[:, c:].reshape(b, c, 3, h, w)
    return x[:, :c], high[:, :, 0], high[:, :, 1], high[:, :, 2]


def wavelet_to_image(freq: torch.Tensor) -> torch.Tensor:
    """12-channel wavelet output [B, 12, S, S] -> RGB image [B, 3, 2S, 2S]."""
    return inverse_haar(*split_bands(freq))


# ----------------------------------------------------------------------------------- layers
class NoiseInjection(nn.Module):
    """``x + strength * noise`` with a stored constant map for ``noise_mode="const"``."""

    def __init__(self, size: int):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(1))
        self.register_buffer("const", torch.randn(1, 1, size, size))

    def forward(self, x: torch.Tensor, noise_mode: str, noise: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Add noise: an explicit N(0, 1) map, the stored one, a fresh one, or none."""
        if noise is None:
            if noise_mode == "none":
                return x
            if noise_mode == "const":
                noise = self.const
            else:
                dev = generator.device if generator is not None else x.device
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], generator=generator,
                                    device=dev, dtype=x.dtype).to(x.device)
        return x + self.strength * noise.to(dtype=x.dtype)


class StyledConv(nn.Module):
    """Modulated conv (dense k x k, or depthwise k x k + pointwise 1x1), noise, bias, leaky ReLU 0.2.

    ``modulation(w) * scale`` multiplies the input channels; demodulation is folded into
    ``weight`` (dense) or ``weight_pw`` (depthwise-separable).
    """

    def __init__(self, channels_in: int, channels_out: int, style_dim: int, size: int,
                 kernel_size: int = 3, depthwise: bool = False):
        super().__init__()
        self.depthwise = depthwise
        self.scale = 1.0 / math.sqrt(channels_in * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.modulation = nn.Linear(style_dim, channels_in)
        nn.init.ones_(self.modulation.bias)
        if depthwise:
            self.weight_dw = nn.Parameter(torch.randn(channels_in, 1, kernel_size, kernel_size))
            self.weight_pw = nn.Parameter(torch.randn(channels_out, channels_in, 1, 1))
        else:
            self.weight = nn.Parameter(torch.randn(channels_out, channels_in, kernel_size, kernel_size))
        self.noise = NoiseInjection(size)
        self.bias = nn.Parameter(torch.zeros(1, channels_out, 1, 1))
        self._demodulate_init()

    @torch.no_grad()
    def _demodulate_init(self) -> None:
        """Fold StyleGAN2 demodulation of the random init into the weights (unit-norm rows)."""
        if self.depthwise:
            combined = self.weight_dw.view(1, -1, self.weight_dw.shape[-2], self.weight_dw.shape[-1]) \
                * self.weight_pw.view(self.weight_pw.shape[0], -1, 1, 1)
            self.weight_pw.mul_(torch.rsqrt((self.scale * combined).pow(2).sum([1, 2, 3]) + 1e-8).view(-1, 1, 1, 1))
        else:
            self.weight.mul_(torch.rsqrt((self.scale * self.weight).pow(2).sum([1, 2, 3]) + 1e-8).view(-1, 1, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str,
                noise: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``x`` [B, Cin, S, S], ``w`` [B, style_dim] -> [B, Cout, S, S]."""
        x = x * (self.modulation(w) * self.scale)[:, :, None, None]
        if self.depthwise:
            x = F.conv2d(x, self.weight_dw, padding=self.padding, groups=x.shape[1])
            x = F.conv2d(x, self.weight_pw)
        else:
            x = F.conv2d(x, self.weight, padding=self.padding)
        x = self.noise(x, noise_mode, noise, generator)
        return F.leaky_relu(x + self.bias, 0.2)


class WaveletHead(nn.Module):
    """Modulated 1x1 conv (no demodulation) to 12 wavelet channels (3 LL + 3x3 high bands)."""

    def __init__(self, channels_in: int, style_dim: int, channels_out: int = 12):
        super().__init__()
        self.scale = 1.0 / math.sqrt(channels_in)
        self.modulation = nn.Linear(style_dim, channels_in)
        nn.init.ones_(self.modulation.bias)
        self.weight = nn.Parameter(torch.randn(channels_out, channels_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels_out, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, S, S], ``w`` [B, style_dim] -> wavelet [B, 12, S, S]."""
        x = x * (self.modulation(w) * self.scale)[:, :, None, None]
        return F.conv2d(x, self.weight) + self.bias


class ModulatedInverseHaar(nn.Module):
    """Upsampling of the hidden state: per-channel modulation, then inverse Haar (C -> C/4, 2x)."""

    def __init__(self, channels_in: int, style_dim: int):
        super().__init__()
        if channels_in % 4:
            raise ValueError(f"inverse-Haar upsampling needs channels divisible by 4, got {channels_in}")
        self.modulation = nn.Linear(style_dim, channels_in)
        nn.init.ones_(self.modulation.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """[B, C, S, S] -> [B, C/4, 2S, 2S]."""
        return inverse_haar(*split_bands(x * self.modulation(w)[:, :, None, None]))


class SynthesisBlock(nn.Module):
    """One level: inverse-Haar upsampling, two depthwise-separable styled convs, optional head."""

    def __init__(self, channels_in: int, channels_out: int, style_dim: int, size: int, with_head: bool):
        super().__init__()
        self.up = ModulatedInverseHaar(channels_in, style_dim)
        self.conv1 = StyledConv(channels_in // 4, channels_out, style_dim, size, depthwise=True)
        self.conv2 = StyledConv(channels_out, channels_out, style_dim, size, depthwise=True)
        self.to_img = WaveletHead(channels_out, style_dim) if with_head else None


class MappingNetwork(nn.Module):
    """PixelNorm + ``n_mlp`` x (linear, leaky ReLU 0.2, gain sqrt 2); equalised-lr scales folded in."""

    def __init__(self, style_dim: int = 512, n_mlp: int = 8):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(style_dim, style_dim) for _ in range(n_mlp))
        for layer in self.layers:
            nn.init.normal_(layer.weight, std=1.0 / math.sqrt(style_dim))
            nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` [B, style_dim] -> ``w`` [B, style_dim]."""
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2.0)
        return x


class MobileSynthesis(nn.Module):
    """The synthesis network; ``level_heads`` builds the 8..512 px wavelet heads (absent in the IR)."""

    def __init__(self, style_dim: int = 512, channels: Sequence[int] = DEFAULT_CHANNELS, level_heads: bool = False,
                 style_layout: str = "per_layer"):
        super().__init__()
        self.channels = tuple(int(c) for c in channels)
        self.style_index = StyleIndex.build(len(self.channels) - 1, style_layout)
        self.const = nn.Parameter(torch.randn(1, self.channels[0], 4, 4))
        self.conv1 = StyledConv(self.channels[0], self.channels[0], style_dim, 4, depthwise=False)
        self.to_img1 = WaveletHead(self.channels[0], style_dim) if level_heads else None
        n_blocks = len(self.channels) - 1
        self.blocks = nn.ModuleList(
            SynthesisBlock(c_in, c_out, style_dim, 2 ** (k + 3), with_head=level_heads or k == n_blocks - 1)
            for k, (c_in, c_out) in enumerate(zip(self.channels[:-1], self.channels[1:])))

    @property
    def resolution(self) -> int:
        """Size of the final image."""
        return 2 ** (len(self.blocks) + 3)

    @property
    def num_noise(self) -> int:
        """Number of noise inputs (``conv1`` + 2 per block)."""
        return 1 + 2 * len(self.blocks)

    def noise_layers(self) -> List[NoiseInjection]:
        """The noise-injection modules in the order of the ``noise`` list."""
        layers = [self.conv1.noise]
        for block in self.blocks:
            layers += [block.conv1.noise, block.conv2.noise]
        return layers

    def has_head(self, size: int) -> bool:
        """Whether a trained wavelet head renders ``size`` px directly."""
        level = int(math.log2(size)) - 3
        return self.to_img1 is not None if level == 0 else self.blocks[level - 1].to_img is not None

    def forward(self, wplus: torch.Tensor, noise_mode: str = "const",
                noise: Optional[Sequence[Optional[torch.Tensor]]] = None,
                generator: Optional[torch.Generator] = None, resolution: Optional[int] = None) -> torch.Tensor:
        """W+ [B, 23, style_dim] -> image [B, 3, R, R].

        With a head for ``resolution`` the blocks above it are skipped. Without one (models
        loaded from the IR below 1024 px) the top level is rendered and its wavelet LL band,
        which is exactly the 2x area-downsampled 1024 px image, is area-downsampled further.
        """
        size = self.resolution if resolution is None else int(resolution)
        if size < 8 or size > self.resolution or size & (size - 1):
            raise ValueError(f"resolution must be a power of two in [8, {self.resolution}], got {resolution}")
        noise = list(noise) if noise is not None else [None] * self.num_noise
        if len(noise) != self.num_noise:
            raise ValueError(f"noise must be a list of {self.num_noise} entries (tensors or None), got {len(noise)}")
        stop = int(math.log2(size)) - 3 if self.has_head(size) else len(self.blocks)

        x = self.const.expand(wplus.shape[0], -1, -1, -1)
        index = self.style_index
        x = self.conv1(x, wplus[:, index.conv1], noise_mode, noise[0], generator)
        if stop == 0:
            return wavelet_to_image(self.to_img1(x, wplus[:, index.to_img1]))
        for k, block in enumerate(self.blocks[:stop]):
            i_up, i_conv1, i_conv2, _ = index.blocks[k]
            x = block.up(x, wplus[:, i_up])
            x = block.conv1(x, wplus[:, i_conv1], noise_mode, noise[2 * k + 1], generator)
            x = block.conv2(x, wplus[:, i_conv2], noise_mode, noise[2 * k + 2], generator)
        freq = self.blocks[stop - 1].to_img(x, wplus[:, index.blocks[stop - 1][3]])
        if 2 * freq.shape[-1] == size:
            return wavelet_to_image(freq)
        low = freq[:, :3] * 0.5  # the LL band / 2 = the full image average-pooled 2x
        return F.avg_pool2d(low, low.shape[-1] // size) if low.shape[-1] != size else low

    def forward_levels(self, wplus: torch.Tensor, noise_mode: str = "const",
                       noise: Optional[Sequence[Optional[torch.Tensor]]] = None,
                       generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Full-resolution render plus every level's hidden state: ``(image, states)``.

        ``states[0]`` is the output of ``conv1`` (4x4) and ``states[k + 1]`` that of block ``k``'s
        ``conv2`` (``2**(k+3)`` px), i.e. ``states[L]`` is what the ``2**(L+3)`` px head reads.
        The image equals ``forward(wplus, ...)`` at full resolution (same ops, same order).
        """
        noise = list(noise) if noise is not None else [None] * self.num_noise
        if len(noise) != self.num_noise:
            raise ValueError(f"noise must be a list of {self.num_noise} entries (tensors or None), got {len(noise)}")
        index = self.style_index
        x = self.const.expand(wplus.shape[0], -1, -1, -1)
        x = self.conv1(x, wplus[:, index.conv1], noise_mode, noise[0], generator)
        states = [x]
        for k, block in enumerate(self.blocks):
            i_up, i_conv1, i_conv2, _ = index.blocks[k]
            x = block.up(x, wplus[:, i_up])
            x = block.conv1(x, wplus[:, i_conv1], noise_mode, noise[2 * k + 1], generator)
            x = block.conv2(x, wplus[:, i_conv2], noise_mode, noise[2 * k + 2], generator)
            states.append(x)
        image = wavelet_to_image(self.blocks[-1].to_img(x, wplus[:, index.blocks[-1][3]]))
        return image, states


# ----------------------------------------------------------------------------------- generator
class MobileStyleGAN(GeneratorBase):
    """MobileStyleGAN generator (1024 px FFHQ faces); ``from_ir`` loads the ``random-face`` weights.

    Research / non-commercial use (weights derived from NVIDIA StyleGAN2-FFHQ).
    """

    def __init__(self, style_dim: int = 512, n_mlp: int = 8, channels: Sequence[int] = DEFAULT_CHANNELS,
                 level_heads: bool = False, style_layout: str = "per_layer"):
        super().__init__()
        self.style_dim = style_dim
        self.style_layout = style_layout
        self.mapping_network = MappingNetwork(style_dim, n_mlp)
        self.synthesis_network = MobileSynthesis(style_dim, channels, level_heads, style_layout)
        self.resolution = self.synthesis_network.resolution
        self.n_latent = 2 + 3 * len(self.synthesis_network.blocks)

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this architecture."""
        return {"style_dim": self.style_dim, "n_mlp": len(self.mapping_network.layers),
                "channels": list(self.synthesis_network.channels),
                "level_heads": self.synthesis_network.to_img1 is not None, "style_layout": self.style_layout}

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Map ``z`` [B, style_dim] to ``w`` [B, style_dim]."""
        return self.mapping_network(z)

    def synthesis(self, wplus: torch.Tensor, noise_mode: str = "const",
                  noise: Optional[Sequence[Optional[torch.Tensor]]] = None,
                  generator: Optional[torch.Generator] = None, resolution: Optional[int] = None) -> torch.Tensor:
        """Render W+ [B, 23, style_dim] (or one w [B, style_dim] for all layers) to [B, 3, R, R] in ~[-1, 1].

        ``noise_mode``: ``"const"`` (the IR's fixed maps), ``"random"`` (fresh, from ``generator``)
        or ``"none"``; ``noise`` is a list of ``num_noise`` N(0, 1) maps or ``None`` entries.
        ``resolution`` in {8, ..., 1024}, default ``self.resolution``.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if wplus.ndim == 2:
            wplus = wplus.unsqueeze(1).expand(-1, self.n_latent, -1)
        if wplus.ndim != 3 or wplus.shape[1] != self.n_latent or wplus.shape[2] != self.style_dim:
            raise ValueError(f"expected W+ of shape [B, {self.n_latent}, {self.style_dim}], got {tuple(wplus.shape)}")
        return self.synthesis_network(wplus, noise_mode, noise, generator, resolution)

    @property
    def num_noise(self) -> int:
        """Length of the ``noise`` list accepted by ``synthesis``."""
        return self.synthesis_network.num_noise

    def make_noise(self, generator: Optional[torch.Generator] = None) -> List[torch.Tensor]:
        """Fresh N(0, 1) noise maps [1, 1, S, S] for every noise input (rosinality ``make_noise``)."""
        return [torch.randn(layer.const.shape, generator=generator).to(self.device)
                for layer in self.synthesis_network.noise_layers()]

    @classmethod
    def from_ir(cls, data_dir: Optional[PathLike] = None, style_layout: str = "per_layer",
                heads: Optional[PathLike] = None) -> "MobileStyleGAN":
        """Build the generator from ``MappingNetwork.{xml,bin}`` and ``SynthesisNetwork.{xml,bin}``.

        ``data_dir`` defaults to the installed ``random_face`` package's ``data`` folder
        (the package is located without importing it). ``style_layout``: see the module docstring.
        ``heads``: ``None`` (the IR only: below 1024 px the full network runs and is downsampled),
        ``"default"`` (the fitted 8..512 px heads shipped in ``latentreenact/weights``) or the path
        of a heads file; with heads, ``synthesis(..., resolution=R)`` skips the blocks above R.
        See :mod:`latentreenact.models.mobilestylegan_heads`.
        """
        folder = Path(data_dir) if data_dir is not None else random_face_data_dir()
        mapping = IRGraph.load(folder / "MappingNetwork.xml")
        synthesis = IRGraph.load(folder / "SynthesisNetwork.xml")
        state = ir_state_dict(mapping, synthesis)
        n_mlp = sum(1 for k in state if k.startswith("mapping_network.layers.") and k.endswith(".weight"))
        channels = [state["synthesis_network.const"].shape[1]]
        k = 0
        while f"synthesis_network.blocks.{k}.conv1.bias" in state:
            channels.append(state[f"synthesis_network.blocks.{k}.conv1.bias"].shape[1])
            k += 1
        style_dim = int(state["mapping_network.layers.0.weight"].shape[1])
        model = cls(style_dim=style_dim, n_mlp=n_mlp, channels=channels, level_heads=False, style_layout=style_layout)
        model.load_state_dict(state, strict=True)
        logger.info("loaded MobileStyleGAN from %s (research / non-commercial use: derived from NVIDIA FFHQ)", folder)
        if heads is not None:
            from .mobilestylegan_heads import attach_heads, load_heads  # late: that module imports this one

            attach_heads(model, *load_heads(heads))
        return model.eval()


def random_face_data_dir() -> Path:
    """The ``data`` folder of the installed ``random_face`` package (found without importing it)."""
    spec = importlib.util.find_spec("random_face")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "MobileStyleGAN weights not found: the 'random_face' package is not installed. Install its data "
            f"files with `pip install --no-deps {RANDOM_FACE_PIN}` or pass data_dir= to MobileStyleGAN.from_ir")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (folder / "SynthesisNetwork.xml").is_file():
        raise FileNotFoundError(
            f"{folder} lacks SynthesisNetwork.xml; reinstall with "
            f"`pip install --no-deps --force-reinstall {RANDOM_FACE_PIN}`")
    return folder


# ----------------------------------------------------------------------------------- IR import
def _split_const(graph: IRGraph, layer: IRLayer) -> Tuple[np.ndarray, IRLayer]:
    """For a binary op with one ``Const`` input: (that constant, the other input layer)."""
    a, b = graph.inputs_of(layer)
    if a.type == "Const" and b.type != "Const":
        return graph.const(a), b
    if b.type == "Const" and a.type != "Const":
        return graph.const(b), a
    raise IRFormatError(f"{graph.name}: expected one Const input to {layer.type} {layer.name!r}")


def _expect(layer: IRLayer, op: str, what: str) -> IRLayer:
    if layer.type != op:
        raise IRFormatError(f"unexpected IR structure at {what}: found {layer.type} {layer.name!r}, expected {op}")
    return layer


def _single_consumer(graph: IRGraph, layer: IRLayer) -> IRLayer:
    users = [u for u in graph.consumers(layer) if u[0].type != "ShapeOf"]  # shape plumbing ignored
    if len(users) != 1:
        raise IRFormatError(f"{graph.name}: {layer.name!r} feeds {len(users)} layers, expected 1")
    return users[0][0]


def _modulation_scale(graph: IRGraph, prefix: str) -> float:
    """The scalar multiplying ``Linear(style)`` of ``{prefix}.modulation`` (1.0 if none)."""
    node = _single_consumer(graph, graph.layer(f"{prefix}.modulation.weight"))  # MatMul
    node = _single_consumer(graph, node)  # Add bias
    node = _single_consumer(graph, node)  # Reshape to [B, C, 1, 1]
    node = _single_consumer(graph, node)  # Multiply (scale) or Multiply (with x)
    for src in graph.inputs_of(node):
        if src.type == "Const" and graph.const(src).size == 1:
            return float(graph.const(src).ravel()[0])
    return 1.0


def _linear(graph: IRGraph, prefix: str) -> Dict[str, torch.Tensor]:
    weight = graph.const(f"{prefix}.weight")
    return {"weight": torch.from_numpy(weight),
            "bias": torch.from_numpy(graph.const(f"{prefix}.bias").reshape(weight.shape[0]))}


def _styled_conv(graph: IRGraph, prefix: str, depthwise: bool) -> Dict[str, torch.Tensor]:
    """Weights of one styled conv, found by walking back from its named bias."""
    bias_const = graph.layer(f"{prefix}.bias")
    add_bias = _expect(_single_consumer(graph, bias_const), "Add", f"{prefix}.bias")
    _, add_noise = _split_const(graph, add_bias)
    noise_map, conv = _split_const(graph, _expect(add_noise, "Add", f"{prefix} noise"))
    weight, conv_in = _split_const(graph, _expect(conv, "Convolution", f"{prefix} conv"))
    out = {f"modulation.{k}": v for k, v in _linear(graph, f"{prefix}.conv.modulation").items()}
    if depthwise:
        dw, _ = _split_const(graph, _expect(conv_in, "GroupConvolution", f"{prefix} depthwise conv"))
        out["weight_dw"] = torch.from_numpy(dw.reshape(dw.shape[0], 1, dw.shape[-2], dw.shape[-1]))
        out["weight_pw"] = torch.from_numpy(weight)
    else:
        out["weight"] = torch.from_numpy(weight)
    rms = float(np.sqrt(np.mean(noise_map.astype(np.float64) ** 2)))
    out["noise.strength"] = torch.tensor([rms], dtype=torch.float32)
    out["noise.const"] = torch.from_numpy((noise_map / rms if rms > 0 else noise_map).astype(np.float32))
    out["bias"] = torch.from_numpy(graph.const(bias_const))
    return out


def _check_haar_filters(graph: IRGraph) -> None:
    """Every transposed conv of the graph must be a db1 synthesis filter (+-1/sqrt 2)."""
    for layer in graph.of_type("GroupConvolutionBackpropData"):
        taps, _ = _split_const(graph, layer)
        if not np.allclose(np.abs(taps), INV_SQRT2, atol=1e-6):
            raise IRFormatError(f"{layer.name}: not a Haar synthesis filter, got taps {taps.ravel()[:2]}")


def _mapping_state(graph: IRGraph) -> Dict[str, torch.Tensor]:
    """Mapping weights: one (MatMul weight, bias) pair per layer, in graph order."""
    state: Dict[str, torch.Tensor] = {}
    matmuls = [layer for layer in graph.topological_order() if layer.type == "MatMul"]
    if not matmuls:
        raise IRFormatError(f"{graph.name}: no MatMul layers; not a mapping network")
    for i, matmul in enumerate(matmuls):
        if matmul.data.get("transpose_b") != "true":
            raise IRFormatError(f"{matmul.name}: expected transpose_b=true")
        weight, _ = _split_const(graph, matmul)
        add = _expect(_single_consumer(graph, matmul), "Add", f"{matmul.name} bias")
        bias_src = [x for x in graph.inputs_of(add) if x is not matmul][0]
        bias_const = bias_src if bias_src.type == "Const" else graph.inputs_of(bias_src)[0]
        state[f"mapping_network.layers.{i}.weight"] = torch.from_numpy(weight)
        state[f"mapping_network.layers.{i}.bias"] = torch.from_numpy(graph.const(bias_const).reshape(-1))
    return state


def ir_state_dict(mapping: IRGraph, synthesis: IRGraph) -> Dict[str, torch.Tensor]:
    """A ``MobileStyleGAN`` state dict (``level_heads=False``) from the two parsed IR graphs."""
    state = _mapping_state(mapping)
    _check_haar_filters(synthesis)
    syn = "synthesis_network"
    state[f"{syn}.const"] = torch.from_numpy(synthesis.const("m.input.input"))
    for key, value in _styled_conv(synthesis, "m.conv1", depthwise=False).items():
        state[f"{syn}.conv1.{key}"] = value
    const_names = {layer.name for layer in synthesis.of_type("Const")}
    k = 0
    while f"m.layers.{k}.up.modulation.weight" in const_names:
        for key, value in _linear(synthesis, f"m.layers.{k}.up.modulation").items():
            state[f"{syn}.blocks.{k}.up.modulation.{key}"] = value
        for conv in ("conv1", "conv2"):
            for key, value in _styled_conv(synthesis, f"m.layers.{k}.{conv}", depthwise=True).items():
                state[f"{syn}.blocks.{k}.{conv}.{key}"] = value
        k += 1
    if k == 0:
        raise IRFormatError(f"{synthesis.name}: no synthesis blocks (m.layers.*) found")
    head = f"m.layers.{k - 1}.to_img"
    for key, value in _linear(synthesis, f"{head}.conv.modulation").items():
        state[f"{syn}.blocks.{k - 1}.to_img.modulation.{key}"] = value
    state[f"{syn}.blocks.{k - 1}.to_img.weight"] = torch.from_numpy(synthesis.const(f"{head}.conv.weight"))
    state[f"{syn}.blocks.{k - 1}.to_img.bias"] = torch.from_numpy(synthesis.const(f"{head}.bias"))
    _check_modulation_scales(synthesis, k)
    return state


def _check_modulation_scales(graph: IRGraph, n_blocks: int) -> None:
    """The IR's modulation scales must equal ours: 1/sqrt(fan_in), 1 for ``up``."""
    checks = [("m.conv1.conv", graph.const("m.conv1.conv.modulation.weight").shape[0] * 9)]
    for k in range(n_blocks):
        checks.append((f"m.layers.{k}.up", None))
        for conv in ("conv1", "conv2"):
            fan_in = graph.const(f"m.layers.{k}.{conv}.conv.modulation.weight").shape[0] * 9
            checks.append((f"m.layers.{k}.{conv}.conv", fan_in))
    checks.append((f"m.layers.{n_blocks - 1}.to_img.conv",
                   graph.const(f"m.layers.{n_blocks - 1}.to_img.conv.modulation.weight").shape[0]))
    for prefix, fan_in in checks:
        expected = 1.0 if fan_in is None else 1.0 / math.sqrt(fan_in)
        found = _modulation_scale(graph, prefix)
        if not math.isclose(found, expected, rel_tol=1e-5):
            raise IRFormatError(f"{prefix}: modulation scale {found} in the IR, expected {expected}")
