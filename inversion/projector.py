"""Latent projector: optimise W or W+ (optionally the noise maps) so the generator reproduces a target.

The recipe is the common StyleGAN2 projector's (Karras et al.; rosinality ``projector.py``):
start from the average w, Adam with a learning-rate ramp (cosine ramp-down over the last
``lr_rampdown`` of the steps, linear ramp-up over the first ``lr_rampup``), Gaussian noise added
to the latent early on (strength ``latent_std * initial_noise_factor * max(0, 1 - t / noise_ramp)^2``),
and, when noise maps are optimised, their multi-scale autocorrelation penalty and a
re-normalisation to N(0, 1) statistics after every step.

Loss: ``mse_weight * MSE + perceptual_weight * perceptual + identity_weight * identity
(+ noise_regularize * noise penalty) (+ offset_weight * W+ offset penalty)``. The offset penalty
(e4e's delta regulariser, in W+ only) is the mean squared distance of each layer's w from the mean
of the layers, over the latent spread: it keeps the pivot near one w, where edits stay clean. The default perceptual term is **not LPIPS**: it is the
offline SFace feature loss of :func:`inversion.losses.default_perceptual_loss` (no term at all when
SFace is not installed). Pass ``perceptual=LPIPS(...)`` for LPIPS, ``"none"`` for none.

The image is rendered at the target's size with :func:`latentreenact.sampling.render` semantics
(MobileStyleGAN renders natively at 256 px when it has a 256 px head).
"""

from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from latentreenact.models.base import GeneratorBase
from latentreenact.sampling import render

from .losses import LossSpec, noise_regularization, normalize_noise_, resolve_loss, scalar_loss

log = logging.getLogger(__name__)


@dataclass
class ProjectionResult:
    """Result of :func:`project`.

    ``wplus`` [1, n_latent, style_dim] (the optimised W+, or the optimised w broadcast);
    ``image`` [1, 3, S, S] rendered from it (no latent noise); ``losses``: per-step values of
    each component (``mse``, ``perceptual``, ``identity``, ``noise_reg``, ``total``; only those in
    use); ``noise``: the optimised noise maps (``None`` entries for maps not rendered), if any.
    """

    wplus: torch.Tensor
    image: torch.Tensor
    losses: Dict[str, List[float]] = field(default_factory=dict)
    noise: Optional[List[Optional[torch.Tensor]]] = None


def learning_rate(t: float, base: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """StyleGAN2 projector learning rate at progress ``t`` in [0, 1]."""
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if rampup > 0:
        ramp *= min(1.0, t / rampup)
    return base * ramp


def check_target(generator: GeneratorBase, target: torch.Tensor, batch: bool = False) -> int:
    """Validate a target [1, 3, S, S] (``batch=True``: [N, 3, S, S]) with S <= resolution; return S."""
    one = target.ndim == 4 and (target.shape[0] == 1 or (batch and target.shape[0] >= 1))
    if not one or target.shape[1] != 3 or target.shape[2] != target.shape[3]:
        shape = "[N, 3, S, S]" if batch else "one square RGB image [1, 3, S, S]"
        raise ValueError(f"target must be {shape} in [-1, 1], got {tuple(target.shape)}")
    size = int(target.shape[-1])
    if size > generator.resolution:
        raise ValueError(f"target size {size} exceeds the generator's resolution {generator.resolution}; resize it")
    if not torch.isfinite(target).all():
        raise ValueError("target contains NaN or Inf values")
    return size


def stored_noise_maps(generator: GeneratorBase) -> List[torch.Tensor]:
    """The generator's constant noise maps in ``synthesis(noise=...)`` order (StyleGAN2 and MobileStyleGAN)."""
    if hasattr(generator, "stored_noise"):
        return list(generator.stored_noise())
    network = getattr(generator, "synthesis_network", None)
    if network is not None and hasattr(network, "noise_layers"):
        return [layer.const for layer in network.noise_layers()]
    raise ValueError(f"{type(generator).__name__} does not expose its noise maps; use optimize_noise=False")


def render_with_noise(generator: GeneratorBase, wplus: torch.Tensor, size: int,
                      noise: Optional[Sequence[Optional[torch.Tensor]]] = None) -> torch.Tensor:
    """:func:`latentreenact.sampling.render` with constant noise, or with explicit maps (``None`` = stored)."""
    if noise is None:
        return render(generator, wplus, size, noise_mode="const")
    if size != generator.resolution and "resolution" in inspect.signature(generator.synthesis).parameters \
            and size & (size - 1) == 0 and size >= 8:
        return generator.synthesis(wplus, noise_mode="const", noise=list(noise), resolution=size)
    image = generator.synthesis(wplus, noise_mode="const", noise=list(noise))
    return image if size == generator.resolution else F.interpolate(image, size=(size, size), mode="area")


def _trainable_noise(generator: GeneratorBase, wplus: torch.Tensor, size: int) -> List[Optional[torch.Tensor]]:
    """Copies of the stored noise maps (normalised) for the maps that influence a ``size`` px render."""
    maps = [m.detach().clone().float().requires_grad_(True) for m in stored_noise_maps(generator)]
    render_with_noise(generator, wplus.detach(), size, maps).sum().backward()  # which maps are used?
    used: List[Optional[torch.Tensor]] = []
    for m in maps:
        if m.grad is None:
            used.append(None)
        else:
            t = m.detach().clone()
            normalize_noise_([t])
            used.append(t.requires_grad_(True))
    return used


def latent_statistics(generator: GeneratorBase, n: int, seed: int) -> tuple:
    """``(mean w [1, D], std)`` of ``mapping(z)`` over ``n`` seeded z (std: RMS distance to the mean).

    The mean is the checkpoint's stored average w when the generator has one.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(n, generator.style_dim, generator=g).to(generator.device)
        w = torch.cat([generator.mapping(chunk) for chunk in z.split(1024)])
        mean = w.mean(0, keepdim=True)
        if getattr(generator, "has_latent_avg", False):
            mean = generator.latent_avg.reshape(1, -1).to(w)
        std = float(((w - mean).pow(2).sum() / n).sqrt())
    return mean, std


def project(generator: GeneratorBase, target: torch.Tensor, *, steps: int = 200, w_plus: bool = False,
            start: Optional[torch.Tensor] = None, optimize_noise: bool = False, lr: float = 0.1,
            lr_rampdown: float = 0.25, lr_rampup: float = 0.05, initial_noise_factor: float = 0.05,
            noise_ramp: float = 0.75, mse_weight: float = 1.0, perceptual: LossSpec = "default",
            perceptual_weight: float = 1.0, identity: LossSpec = None, identity_weight: float = 0.1,
            noise_regularize: float = 1e5, offset_weight: float = 0.0, n_mean_latent: int = 4096, seed: int = 0,
            progress: bool = True, callback: Optional[Callable[[int], None]] = None) -> ProjectionResult:
    """Find the w (default, as the StyleGAN2 projector and PTI) or W+ (``w_plus=True``) that renders
    ``target`` [1, 3, S, S] in [-1, 1]. (On MobileStyleGAN at 256 px, 200 steps in W gave a sharper,
    on-manifold face with lower MSE than in W+, which drifted to a blurry, off-manifold image.)

    ``start``: the initial latent (a W+ pivot [1, n_latent, D], e.g. from an encoder, or a w
    [1, D]); default the generator's average w (its stored ``latent_avg``, else the mean of
    ``n_mean_latent`` seeded samples). With ``w_plus=False`` a W+ start is averaged over layers.
    ``perceptual``: ``"default"`` (SFace feature L1 if SFace is installed, else nothing), ``"sface"``,
    ``"none"``/``None`` or a callable ``(x, y) -> distance``; ``identity``: ``None`` (default),
    ``"sface"`` (``1 - cos`` of SFace embeddings) or a callable. ``initial_noise_factor=0``
    disables the latent noise ramp. ``offset_weight`` (W+ only): weight of :func:`wplus_offset_penalty`.
    ``optimize_noise``: also optimise the (initially stored,
    re-normalised) noise maps, with ``noise_regularize`` times the autocorrelation penalty.
    ``callback`` is called with the number of steps run after each step (an exception it raises stops the
    projection, e.g. a time limit). Deterministic for a given ``seed`` (latent noise comes from a seeded ``torch.Generator``).
    The generator is not modified and its parameters get no gradients.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    size = check_target(generator, target)
    device = generator.device
    target = target.detach().to(device, torch.float32)
    perceptual_fn = resolve_loss(perceptual, "perceptual", device)
    identity_fn = resolve_loss(identity, "identity", device)
    mean_w, latent_std = latent_statistics(generator, n_mean_latent, seed)
    n_latent = generator.n_latent

    init = _initial_latent(generator, start, mean_w, w_plus)
    latent = init.clone().requires_grad_(True)

    def to_wplus(x: torch.Tensor) -> torch.Tensor:
        return x if w_plus else x.unsqueeze(1).repeat(1, n_latent, 1)

    grad_state = [p.requires_grad for p in generator.parameters()]
    generator.requires_grad_(False)
    try:
        noise = _trainable_noise(generator, to_wplus(latent), size) if optimize_noise else None
        noise_params = [n for n in (noise or []) if n is not None]
        optimizer = torch.optim.Adam([latent] + noise_params, lr=lr)
        rng = torch.Generator().manual_seed(seed)
        losses: Dict[str, List[float]] = {}
        bar = tqdm(range(steps), desc="project", unit="step", disable=not progress)
        for step in bar:
            t = step / steps
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(t, lr, lr_rampdown, lr_rampup)
            strength = latent_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp) ** 2 \
                if noise_ramp > 0 else 0.0
            jitter = torch.randn(latent.shape, generator=rng).to(device) * strength if strength > 0 else 0.0
            image = render_with_noise(generator, to_wplus(latent + jitter), size, noise)
            parts = _projection_losses(image, target, mse_weight, perceptual_fn, perceptual_weight, identity_fn,
                                       identity_weight, noise_params, noise_regularize)
            if w_plus and offset_weight:
                parts["offset"] = wplus_offset_penalty(latent, latent_std)
                parts["total"] = parts["total"] + offset_weight * parts["offset"]
            total = parts["total"]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            if noise_params:
                normalize_noise_(noise_params)
            for key, value in parts.items():
                losses.setdefault(key, []).append(float(value.detach()))
            bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in losses.items()}, refresh=False)
            if callback is not None:
                callback(step + 1)
        with torch.no_grad():
            wplus = to_wplus(latent.detach()).clone()
            final = render_with_noise(generator, wplus, size, noise).detach()
    finally:
        for p, flag in zip(generator.parameters(), grad_state):
            p.requires_grad_(flag)
    log.info("projection: %d steps, final loss %s", steps, {k: round(v[-1], 5) for k, v in losses.items()})
    kept = None if noise is None else [None if n is None else n.detach() for n in noise]
    return ProjectionResult(wplus=wplus, image=final, losses=losses, noise=kept)


def wplus_offset_penalty(wplus: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Mean over layers of ``||w_l - mean_l w_l||^2 / scale^2`` for W+ [B, L, D] (0 when all layers agree)."""
    offsets = wplus - wplus.mean(dim=1, keepdim=True)
    return offsets.pow(2).sum(-1).mean() / (scale * scale)


def _initial_latent(generator: GeneratorBase, start: Optional[torch.Tensor], mean_w: torch.Tensor,
                    w_plus: bool) -> torch.Tensor:
    """The projector's first latent: ``start`` (w or W+, see :func:`project`) or the average w,
    as W+ [1, n_latent, D] (``w_plus``) or w [1, D]."""
    n_latent = generator.n_latent
    if start is None:
        return mean_w.unsqueeze(1).repeat(1, n_latent, 1) if w_plus else mean_w.clone()
    start = start.detach().to(generator.device, torch.float32)
    if start.ndim == 2:
        init = start.unsqueeze(1).repeat(1, n_latent, 1) if w_plus else start.clone()
    elif start.ndim == 3 and start.shape[1] == n_latent:
        init = start.clone() if w_plus else start.mean(1)
    else:
        raise ValueError(f"start must be w [1, {generator.style_dim}] or W+ [1, {n_latent}, "
                         f"{generator.style_dim}], got {tuple(start.shape)}")
    if init.shape[0] != 1 or init.shape[-1] != generator.style_dim:
        raise ValueError(f"start must hold one latent of width {generator.style_dim}, got {tuple(start.shape)}")
    return init


def _projection_losses(image: torch.Tensor, target: torch.Tensor, mse_weight: float, perceptual_fn: Any,
                       perceptual_weight: float, identity_fn: Any, identity_weight: float,
                       noise_params: List[torch.Tensor], noise_regularize: float) -> Dict[str, torch.Tensor]:
    """The projector's loss terms and their weighted sum (``"total"``)."""
    parts: Dict[str, torch.Tensor] = {}
    total = image.new_zeros(())
    if mse_weight:
        parts["mse"] = F.mse_loss(image, target)
        total = total + mse_weight * parts["mse"]
    if perceptual_fn is not None and perceptual_weight:
        parts["perceptual"] = scalar_loss(perceptual_fn, image, target)
        total = total + perceptual_weight * parts["perceptual"]
    if identity_fn is not None and identity_weight:
        parts["identity"] = scalar_loss(identity_fn, image, target)
        total = total + identity_weight * parts["identity"]
    if noise_params and noise_regularize:
        parts["noise_reg"] = noise_regularization(noise_params)
        total = total + noise_regularize * parts["noise_reg"]
    parts["total"] = total
    return parts
