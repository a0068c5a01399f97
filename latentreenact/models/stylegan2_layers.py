"""StyleGAN2 building blocks with rosinality's parameter names and numerics.

Every layer that resamples or modulates has a ``formulation`` attribute:

* ``"default"`` -- our fast path: modulation applied to activations (input scaled by the
  style, a convolution with the shared weight, output scaled by the demodulation
  coefficients), or folded into the weight at batch 1; 3x3 convolutions with many channels by
  Winograd's F(4x4, 3x3) on a CPU (``stylegan2_ops.conv3x3``); ``stylegan2_ops.upfirdn2d`` as
  depthwise convolutions;
* ``"reference"`` -- the straightforward formulation: a per-sample modulated weight in a grouped
  convolution and upfirdn2d as zero-insertion + padding + a convolution over an [N*C, 1, H, W]
  reshape. Used by the benchmark and the tests; the two agree to float rounding.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from stylegan2_ops import fused_bias_act, fused_leaky_relu, upfirdn2d
from stylegan2_ops.conv3x3 import conv3x3, winograd_pays, winograd_weight
from stylegan2_ops.reference import fused_leaky_relu_reference, upfirdn2d_reference

FORMULATIONS = ("default", "reference")
CONV_IMPLS = ("auto", "direct", "winograd")
DEFAULT_BLUR = (1, 3, 3, 1)


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """Normalised 2-D FIR kernel: ``outer(taps, taps) / sum``."""
    k = torch.tensor(taps, dtype=torch.float32)
    if k.ndim == 1:
        k = torch.outer(k, k)
    return k / k.sum()


class Resampling(nn.Module):
    """Mixin giving a module a ``formulation`` switch for upfirdn2d."""

    formulation: str = "default"

    def _upfirdn(self, x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: Tuple[int, int] = (0, 0)) -> torch.Tensor:
        if self.formulation == "reference":
            return upfirdn2d_reference(x, kernel, up=up, pad=pad)
        return upfirdn2d(x, kernel, up=up, pad=pad)


class PixelNorm(nn.Module):
    """Normalise each vector to unit root-mean-square (eps 1e-8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class Blur(Resampling):
    """FIR filter with padding; ``upsample_factor`` scales the kernel by factor**2."""

    def __init__(self, taps: Sequence[float], pad: Tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor ** 2)
        self.pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._upfirdn(x, self.kernel, pad=self.pad)


class Upsample(Resampling):
    """2x FIR upsampling (the ToRGB skip path)."""

    def __init__(self, taps: Sequence[float], factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._upfirdn(x, self.kernel, up=self.factor, pad=self.pad)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (runtime weight scale ``lr_mul / sqrt(in)``)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: Optional[str] = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU(0.2) * sqrt(2) with a learned per-channel bias.

    ``clamp`` (stylegan2-ada's ``conv_clamp``) limits the output to ``[-clamp, clamp]`` after the
    gain, as the reference ``bias_act`` does; ``None`` leaves it unclamped."""

    def __init__(self, channels: int, negative_slope: float = 0.2, scale: float = 2 ** 0.5,
                 clamp: Optional[float] = None):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope, self.scale = negative_slope, scale
        self.clamp = clamp
        self.formulation = "default"

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """``inplace``: ``x`` may be overwritten (a fresh tensor that autograd does not record); on the CPU
        the PyTorch path's steps then run in place on it (the same operations, the same bits)."""
        if self.formulation == "reference":
            out = fused_leaky_relu_reference(x, self.bias, self.negative_slope, self.scale)
            return out if self.clamp is None else out.clamp(-self.clamp, self.clamp)
        if inplace and not x.is_cuda:
            x = F.leaky_relu_(x.add_(self.bias.reshape(1, -1, *([1] * (x.ndim - 2)))), self.negative_slope)
            x = x.mul_(self.scale) if self.scale != 1 else x
            return x.clamp_(-self.clamp, self.clamp) if self.clamp is not None and self.clamp >= 0 else x
        return fused_bias_act(x, self.bias, dim=1, act="lrelu", alpha=self.negative_slope, gain=self.scale,
                              clamp=self.clamp)


class ModulatedConv2d(Resampling):
    """Style-modulated convolution with optional demodulation and 2x upsampling."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_taps: Sequence[float] = DEFAULT_BLUR):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_ch, out_ch, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            factor = 2
            p = len(blur_taps) - factor - (kernel_size - 1)
            self.blur = Blur(blur_taps, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)
        self.conv_impl = "auto"  # the default formulation's 3x3 convolutions: see set_conv_impl

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.formulation == "reference":
            return self._forward_grouped(x, style)
        return self._forward_activations(x, style)

    def _derived(self, name: str, make: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``make(weight)``, a tensor derived from the weight parameter; while no gradient is needed, cached
        under ``name`` and keyed on the parameter's version (in-place updates invalidate it), storage, dtype,
        device and inference mode."""
        w = self.weight
        if torch.is_grad_enabled() and w.requires_grad:
            return make(w)
        key = (w._version, w.data_ptr(), w.dtype, w.device, torch.is_inference_mode_enabled())
        cache = self.__dict__.setdefault("_derived_cache", {})
        if cache.get(name, (None,))[0] != key:
            cache[name] = (key, make(w.detach()))
        return cache[name][1]

    def _weight_energy(self) -> torch.Tensor:
        """``sum_k W_oik^2`` [out, in] for demodulation (cached, :meth:`_derived`)."""
        return self._derived("energy", lambda w: w[0].square().sum((2, 3)))

    def _channels_last_weight(self, transposed: bool = False) -> torch.Tensor:
        """``weight[0]`` [out, in, k, k] (``transposed``: [in, out, k, k]) stored channels-last, the layout
        that channels-last activations' convolutions use (cached, :meth:`_derived`)."""
        return self._derived(f"channels_last_{transposed}", lambda w: (w[0].transpose(0, 1) if transposed else w[0])
                             .contiguous(memory_format=torch.channels_last))

    def _winograd_weight(self) -> torch.Tensor:
        """``winograd_weight(weight[0])`` [36, out, in] (cached, :meth:`_derived`)."""
        return self._derived("winograd", lambda w: winograd_weight(w[0]))

    def _forward_activations(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        s = self.modulation(style) * self.scale  # [B, in]
        weight = self.weight[0]  # [out, in, k, k]
        # demodulation: sum_{i,k} (W_oik s_i)^2 = (s^2) @ (sum_k W_oik^2)^T
        d = torch.rsqrt((s * s) @ self._weight_energy().t() + 1e-8) if self.demodulate else None  # [B, out]
        if not self.upsample and self.kernel_size == 3 and (self.conv_impl == "winograd" or (
                self.conv_impl == "auto" and winograd_pays(
                    x, self.out_channel, torch.is_grad_enabled() and self.weight.requires_grad))):
            x = conv3x3(x * s[:, :, None, None], weight, impl="winograd", transformed=self._winograd_weight())
            return x * d[:, :, None, None] if d is not None else x
        if x.shape[0] == 1:  # one sample: modulate the weight (one pass over it) instead of the activations
            coef = s[0][None, :] if d is None else d[0][:, None] * s[0][None, :]  # [out, in]
            channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            if self.upsample:
                if channels_last:  # [in, out, k, k] stored channels-last: no reorder before the convolution
                    return self._conv_up(x, self._channels_last_weight(transposed=True) * coef.t()[:, :, None, None])
                # a contiguous first operand makes the product the contiguous [in, out] weight
                return self._conv_up(x, coef.t().contiguous()[:, :, None, None] * weight.transpose(0, 1))
            if channels_last:
                weight = self._channels_last_weight()  # the product then needs no reorder before the convolution
            return F.conv2d(x, weight * coef[:, :, None, None], padding=self.padding)
        x = x * s[:, :, None, None]
        x = self._conv_up(x, weight.transpose(0, 1)) if self.upsample else F.conv2d(x, weight, padding=self.padding)
        return x * d[:, :, None, None] if d is not None else x

    def _conv_up(self, x: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
        """2x transposed convolution with ``weight_t`` [in, out, k, k], then the blur."""
        if not (weight_t.is_contiguous() or weight_t.is_contiguous(memory_format=torch.channels_last)):
            weight_t = weight_t.contiguous()
        return self.blur(F.conv_transpose2d(x, weight_t, stride=2))

    def _forward_grouped(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        s = self.modulation(style).view(b, 1, self.in_channel, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, self.out_channel, 1, 1, 1)
        k = self.kernel_size
        x = x.reshape(1, b * self.in_channel, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * self.in_channel, self.out_channel, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=b)
            out = self.blur(out.reshape(b, self.out_channel, out.shape[2], out.shape[3]))
        else:
            out = F.conv2d(x, weight.reshape(b * self.out_channel, self.in_channel, k, k), padding=self.padding, groups=b)
            out = out.reshape(b, self.out_channel, h, w)
        return out


class NoiseInjection(nn.Module):
    """Adds per-pixel noise scaled by a learned scalar."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None, inplace: bool = False) -> torch.Tensor:
        """``x + weight * noise`` (fresh N(0, 1) noise from ``generator`` when none is given; ``inplace``:
        added into ``x``)."""
        if noise is None:
            b, _, h, w = x.shape
            gen_device = generator.device if generator is not None else x.device
            noise = torch.randn(b, 1, h, w, generator=generator, device=gen_device, dtype=x.dtype).to(x.device)
        return x.add_(self.weight * noise) if inplace else x + self.weight * noise


class ConstantInput(nn.Module):
    """Learned 4x4 constant repeated over the batch."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """ModulatedConv2d + noise + bias/leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_taps: Sequence[float] = DEFAULT_BLUR, conv_clamp: Optional[float] = None):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample, blur_taps=blur_taps)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch, clamp=conv_clamp)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: Optional[torch.Tensor] = None,
                noise_mode: str = "random", generator: Optional[torch.Generator] = None) -> torch.Tensor:
        x = self.conv(x, style)
        # the convolution's output is fresh: when autograd records none of these steps, noise and activation
        # go in place
        recorded = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (x, noise, self.noise.weight, self.activate.bias))
        inplace = self.conv.formulation == "default" and not recorded
        if noise_mode != "none":
            x = self.noise(x, noise, generator, inplace=inplace)
        return self.activate(x, inplace=inplace)


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB, plus the upsampled skip image.

    ``clamp`` (stylegan2-ada's ``conv_clamp``) limits this layer's own output, before the skip
    image is added, as the reference ``ToRGBLayer`` does."""

    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True, blur_taps: Sequence[float] = DEFAULT_BLUR,
                 clamp: Optional[float] = None):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_taps)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.clamp = clamp

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if self.clamp is not None:
            out = out.clamp(-self.clamp, self.clamp)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def set_formulation(module: nn.Module, formulation: str) -> nn.Module:
    """Switch every resampling/modulating layer of ``module`` to ``"default"`` or ``"reference"``."""
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    for m in module.modules():
        if hasattr(m, "formulation"):
            m.formulation = formulation
    return module


def set_conv_impl(module: nn.Module, impl: str) -> nn.Module:
    """How the default formulation computes every modulated 3x3 convolution of ``module`` that does not
    upsample: ``"auto"`` (Winograd where ``stylegan2_ops.conv3x3.winograd_pays``), ``"direct"`` or
    ``"winograd"``."""
    if impl not in CONV_IMPLS:
        raise ValueError(f"conv impl must be one of {CONV_IMPLS}, got {impl!r}")
    for m in module.modules():
        if isinstance(m, ModulatedConv2d):
            m.conv_impl = impl
    return module
