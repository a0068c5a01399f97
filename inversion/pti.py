"""Pivotal tuning (PTI, Roich et al. 2022): fine-tune a copy of the generator around a fixed pivot W+.

The pivot (from an encoder or :func:`inversion.projector.project`) stays fixed; the weights of a
**deep copy** of the generator are optimised with Adam so that ``G'(pivot)`` matches the target.
The generator passed in is never modified.

Loss: ``mse_weight * MSE + perceptual_weight * perceptual``; early stop when the perceptual loss
(the MSE if there is no perceptual term) is <= ``stop_threshold`` (checked before each update, as
in PTI). Optional locality regulariser (PTI's): every ``locality_every`` steps, draw
``locality_samples`` random w (mapping of seeded z, truncated with ``locality_psi`` around the
average w), move from the pivot ``locality_alpha`` units (L2 over the whole W+) towards them,
and penalise ``locality_mse_weight * MSE + locality_perceptual_weight * perceptual`` between the
tuned and the original generator's renders there.

Presets (:data:`PRESETS`):

- ``"released"`` (the paper's released inference code, docs/architecture.md §8): 200 steps, lr 3e-3, only the
  StyleGAN2 ``convs`` whose output resolution is 32..256 px (``convs.4`` .. ``convs.11``: the two
  convs of each of the 32, 64, 128 and 256 px blocks; weights, modulation, noise strength and
  bias; no ToRGB, no mapping), loss ``100 * MSE + perceptual``, no early stop. For MobileStyleGAN
  the same rule selects ``synthesis_network.blocks.{1..4}`` (``up``, ``conv1``, ``conv2``: the
  blocks that render the 32..256 px images; no ``to_img`` heads).
- ``"pti"`` (PTI proper): 350 steps, lr 3e-4, all parameters, ``MSE + perceptual``, stop at
  perceptual <= 0.06 (a threshold calibrated for LPIPS; with the offline SFace feature loss it is
  only indicative).

The presets' learning rates assume StyleGAN2's equalized learning rate (weights stored at unit
scale). For other generators (MobileStyleGAN) every weight tensor's learning rate is multiplied by
its RMS by default (``lr_scaling="auto"``, see :func:`parameter_groups`); otherwise lr 3e-3
diverges on MobileStyleGAN's small pointwise-conv weights.

The perceptual default is the offline SFace feature loss, not LPIPS (see :mod:`inversion.losses`).
"""

from __future__ import annotations

import copy
import fnmatch
import logging
import math
from dataclasses import dataclass, field, replace
from typing import AbstractSet, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from latentreenact.models.base import GeneratorBase
from latentreenact.models.stylegan2 import StyleGAN2Generator
from latentreenact.sampling import truncation_centre

from .losses import LossSpec, resolve_loss, scalar_loss
from .projector import check_target, render_with_noise

log = logging.getLogger(__name__)

LayerSpec = Union[str, Sequence[str]]
RELEASED_RESOLUTIONS = (32, 256)


@dataclass(frozen=True)
class TuningPreset:
    """Hyper-parameters of one tuning recipe (see the module docstring)."""

    steps: int
    lr: float
    layers: LayerSpec
    mse_weight: float
    perceptual_weight: float
    stop_threshold: Optional[float]
    locality_every: int = 0
    locality_alpha: float = 30.0
    locality_weight: float = 0.1


PRESETS: Dict[str, TuningPreset] = {
    "released": TuningPreset(steps=200, lr=3e-3, layers="released", mse_weight=100.0, perceptual_weight=1.0,
                             stop_threshold=None),
    "pti": TuningPreset(steps=350, lr=3e-4, layers="all", mse_weight=1.0, perceptual_weight=1.0,
                        stop_threshold=0.06),
    "local": TuningPreset(steps=100, lr=1e-3, layers="released", mse_weight=10.0, perceptual_weight=1.0,
                          stop_threshold=None, locality_every=1, locality_alpha=30.0, locality_weight=1.0),
}


@dataclass
class TuningResult:
    """Result of :func:`tune`: the tuned copy (eval mode, frozen), the pivot, per-step losses
    (``mse``, ``perceptual``, ``locality``, ``total``; those in use), steps run (updates made) and
    whether the early-stop threshold was reached."""

    generator: GeneratorBase
    pivot: torch.Tensor
    losses: Dict[str, List[float]] = field(default_factory=dict)
    steps_run: int = 0
    stopped_early: bool = False


def released_layer_patterns(generator: GeneratorBase, low: int = RELEASED_RESOLUTIONS[0],
                            high: int = RELEASED_RESOLUTIONS[1]) -> List[str]:
    """Parameter-name patterns of the synthesis convs whose output resolution lies in [low, high].

    StyleGAN2: ``convs.{2k}`` and ``convs.{2k+1}`` output ``2**(k+3)`` px. MobileStyleGAN: block
    ``k`` (``up``, ``conv1``, ``conv2``) feeds the ``2**(k+4)`` px image.
    """
    if hasattr(generator, "convs") and hasattr(generator, "to_rgbs"):
        out = []
        for i in range(len(generator.convs)):
            if low <= 2 ** (i // 2 + 3) <= high:
                out.append(f"convs.{i}.*")
        return out
    network = getattr(generator, "synthesis_network", None)
    if network is not None and hasattr(network, "blocks"):
        out = []
        for k in range(len(network.blocks)):
            if low <= 2 ** (k + 4) <= high:
                out += [f"synthesis_network.blocks.{k}.{part}.*" for part in ("up", "conv1", "conv2")]
        return out
    raise ValueError(f"no 'released' layer rule for {type(generator).__name__}; pass parameter-name patterns")


def select_parameters(generator: GeneratorBase, layers: LayerSpec = "all") -> List[str]:
    """Names of the parameters tuned for ``layers``: ``"all"``, ``"released"`` (see
    :func:`released_layer_patterns`) or a sequence of ``fnmatch`` patterns on parameter names
    (e.g. ``["convs.4.*", "to_rgbs.*"]``). Raises ``ValueError`` when nothing matches."""
    names = [n for n, _ in generator.named_parameters()]
    if isinstance(layers, str):
        if layers == "all":
            return names
        if layers != "released":
            layers = [layers]
        else:
            layers = released_layer_patterns(generator)
            if not layers:
                raise ValueError(f"the {generator.resolution} px {type(generator).__name__} has no synthesis layers at "
                                 f"{RELEASED_RESOLUTIONS[0]}..{RELEASED_RESOLUTIONS[1]} px for the 'released' layer "
                                 f"rule; use a recipe that tunes all layers (pti) or none")
    patterns = list(layers)
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"no generator parameters match the layer patterns {patterns} "
                         f"({type(generator).__name__}, {generator.resolution} px)")
    return chosen


def locality_latents(generator: GeneratorBase, pivot: torch.Tensor, n: int, alpha: float, psi: float,
                     rng: torch.Generator, centre: Optional[torch.Tensor] = None) -> torch.Tensor:
    """PTI's regulariser codes: ``pivot + alpha * (w_r - pivot) / ||w_r - pivot||`` for ``n`` random
    truncated ``w_r`` (broadcast to W+), norm over the whole W+ tensor. [n, n_latent, D].
    ``centre``: the truncation centre (default: ``truncation_centre(generator)``, computed here)."""
    with torch.no_grad():
        z = torch.randn(n, generator.style_dim, generator=rng).to(pivot.device)
        w = generator.mapping(z)
        if centre is None:
            centre = truncation_centre(generator)
        w = generator.truncate(w, psi, centre.to(w))
        w = w.unsqueeze(1).repeat(1, generator.n_latent, 1)
        direction = w - pivot
        norm = direction.flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, 1, 1)
        return pivot + alpha * direction / norm


def uses_equalized_lr(generator: GeneratorBase) -> bool:
    """Whether the generator stores its weights at unit scale with a runtime multiplier (StyleGAN2's
    equalized learning rate), the setting the presets' learning rates were chosen for."""
    return isinstance(generator, StyleGAN2Generator)


def parameter_groups(generator: GeneratorBase, params: Sequence[torch.nn.Parameter], lr: float,
                     lr_scaling: str = "auto") -> List[Dict[str, object]]:
    """Adam parameter groups. ``lr_scaling="none"``: one learning rate. ``"rms"``: every weight tensor
    (2 or more dims) gets ``lr * rms(weight)``, so Adam's steps are relative to the weight's scale as
    with an equalized learning rate (needed for MobileStyleGAN, whose weights are stored at their
    effective scale, e.g. pointwise convs with RMS ~0.05, where lr 3e-3 diverges). ``"auto"``:
    ``"none"`` for StyleGAN2, ``"rms"`` otherwise."""
    if lr_scaling == "auto":
        lr_scaling = "none" if uses_equalized_lr(generator) else "rms"
    if lr_scaling == "none":
        return [{"params": list(params), "lr": lr}]
    if lr_scaling != "rms":
        raise ValueError(f"lr_scaling must be 'auto', 'none' or 'rms', got {lr_scaling!r}")
    groups: List[Dict[str, object]] = []
    for p in params:
        scale = float(p.detach().pow(2).mean().sqrt()) if p.ndim >= 2 else 1.0
        groups.append({"params": [p], "lr": lr * max(scale, 1e-3)})
    return groups


def tune(generator: GeneratorBase, pivot: torch.Tensor, target: torch.Tensor, *,
         preset: Optional[str] = "released", steps: Optional[int] = None, lr: Optional[float] = None,
         layers: Optional[LayerSpec] = None, mse_weight: Optional[float] = None,
         perceptual: LossSpec = "default", perceptual_weight: Optional[float] = None,
         stop_threshold: Optional[float] = math.nan, locality_every: Optional[int] = None, locality_samples: int = 1,
         locality_alpha: Optional[float] = None, locality_psi: float = 0.5, locality_mse_weight: Optional[float] = None,
         locality_perceptual_weight: Optional[float] = None, lr_scaling: str = "auto", seed: int = 0,
         progress: bool = True, callback: Optional[Callable[[int], None]] = None) -> TuningResult:
    """Tune a deep copy of ``generator`` so that it renders ``target`` [1, 3, S, S] from ``pivot`` [1, L, D]
    (or, jointly, N targets [N, 3, S, S] from their N pivots [N, L, D]: several photos of one person; the
    locality term is drawn around the first pivot).

    ``preset`` (``"released"``, ``"pti"`` or ``None``) supplies the defaults; every explicit
    argument overrides it (``stop_threshold=None`` disables early stopping; the NaN default means
    "take the preset's"). Without a preset ``steps``, ``lr`` and the weights default to the
    ``"pti"`` values. ``perceptual``: see :func:`inversion.losses.resolve_loss`. Renders at the
    target's size with the generator's constant noise. ``locality_every > 0`` enables the locality
    regulariser (random codes drawn from a ``torch.Generator`` seeded with ``seed``).
    ``lr_scaling``: see :func:`parameter_groups` (generators without equalized learning rate get
    per-tensor learning rates proportional to the weights' RMS). ``callback`` is called with the
    number of steps run after each step; an exception it raises stops the tuning (e.g. a time limit).
    """
    cfg = _tuning_config(preset, steps, lr, layers, mse_weight, perceptual_weight, stop_threshold)
    locality_every = cfg.locality_every if locality_every is None else int(locality_every)
    locality_alpha = cfg.locality_alpha if locality_alpha is None else float(locality_alpha)
    locality_mse_weight = cfg.locality_weight if locality_mse_weight is None else float(locality_mse_weight)
    locality_perceptual_weight = (cfg.locality_weight if locality_perceptual_weight is None
                                  else float(locality_perceptual_weight))
    if cfg.steps < 0:
        raise ValueError(f"steps must be >= 0, got {cfg.steps}")
    size = check_target(generator, target, batch=True)
    n = target.shape[0]
    if pivot.ndim != 3 or pivot.shape[0] != n or pivot.shape[1:] != (generator.n_latent, generator.style_dim):
        raise ValueError(f"pivot must be W+ [{n}, {generator.n_latent}, {generator.style_dim}] (one per target), "
                         f"got {tuple(pivot.shape)}")
    device = generator.device
    pivot = pivot.detach().to(device, torch.float32)
    target = target.detach().to(device, torch.float32)
    perceptual_fn = resolve_loss(perceptual, "perceptual", device) if cfg.perceptual_weight else None
    names = set(select_parameters(generator, cfg.layers))

    tuned, params = _trainable_copy(generator, names)
    log.info("tuning %d parameter tensors (%d values), %d steps, lr %g", len(params),
             sum(p.numel() for p in params), cfg.steps, cfg.lr)
    optimizer = torch.optim.Adam(parameter_groups(tuned, params, cfg.lr, lr_scaling), lr=cfg.lr)
    rng = torch.Generator().manual_seed(seed)
    losses: Dict[str, List[float]] = {}
    stopped = False
    locality_centre: Optional[torch.Tensor] = None
    steps_run = 0
    bar = tqdm(range(cfg.steps), desc="tune", unit="step", disable=not progress)
    for step in bar:
        image = render_with_noise(tuned, pivot, size)
        parts: Dict[str, torch.Tensor] = {"mse": F.mse_loss(image, target)}
        total = cfg.mse_weight * parts["mse"]
        if perceptual_fn is not None:
            parts["perceptual"] = scalar_loss(perceptual_fn, image, target)
            total = total + cfg.perceptual_weight * parts["perceptual"]
        watched = parts.get("perceptual", parts["mse"])
        if cfg.stop_threshold is not None and float(watched.detach()) <= cfg.stop_threshold:
            for key, value in parts.items():
                losses.setdefault(key, []).append(float(value.detach()))
            losses.setdefault("total", []).append(float(total.detach()))
            stopped = True
            break
        if locality_every > 0 and step % locality_every == 0:
            if locality_centre is None:  # once per run: mean_latent(4096) for generators without latent_avg
                with torch.no_grad():
                    locality_centre = truncation_centre(generator)
            codes = locality_latents(generator, pivot[:1], locality_samples, locality_alpha, locality_psi, rng,
                                     locality_centre)
            parts["locality"] = _locality_loss(generator, tuned, codes, size, perceptual_fn, locality_mse_weight,
                                               locality_perceptual_weight)
            total = total + parts["locality"]
        parts["total"] = total
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        steps_run += 1
        for key, value in parts.items():
            losses.setdefault(key, []).append(float(value.detach()))
        bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in losses.items()}, refresh=False)
        if callback is not None:
            callback(steps_run)
    bar.close()
    tuned.requires_grad_(False).eval()
    log.info("tuning: %d steps%s", steps_run, " (stopped early)" if stopped else "")
    return TuningResult(generator=tuned, pivot=pivot, losses=losses, steps_run=steps_run, stopped_early=stopped)


def _tuning_config(preset: Optional[str], steps: Optional[int], lr: Optional[float], layers: Optional[LayerSpec],
                   mse_weight: Optional[float], perceptual_weight: Optional[float],
                   stop_threshold: Optional[float]) -> TuningPreset:
    """The preset's settings with the explicit arguments of :func:`tune` applied (NaN threshold: the preset's)."""
    base = PRESETS["pti"] if preset is None else PRESETS.get(preset)
    if base is None:
        raise ValueError(f"unknown tuning preset {preset!r}; choose from {', '.join(PRESETS)}")
    cfg = replace(base,
                  steps=base.steps if steps is None else int(steps),
                  lr=base.lr if lr is None else float(lr),
                  layers=base.layers if layers is None else layers,
                  mse_weight=base.mse_weight if mse_weight is None else float(mse_weight),
                  perceptual_weight=base.perceptual_weight if perceptual_weight is None else float(perceptual_weight),
                  stop_threshold=base.stop_threshold if (stop_threshold is not None and math.isnan(stop_threshold))
                  else stop_threshold)
    return cfg


def _trainable_copy(generator: GeneratorBase, names: AbstractSet[str]) -> Tuple[GeneratorBase, List[torch.nn.Parameter]]:
    """A deep copy of ``generator`` in eval mode whose parameters ``names`` (only) require gradients."""
    tuned = copy.deepcopy(generator).eval()
    tuned.requires_grad_(False)
    params = []
    for name, p in tuned.named_parameters():
        if name in names:
            p.requires_grad_(True)
            params.append(p)
    return tuned, params


def _locality_loss(generator: GeneratorBase, tuned: GeneratorBase, codes: torch.Tensor, size: int,
                   perceptual_fn: Any, mse_weight: float, perceptual_weight: float) -> torch.Tensor:
    """The locality regulariser: how far ``tuned`` moved from ``generator`` on ``codes``."""
    with torch.no_grad():
        reference = render_with_noise(generator, codes, size)
    moved = render_with_noise(tuned, codes, size)
    loss = mse_weight * F.mse_loss(moved, reference)
    if perceptual_fn is not None and perceptual_weight:
        loss = loss + perceptual_weight * scalar_loss(perceptual_fn, moved, reference)
    return loss
