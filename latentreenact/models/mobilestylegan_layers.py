"""The layers of MobileStyleGAN's synthesis network: wavelet heads, modulated convolutions with
noise, inverse-Haar upsampling, and the synthesis and mapping networks (see
:mod:`latentreenact.models.mobilestylegan` for the architecture and the W+ layout)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_CHANNELS: Tuple[int, ...] = (512, 512, 512, 512, 512, 256, 128, 64)
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
def _recorded(*tensors: torch.Tensor) -> bool:
    """Whether autograd records an operation on ``tensors`` (grad mode on and one of them needs a gradient)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def inverse_haar(ll: torch.Tensor, lh: torch.Tensor, hl: torch.Tensor, hh: torch.Tensor,
                 halved: bool = False, channels_last: bool = False) -> torch.Tensor:
    """Single-level inverse 2-D Haar (db1) transform: four [B, C, H, W] bands -> [B, C, 2H, 2W].

    Same convention as ``pytorch_wavelets.DWTInverse(wave="db1")``: LH is the vertical detail
    (filtered along height), HL the horizontal one. ``channels_last``: write the output
    channels-last in memory (the 2x2 interleave then goes along contiguous channel rows, and the
    convolutions after it run channels-last, about 2x faster on CPU); the batch-1 CPU passes use it
    (see :class:`MobileSynthesis`). Ignored under tracing (ONNX export); when autograd records the
    pass the pixels are stacked instead of written through ``out=``. The values are the formula's bit
    for bit either way (the same sums in the same order, then an exact halving). ``halved``: the bands
    were already multiplied by 1/2 (folded into an earlier scaling; the result is the same bit for bit,
    as halving commutes with rounding).
    """
    b, c, h, w = ll.shape
    lo_even, lo_odd = ll + lh, ll - lh  # along height: rows 2i, 2i+1 of the low-pass half
    hi_even, hi_odd = hl + hh, hl - hh  # rows 2i, 2i+1 of the high-pass half
    if not channels_last or torch.jit.is_tracing():
        even_rows = torch.stack([lo_even + hi_even, lo_even - hi_even], dim=-1)  # along width: cols 2j, 2j+1
        odd_rows = torch.stack([lo_odd + hi_odd, lo_odd - hi_odd], dim=-1)
        out = torch.stack([even_rows, odd_rows], dim=3)
        return (out if halved else out.mul_(0.5)).reshape(b, c, 2 * h, 2 * w)

    def nhwc(t: torch.Tensor) -> torch.Tensor:
        return t.permute(0, 2, 3, 1)

    if _recorded(ll, lh, hl, hh):
        # recorded (tuning): autograd does not record writes through out=, so the same pixels are
        # stacked channels-last instead, [B, H, 2, W, 2, C]
        even_rows = torch.stack([nhwc(lo_even + hi_even), nhwc(lo_even - hi_even)], dim=3)
        odd_rows = torch.stack([nhwc(lo_odd + hi_odd), nhwc(lo_odd - hi_odd)], dim=3)
        out = torch.stack([even_rows, odd_rows], dim=2)
        return (out if halved else out.mul_(0.5)).view(b, 2 * h, 2 * w, c).permute(0, 3, 1, 2)
    out = torch.empty(b, h, 2, w, 2, c, dtype=ll.dtype, device=ll.device)  # pixel (2i + r, 2j + s) at [:, i, r, j, s]
    torch.add(nhwc(lo_even), nhwc(hi_even), out=out[:, :, 0, :, 0])
    torch.sub(nhwc(lo_even), nhwc(hi_even), out=out[:, :, 0, :, 1])
    torch.add(nhwc(lo_odd), nhwc(hi_odd), out=out[:, :, 1, :, 0])
    torch.sub(nhwc(lo_odd), nhwc(hi_odd), out=out[:, :, 1, :, 1])
    return (out if halved else out.mul_(0.5)).view(b, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


def split_bands(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split [B, 4C, H, W] laid out as (LL: C, then per channel (LH, HL, HH)) into four bands (views)."""
    c = x.shape[1] // 4
    return x[:, :c], x[:, c::3], x[:, c + 1::3], x[:, c + 2::3]


def wavelet_to_image(freq: torch.Tensor) -> torch.Tensor:
    """12-channel wavelet output [B, 12, S, S] -> RGB image [B, 3, 2S, 2S] (contiguous)."""
    return inverse_haar(*split_bands(freq))


def _inference(module: nn.Module, wplus: torch.Tensor) -> bool:
    """Whether a pass is inference: autograd off, or nothing it would record (neither W+ nor a
    parameter needs gradients)."""
    return not (torch.is_grad_enabled()
                and (wplus.requires_grad or any(p.requires_grad for p in module.parameters())))


RECORDED_IMPLS = ("auto", "textbook")


def _folded(inference: bool, wplus: torch.Tensor, recorded_impl: str) -> bool:
    """Whether a pass takes the batch-1 formulation (styles folded into the weights, channels-last
    activations): every inference pass (``inference``: :func:`_inference`'s answer), and a pass that
    autograd records (tuning) when it renders one image on the CPU and ``recorded_impl`` is ``"auto"``.
    The formulations differ only in float rounding (1e-6 per pass); ``"textbook"`` keeps recorded passes
    on the activation-modulated form."""
    if recorded_impl not in RECORDED_IMPLS:
        raise ValueError(f"recorded_impl must be one of {RECORDED_IMPLS}, got {recorded_impl!r}")
    if inference:
        return True
    return recorded_impl == "auto" and wplus.shape[0] == 1 and wplus.device.type == "cpu"


def _modulated_weight(weight: torch.Tensor, scale: torch.Tensor, depthwise: bool = False) -> torch.Tensor:
    """``weight`` [Cout, Cin, k, k] (``depthwise``: [Cin, 1, k, k]) with its input channels scaled by
    ``scale`` [1, Cin]: the batch-1 form of modulating the activations, one pass over the weights
    instead of one over the feature map."""
    return weight * (scale.view(-1, 1, 1, 1) if depthwise else scale.view(1, -1, 1, 1))


# ----------------------------------------------------------------------------------- layers
class NoiseInjection(nn.Module):
    """``x + strength * noise`` with a stored constant map for ``noise_mode="const"``."""

    def __init__(self, size: int):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(1))
        self.register_buffer("const", torch.randn(1, 1, size, size))

    def forward(self, x: torch.Tensor, noise_mode: str, noise: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None, inplace: bool = False) -> torch.Tensor:
        """Add noise: an explicit N(0, 1) map, the stored one, a fresh one, or none (``inplace``: into ``x``)."""
        if noise is None:
            if noise_mode == "none":
                return x
            if noise_mode == "const":
                noise = self.const
            else:
                dev = generator.device if generator is not None else x.device
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], generator=generator,
                                    device=dev, dtype=x.dtype).to(x.device)
        scaled = self.strength * noise.to(dtype=x.dtype)
        return x.add_(scaled) if inplace else x + scaled


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
                noise: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None,
                fast: bool = False) -> torch.Tensor:
        """``x`` [B, Cin, S, S], ``w`` [B, style_dim] -> [B, Cout, S, S].

        ``fast`` (batch 1): the style scales the depthwise weights (or the dense weights' input
        channels) instead of the feature map, the bias is added inside the last convolution, and noise
        and activation are applied in place (autograd can record this: the convolution keeps its input,
        not its output). Otherwise the activations are modulated (the textbook form). Both equal the
        formula up to float rounding.
        """
        style = self.modulation(w) * self.scale
        if fast and x.shape[0] == 1:
            bias = self.bias.view(-1)
            if self.depthwise:
                x = F.conv2d(x, _modulated_weight(self.weight_dw, style, depthwise=True), padding=self.padding, groups=x.shape[1])
                x = F.conv2d(x, self.weight_pw, bias)
            else:
                x = F.conv2d(x, _modulated_weight(self.weight, style), bias, padding=self.padding)
            return F.leaky_relu_(self.noise(x, noise_mode, noise, generator, inplace=True), 0.2)
        x = x * style[:, :, None, None]
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

    def forward(self, x: torch.Tensor, w: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """``x`` [B, C, S, S], ``w`` [B, style_dim] -> wavelet [B, 12, S, S] (``fast``: see :class:`StyledConv`)."""
        style = self.modulation(w) * self.scale
        if fast and x.shape[0] == 1:
            return F.conv2d(x, _modulated_weight(self.weight, style), self.bias.view(-1))
        return F.conv2d(x * style[:, :, None, None], self.weight) + self.bias


class ModulatedInverseHaar(nn.Module):
    """Upsampling of the hidden state: per-channel modulation, then inverse Haar (C -> C/4, 2x)."""

    def __init__(self, channels_in: int, style_dim: int):
        super().__init__()
        if channels_in % 4:
            raise ValueError(f"inverse-Haar upsampling needs channels divisible by 4, got {channels_in}")
        self.modulation = nn.Linear(style_dim, channels_in)
        nn.init.ones_(self.modulation.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """[B, C, S, S] -> [B, C/4, 2S, 2S] (the transform's 1/2 is folded into the modulation; ``fast``:
        the output is channels-last, see :func:`inverse_haar`)."""
        scale = self.modulation(w) * 0.5
        if fast and x.shape[0] == 1 and _recorded(x, scale):
            # recorded at batch 1 (tuning): the same products as a depthwise 1x1 convolution, whose backward
            # reduces the style's gradient without the full-size product that a broadcast multiply's makes
            # (tuning's backward pass 1.2x faster; bench_tuning.py)
            x = F.conv2d(x, scale.view(-1, 1, 1, 1), groups=x.shape[1])
        else:
            x = x * scale[:, :, None, None]
        return inverse_haar(*split_bands(x), halved=True, channels_last=fast)


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


def _one_at_a_time(wplus: torch.Tensor, noise_mode: str, noise: Sequence[Optional[torch.Tensor]],
                   inference: bool) -> bool:
    """Whether to render a batch image by image: at inference on the CPU, where the batch-1 path
    (styles folded into the weights, channels-last) is 4x faster per image than a batched pass
    (256 px: 27 vs 113 ms), and only when that changes nothing but rounding: stored, explicit or no
    noise (fresh random noise is drawn for the whole batch at once, as before)."""
    batch = wplus.shape[0]
    return (inference and batch > 1 and wplus.device.type == "cpu"
            and all(n is None or n.shape[0] in (1, batch) for n in noise)
            and (noise_mode in ("const", "none") or all(n is not None for n in noise)))


def _noise_row(noise: Sequence[Optional[torch.Tensor]], i: int) -> List[Optional[torch.Tensor]]:
    """The explicit noise maps of batch row ``i`` (maps with batch 1 are shared by every row)."""
    return [n if n is None or n.shape[0] == 1 else n[i:i + 1] for n in noise]


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
        self.recorded_impl = "auto"  # see _folded: "textbook" keeps recorded passes on the textbook form

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

        Inference passes (nothing needs gradients) take the fast paths: styles folded into the
        weights at batch 1, channels-last activations, CPU batches one image at a time. Passes that
        autograd records take the batch-1 formulation when they render one image on the CPU (tuning:
        its forward pass at 256 px 1.4x faster, a tuning step 1.1x) unless ``recorded_impl`` is
        ``"textbook"``; batched recorded passes (training) run the textbook formulation.
        """
        size = self.resolution if resolution is None else int(resolution)
        if size < 8 or size > self.resolution or size & (size - 1):
            raise ValueError(f"resolution must be a power of two in [8, {self.resolution}], got {resolution}")
        noise = list(noise) if noise is not None else [None] * self.num_noise
        if len(noise) != self.num_noise:
            raise ValueError(f"noise must be a list of {self.num_noise} entries (tensors or None), got {len(noise)}")
        inference = _inference(self, wplus)  # one scan of the parameters serves both questions
        fast = _folded(inference, wplus, self.recorded_impl)
        if _one_at_a_time(wplus, noise_mode, noise, inference):
            return torch.cat([self(wplus[i:i + 1], noise_mode, _noise_row(noise, i), generator, resolution)
                              for i in range(wplus.shape[0])])
        stop = int(math.log2(size)) - 3 if self.has_head(size) else len(self.blocks)

        x = self.const.expand(wplus.shape[0], -1, -1, -1)
        index = self.style_index
        x = self.conv1(x, wplus[:, index.conv1], noise_mode, noise[0], generator, fast)
        if stop == 0:
            return wavelet_to_image(self.to_img1(x, wplus[:, index.to_img1], fast))
        for k, block in enumerate(self.blocks[:stop]):
            i_up, i_conv1, i_conv2, _ = index.blocks[k]
            x = block.up(x, wplus[:, i_up], fast)
            x = block.conv1(x, wplus[:, i_conv1], noise_mode, noise[2 * k + 1], generator, fast)
            x = block.conv2(x, wplus[:, i_conv2], noise_mode, noise[2 * k + 2], generator, fast)
        freq = self.blocks[stop - 1].to_img(x, wplus[:, index.blocks[stop - 1][3]], fast)
        if 2 * freq.shape[-1] == size:
            return wavelet_to_image(freq)
        low = freq[:, :3] * 0.5  # the LL band / 2 = the full image average-pooled 2x
        return (F.avg_pool2d(low, low.shape[-1] // size) if low.shape[-1] != size else low).contiguous()

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
        inference = _inference(self, wplus)  # one scan of the parameters serves both questions
        fast = _folded(inference, wplus, self.recorded_impl)
        if _one_at_a_time(wplus, noise_mode, noise, inference):
            rows = [self.forward_levels(wplus[i:i + 1], noise_mode, _noise_row(noise, i), generator)
                    for i in range(wplus.shape[0])]
            return torch.cat([r[0] for r in rows]), [torch.cat(level) for level in zip(*(r[1] for r in rows))]
        index = self.style_index
        x = self.const.expand(wplus.shape[0], -1, -1, -1)
        x = self.conv1(x, wplus[:, index.conv1], noise_mode, noise[0], generator, fast)
        states = [x]
        for k, block in enumerate(self.blocks):
            i_up, i_conv1, i_conv2, _ = index.blocks[k]
            x = block.up(x, wplus[:, i_up], fast)
            x = block.conv1(x, wplus[:, i_conv1], noise_mode, noise[2 * k + 1], generator, fast)
            x = block.conv2(x, wplus[:, i_conv2], noise_mode, noise[2 * k + 2], generator, fast)
            states.append(x)
        image = wavelet_to_image(self.blocks[-1].to_img(x, wplus[:, index.blocks[-1][3]], fast))
        return image, states


# ----------------------------------------------------------------------------------- generator
