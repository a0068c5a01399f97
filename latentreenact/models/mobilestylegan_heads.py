"""Per-level wavelet heads for MobileStyleGAN (8..512 px), fitted in closed form.

The OpenVINO IR shipped by ``random-face`` keeps only the 1024 px head (``blocks[6].to_img``);
the heads that render 8..512 px straight from a level's hidden state were pruned at export.
This module fits replacements, saves them in a small file and attaches them to a model, so that
``MobileStyleGAN.synthesis(..., resolution=R)`` skips the blocks above R.

Method (level ``L`` renders ``2**(L+3)`` px from the hidden state ``x_L`` of ``2**(L+2)`` px:
``L = 0`` is ``synthesis_network.to_img1`` reading ``conv1``, ``L = k + 1`` is
``blocks[k].to_img`` reading block ``k``'s ``conv2``):

* modulation: a copy of ``blocks[L].up.modulation``, the per-channel style modulation the next
  level applies to this very hidden state (``s(w)``). The head reads the same W+ row as that
  ``up`` in the default ``per_layer`` layout (with the identical-rows W+ of ordinary sampling the
  row does not matter). The copy is exact; it is not stored in the heads file (it would repeat
  ~6 MB of IR weights) but taken from the model when the heads are attached.
  (``modulation="constant"`` instead fixes the modulation to 1, i.e. ``f = x``; an option, see
  :data:`MODULATION_MODES`: measured, it generalises better than the tied copy.)
* a :class:`~latentreenact.models.mobilestylegan.WaveletHead` computes
  ``weight (x * modulation(w) * scale) + bias`` with ``scale = 1/sqrt(C)``. With the copied
  modulation that is ``W f + b`` for ``f = x * s(w)`` and ``W = weight * scale``: the fit solves
  for ``W`` and stores ``weight = W / scale``.
* target: the 1024 px render area-downsampled (average pooling) to ``2**(L+3)`` px and turned
  into the 12-channel wavelet layout by :func:`image_to_wavelet`, the exact inverse of
  :func:`~latentreenact.models.mobilestylegan.wavelet_to_image`. The Haar transform is
  orthonormal, so least squares on wavelet coefficients equals least squares on image pixels.
* fit: linear least squares ``min ||W f + b - DWT(target)||^2`` over every pixel of every
  sample, from normal equations accumulated in float64 (features are never stored), solved with
  a small ridge ``ridge * trace(F^T F) / C`` on ``W`` (the bias is not penalised).
* samples: ``z ~ N(0, I)`` from an explicit seed, ``w = mapping(z)``, alternating truncation
  psi (default 1.0 and 0.7, centre ``mean_latent(4096, seed)``), W+ with identical rows,
  ``noise_mode="const"``; one 1024 px forward per sample gives the target and every level's
  hidden state (:meth:`~latentreenact.models.mobilestylegan.MobileSynthesis.forward_levels`).

PSNR is ``10 log10(2**2 / MSE)`` on unclamped images in [-1, 1] (data range 2).

The heads derive from NVIDIA's StyleGAN2-FFHQ model: research / non-commercial use only.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..fileio import atomic_path, read_format_file
from .mobilestylegan_layers import MobileSynthesis, WaveletHead


class MobileStyleGAN(Protocol):
    """What this module uses of :class:`~latentreenact.models.mobilestylegan.MobileStyleGAN` (which
    imports this module to attach heads, so it is described here rather than imported)."""

    synthesis_network: MobileSynthesis
    style_dim: int
    n_latent: int
    device: torch.device

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z -> w."""

    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """The average w of ``n`` seeded samples."""

    def synthesis(self, wplus: torch.Tensor, noise_mode: str = "const", noise: Any = None, generator: Any = None,
                  resolution: Optional[int] = None) -> torch.Tensor:
        """W+ -> image."""

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
HEADS_FORMAT = "latentreenact.mobilestylegan-heads"
HEADS_FORMAT_VERSION = 1
DEFAULT_HEADS_PATH = Path(__file__).resolve().parent.parent / "weights" / "mobilestylegan_ffhq_heads.pt"
DEFAULT_PSIS: Tuple[float, ...] = (1.0, 0.7)
DEFAULT_RIDGE = 1e-6
MODULATION_MODES = ("tied", "constant")  # head modulation: copy of the next ``up``'s, or 1
HOLDOUT_SEED_OFFSET = 1_000_003  # held-out z are drawn from seed + this, disjoint from the fit's stream
PSNR_PEAK = 2.0  # images live in [-1, 1]

# target_fn(wplus, full_image, size) -> the [B, 3, size, size] image the head of that size should render
TargetFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


# ----------------------------------------------------------------------------------- wavelets
def haar_bands(image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward 2-D Haar transform [B, C, 2H, 2W] -> (LL, LH, HL, HH), each [B, C, H, W].

    The exact inverse of :func:`~latentreenact.models.mobilestylegan.inverse_haar` (orthonormal:
    every 2x2 block ``(a b; c d)`` maps to ``0.5 * (a+b+c+d, a+b-c-d, a-b+c-d, a-b-c+d)``).
    """
    if image.shape[-1] % 2 or image.shape[-2] % 2:
        raise ValueError(f"Haar transform needs even height and width, got {tuple(image.shape)}")
    a = image[..., 0::2, 0::2]
    b = image[..., 0::2, 1::2]
    c = image[..., 1::2, 0::2]
    d = image[..., 1::2, 1::2]
    ll = (a + b + c + d) * 0.5
    lh = (a + b - c - d) * 0.5  # vertical detail (difference along height)
    hl = (a - b + c - d) * 0.5  # horizontal detail
    hh = (a - b - c + d) * 0.5
    return ll, lh, hl, hh


def image_to_wavelet(image: torch.Tensor) -> torch.Tensor:
    """RGB image [B, 3, 2S, 2S] -> 12-channel wavelet [B, 12, S, S] in the heads' layout.

    Layout (as :func:`~latentreenact.models.mobilestylegan.split_bands` reads it): LL for the C
    channels, then (LH, HL, HH) interleaved per channel. Inverse of ``wavelet_to_image``.
    """
    ll, lh, hl, hh = haar_bands(image)
    b, c, h, w = ll.shape
    high = torch.stack([lh, hl, hh], dim=2).reshape(b, 3 * c, h, w)
    return torch.cat([ll, high], dim=1)


# ----------------------------------------------------------------------------------- levels
def head_levels(synthesis: MobileSynthesis) -> List[int]:
    """Levels ``L`` that can take a fitted head: 0 .. n_blocks - 1 (images of 8 .. R/2 px)."""
    return list(range(len(synthesis.blocks)))


def level_size(level: int) -> int:
    """Image size rendered by the head of ``level``: ``2**(level + 3)``."""
    return 2 ** (level + 3)


def head_prefix(level: int) -> str:
    """State-dict prefix (under the generator) of the head of ``level``."""
    return "synthesis_network.to_img1" if level == 0 else f"synthesis_network.blocks.{level - 1}.to_img"


def _head_module(synthesis: MobileSynthesis, level: int) -> Optional[WaveletHead]:
    return synthesis.to_img1 if level == 0 else synthesis.blocks[level - 1].to_img


def _head_row(synthesis: MobileSynthesis, level: int) -> int:
    """The W+ row the head of ``level`` reads (``forward`` uses the same)."""
    index = synthesis.style_index
    return index.to_img1 if level == 0 else index.blocks[level - 1][3]


def _level_channels(synthesis: MobileSynthesis, level: int) -> int:
    return synthesis.channels[level]


def _tied_modulation(synthesis: MobileSynthesis, level: int) -> nn.Linear:
    """The modulation the head of ``level`` copies: the next level's inverse-Haar ``up``."""
    return synthesis.blocks[level].up.modulation


# ----------------------------------------------------------------------------------- least squares
@dataclass
class NormalEquations:
    """Running sums for ``min ||F W^T + 1 b^T - Y||^2`` (float64): never stores F or Y."""

    n_features: int
    n_outputs: int = 12
    ftf: torch.Tensor = field(init=False)
    fsum: torch.Tensor = field(init=False)
    fty: torch.Tensor = field(init=False)
    ysum: torch.Tensor = field(init=False)
    yty: torch.Tensor = field(init=False)
    rows: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        c, o = self.n_features, self.n_outputs
        self.ftf = torch.zeros(c, c, dtype=torch.float64)
        self.fsum = torch.zeros(c, dtype=torch.float64)
        self.fty = torch.zeros(c, o, dtype=torch.float64)
        self.ysum = torch.zeros(o, dtype=torch.float64)
        self.yty = torch.zeros(o, dtype=torch.float64)

    def add(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """Accumulate ``features`` [B, C, H, W] and ``targets`` [B, O, H, W] (every pixel is a row)."""
        if features.shape[0] != targets.shape[0] or features.shape[2:] != targets.shape[2:]:
            raise ValueError(f"features {tuple(features.shape)} and targets {tuple(targets.shape)} do not match")
        f = features.detach().permute(0, 2, 3, 1).reshape(-1, self.n_features).to("cpu", torch.float64)
        y = targets.detach().permute(0, 2, 3, 1).reshape(-1, self.n_outputs).to("cpu", torch.float64)
        self.ftf.addmm_(f.T, f)
        self.fsum += f.sum(0)
        self.fty.addmm_(f.T, y)
        self.ysum += y.sum(0)
        self.yty += y.square().sum(0)
        self.rows += f.shape[0]

    def solve(self, ridge: float = DEFAULT_RIDGE) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(W [O, C], b [O])`` in float64; ridge ``ridge * trace(F^T F) / C`` on ``W`` only."""
        if self.rows == 0:
            raise ValueError("no samples accumulated")
        c = self.n_features
        a = torch.zeros(c + 1, c + 1, dtype=torch.float64)
        a[:c, :c] = self.ftf
        a[:c, c] = a[c, :c] = self.fsum
        a[c, c] = self.rows
        lam = ridge * float(torch.diagonal(self.ftf).sum()) / c
        a[:c, :c] += lam * torch.eye(c, dtype=torch.float64)
        rhs = torch.cat([self.fty, self.ysum[None]], 0)
        theta = torch.linalg.solve(a, rhs)  # [C + 1, O]
        return theta[:c].T.contiguous(), theta[c].contiguous()

    def mse(self, weight: torch.Tensor, bias: torch.Tensor) -> float:
        """Mean squared residual over all accumulated rows and outputs, for ``(W, b)`` from the sums."""
        theta = torch.cat([weight.T, bias[None]], 0).to(torch.float64)
        c = self.n_features
        a = torch.zeros(c + 1, c + 1, dtype=torch.float64)
        a[:c, :c] = self.ftf
        a[:c, c] = a[c, :c] = self.fsum
        a[c, c] = self.rows
        rhs = torch.cat([self.fty, self.ysum[None]], 0)
        sse = self.yty.sum() - 2 * (theta * rhs).sum() + (theta * (a @ theta)).sum()
        return max(float(sse), 0.0) / (self.rows * self.n_outputs)


def psnr(mse: float, peak: float = PSNR_PEAK) -> float:
    """PSNR in dB for a mean squared error on images of data range ``peak``."""
    return float("inf") if mse <= 0 else 10.0 * math.log10(peak * peak / mse)


# ----------------------------------------------------------------------------------- sampling
def sample_wplus(model: MobileStyleGAN, n: int, seed: int, psis: Sequence[float] = DEFAULT_PSIS,
                 centre: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, List[float]]:
    """``n`` seeded W+ codes [n, n_latent, D] (identical rows) and the psi each one used.

    Sample ``i`` uses ``psis[i % len(psis)]`` around ``centre`` (default ``mean_latent(4096, seed)``).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not psis:
        raise ValueError("psis must not be empty")
    z = torch.randn(n, model.style_dim, generator=torch.Generator().manual_seed(seed)).to(model.device)
    with torch.no_grad():
        w = model.mapping(z)
        if any(p != 1.0 for p in psis):
            if centre is None:
                centre = model.mean_latent(4096, seed)
            used = [float(psis[i % len(psis)]) for i in range(n)]
            psi = torch.tensor(used, device=w.device, dtype=w.dtype)[:, None]
            w = centre + psi * (w - centre)
        else:
            used = [1.0] * n
    return w.unsqueeze(1).repeat(1, model.n_latent, 1), used


def downsampled_target(wplus: torch.Tensor, full: torch.Tensor, size: int) -> torch.Tensor:
    """Default target: the full render area-downsampled (average pooling) to ``size`` px."""
    del wplus
    return full if full.shape[-1] == size else F.avg_pool2d(full, full.shape[-1] // size)


# ----------------------------------------------------------------------------------- fit
@dataclass
class HeadsFit:
    """Result of :func:`fit_heads`: the heads' state dict and the training statistics."""

    state_dict: Dict[str, torch.Tensor]
    train_psnr: Dict[int, float]  # image size -> PSNR (dB) on the fitting samples
    n_samples: int
    seed: int
    psis: Tuple[float, ...]
    ridge: float
    seconds: float
    modulation: str = "tied"


def _check_mode(modulation: str) -> None:
    if modulation not in MODULATION_MODES:
        raise ValueError(f"modulation must be one of {MODULATION_MODES}, got {modulation!r}")


def level_features(synthesis: MobileSynthesis, states: Sequence[torch.Tensor], wplus: torch.Tensor,
                   level: int, modulation: str = "tied") -> torch.Tensor:
    """The head's input ``f``: ``x_L * s(w)`` with the tied (next ``up``) modulation, or ``x_L`` ("constant")."""
    _check_mode(modulation)
    if modulation == "constant":
        return states[level]
    style = _tied_modulation(synthesis, level)(wplus[:, _head_row(synthesis, level)])
    return states[level] * style[:, :, None, None]


def fit_heads(model: MobileStyleGAN, n_samples: int = 96, seed: int = 0, psis: Sequence[float] = DEFAULT_PSIS,
              ridge: float = DEFAULT_RIDGE, noise_mode: str = "const", target_fn: Optional[TargetFn] = None,
              modulation: str = "tied", progress: bool = False) -> HeadsFit:
    """Fit every level's head (8 .. R/2 px) by linear least squares; see the module docstring.

    ``target_fn`` (default :func:`downsampled_target`) gives the image each head should render.
    Heads already present in ``model`` are ignored (only its blocks are used). ``modulation``:
    one of :data:`MODULATION_MODES` (attach the result with the same mode).
    """
    _check_mode(modulation)
    synthesis = model.synthesis_network
    levels = head_levels(synthesis)
    equations = {level: NormalEquations(_level_channels(synthesis, level)) for level in levels}
    target_fn = downsampled_target if target_fn is None else target_fn
    start = time.perf_counter()
    wplus_all, _ = sample_wplus(model, n_samples, seed, psis)
    with torch.inference_mode():
        for i in tqdm(range(n_samples), desc="fitting heads", unit="sample", disable=not progress):
            wplus = wplus_all[i:i + 1]
            full, states = synthesis.forward_levels(wplus, noise_mode=noise_mode)
            for level in levels:
                target = target_fn(wplus, full, level_size(level)).to(torch.float64)
                features = level_features(synthesis, states, wplus, level, modulation)
                equations[level].add(features, image_to_wavelet(target))
    state: Dict[str, torch.Tensor] = {}
    train_psnr: Dict[int, float] = {}
    for level in levels:
        weight, bias = equations[level].solve(ridge)
        train_psnr[level_size(level)] = psnr(equations[level].mse(weight, bias))
        scale = 1.0 / math.sqrt(_level_channels(synthesis, level))  # WaveletHead.scale
        c = weight.shape[1]
        state[f"{head_prefix(level)}.weight"] = (weight / scale).to(torch.float32).reshape(12, c, 1, 1)
        state[f"{head_prefix(level)}.bias"] = bias.to(torch.float32).reshape(1, 12, 1, 1)
        logger.info("head %d px: %d rows, train PSNR %.2f dB", level_size(level), equations[level].rows,
                    train_psnr[level_size(level)])
    seconds = time.perf_counter() - start
    return HeadsFit(state, train_psnr, n_samples, seed, tuple(float(p) for p in psis), ridge, seconds, modulation)


# ----------------------------------------------------------------------------------- attach / save / load
def attach_heads(model: MobileStyleGAN, state_dict: Mapping[str, torch.Tensor],
                 modulation: str = "tied") -> MobileStyleGAN:
    """Install fitted heads (``weight`` / ``bias`` per level) into ``model``, in place; returns it.

    Missing head modules are created (the model then has the structure of ``level_heads=True``);
    each head's modulation is set to a copy of ``blocks[L].up.modulation`` (``"tied"``) or to
    the constant 1 (``"constant"``: weight 0, bias 1). Every level's ``weight`` and ``bias``
    must be present, with the right shapes.
    """
    _check_mode(modulation)
    synthesis = model.synthesis_network
    levels = head_levels(synthesis)
    expected = {f"{head_prefix(level)}.{name}" for level in levels for name in ("weight", "bias")}
    if set(state_dict) != expected:
        missing, extra = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
        raise ValueError(f"heads do not fit this model: missing {missing}, unexpected {extra}")
    ref = synthesis.const
    for level in levels:
        channels = _level_channels(synthesis, level)
        weight = state_dict[f"{head_prefix(level)}.weight"]
        bias = state_dict[f"{head_prefix(level)}.bias"]
        if tuple(weight.shape) != (12, channels, 1, 1) or tuple(bias.shape) != (1, 12, 1, 1):
            raise ValueError(f"{head_prefix(level)}: expected weight [12, {channels}, 1, 1] and bias [1, 12, 1, 1], "
                             f"got {tuple(weight.shape)} and {tuple(bias.shape)}")
        head = _head_module(synthesis, level)
        if head is None:
            head = WaveletHead(channels, model.style_dim).to(device=ref.device, dtype=ref.dtype)
            if level == 0:
                synthesis.to_img1 = head
            else:
                synthesis.blocks[level - 1].to_img = head
        tied = _tied_modulation(synthesis, level)
        with torch.no_grad():
            if modulation == "tied":
                head.modulation.weight.copy_(tied.weight)
                head.modulation.bias.copy_(tied.bias)
            else:
                head.modulation.weight.zero_()
                head.modulation.bias.fill_(1.0)
            head.weight.copy_(weight)
            head.bias.copy_(bias)
    logger.info("attached %d fitted heads (%s px, %s modulation)", len(levels),
                ", ".join(str(level_size(v)) for v in levels), modulation)
    return model


def heads_state_dict(model: MobileStyleGAN) -> Dict[str, torch.Tensor]:
    """The fitted parameters (``weight``, ``bias``) of every level's head, detached on CPU."""
    synthesis = model.synthesis_network
    out: Dict[str, torch.Tensor] = {}
    for level in head_levels(synthesis):
        head = _head_module(synthesis, level)
        if head is None:
            raise ValueError(f"the model has no head for {level_size(level)} px")
        out[f"{head_prefix(level)}.weight"] = head.weight.detach().cpu().clone()
        out[f"{head_prefix(level)}.bias"] = head.bias.detach().cpu().clone()
    return out


def save_heads(path: PathLike, state_dict: Mapping[str, torch.Tensor], fit: Mapping[str, Any]) -> Path:
    """Write ``{"format", "format_version", "state_dict", "fit"}`` atomically with ``torch.save``."""
    payload = {"format": HEADS_FORMAT, "format_version": HEADS_FORMAT_VERSION,
               "state_dict": {k: v.detach().cpu().to(torch.float32).contiguous() for k, v in state_dict.items()},
               "fit": dict(fit)}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    logger.info("wrote heads to %s", path)
    return Path(path)


def read_heads_file(path: PathLike = "default") -> Dict[str, Any]:
    """The whole heads file (format checked); ``"default"`` is the shipped one."""
    file = DEFAULT_HEADS_PATH if str(path) == "default" else Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"MobileStyleGAN heads file not found: {file}")
    payload = read_format_file(file, HEADS_FORMAT, HEADS_FORMAT_VERSION, "MobileStyleGAN heads file")
    if not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"{file}: missing state_dict")
    return payload


def load_heads(path: PathLike = "default") -> Tuple[Dict[str, torch.Tensor], str]:
    """``(state_dict, modulation mode)`` from a heads file (``"default"``: the shipped one)."""
    payload = read_heads_file(path)
    fit = payload.get("fit") if isinstance(payload.get("fit"), dict) else {}
    modulation = str(fit.get("modulation_mode", "tied"))
    _check_mode(modulation)
    return dict(payload["state_dict"]), modulation


# ----------------------------------------------------------------------------------- evaluation
def evaluate_heads(model: MobileStyleGAN, n: int = 16, seed: int = HOLDOUT_SEED_OFFSET,
                   psis: Sequence[float] = DEFAULT_PSIS, centre: Optional[torch.Tensor] = None,
                   noise_mode: str = "const", progress: bool = False) -> Dict[int, Dict[str, float]]:
    """PSNR of each head's render (``synthesis(resolution=S)``) vs the area-downsampled 1024 px render.

    Returns ``{size: {"psnr": PSNR of the mean MSE over the n samples, "psnr_min": worst sample}}``.
    ``model`` must have heads attached. Samples as :func:`sample_wplus` (``seed``, ``psis``, ``centre``).
    """
    synthesis = model.synthesis_network
    sizes = [level_size(level) for level in head_levels(synthesis)]
    if not all(synthesis.has_head(s) for s in sizes):
        raise ValueError("the model has no fitted heads; attach them first (attach_heads / from_ir(heads=...))")
    wplus_all, _ = sample_wplus(model, n, seed, psis, centre)
    errors: Dict[int, List[float]] = {s: [] for s in sizes}
    with torch.inference_mode():
        for i in tqdm(range(n), desc="evaluating heads", unit="sample", disable=not progress):
            wplus = wplus_all[i:i + 1]
            full = model.synthesis(wplus, noise_mode=noise_mode)
            for size in sizes:
                image = model.synthesis(wplus, noise_mode=noise_mode, resolution=size)
                target = downsampled_target(wplus, full, size)
                errors[size].append(float((image.double() - target.double()).square().mean()))
    return {s: {"psnr": psnr(sum(e) / len(e)), "psnr_min": psnr(max(e))} for s, e in errors.items()}


def time_renders(heads_model: MobileStyleGAN, plain_model: MobileStyleGAN, sizes: Sequence[int] = (256, 512),
                 repeats: int = 9, warmup: int = 2, seed: int = 0) -> Dict[int, Dict[str, float]]:
    """Seconds per image (batch 1, inference mode): ``{size: {"heads", "full", "heads_min", "full_min"}}``.

    ``"full"`` is the fallback of a model without heads (the whole network, then area
    downsampling); ``"heads"`` renders with the fitted head of that size. The two are timed
    alternately (so a busy machine slows both alike); medians and minima over ``repeats``.
    """
    wplus, _ = sample_wplus(heads_model, 1, seed, (1.0,))
    models = (("heads", heads_model), ("full", plain_model))
    out: Dict[int, Dict[str, float]] = {}
    with torch.inference_mode():
        for size in sizes:
            for _ in range(warmup):
                for _, model in models:
                    model.synthesis(wplus, resolution=size)
            times: Dict[str, List[float]] = {name: [] for name, _ in models}
            for _ in range(repeats):
                for name, model in models:
                    t0 = time.perf_counter()
                    model.synthesis(wplus, resolution=size)
                    times[name].append(time.perf_counter() - t0)
            row: Dict[str, float] = {}
            for name, values in times.items():
                row[name] = sorted(values)[len(values) // 2]
                row[f"{name}_min"] = min(values)
            out[size] = row
    return out


def fit_metadata(fit: HeadsFit, holdout: Mapping[int, Mapping[str, float]], n_holdout: int,
                 holdout_seed: int) -> Dict[str, Any]:
    """The ``fit`` record stored in the heads file (plain types only)."""
    return {
        "n_samples": fit.n_samples,
        "seed": fit.seed,
        "psi_mix": list(fit.psis),
        "psi_rule": "sample i uses psi_mix[i % len(psi_mix)], centre mean_latent(4096, seed)",
        "noise_mode": "const",
        "ridge": fit.ridge,
        "target": "1024 px render, area-downsampled; Haar-orthonormal wavelet domain",
        "modulation_mode": fit.modulation,
        "modulation": ("tied: copy of synthesis_network.blocks[L].up.modulation (not stored)"
                       if fit.modulation == "tied" else "constant: modulation weight 0, bias 1 (not stored)"),
        "psnr_db": {str(s): round(v["psnr"], 3) for s, v in holdout.items()},
        "psnr_min_db": {str(s): round(v["psnr_min"], 3) for s, v in holdout.items()},
        "train_psnr_db": {str(s): round(v, 3) for s, v in fit.train_psnr.items()},
        "holdout": n_holdout,
        "holdout_seed": holdout_seed,
        "fit_seconds": round(fit.seconds, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": str(torch.__version__),
    }
