"""Seeded random sampling from any generator of the protocol."""

from __future__ import annotations

import inspect
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .images import to_uint8
from .models.base import GeneratorBase


def truncation_centre(generator: GeneratorBase, n: int = 4096, seed: int = 0) -> torch.Tensor:
    """The generator's stored average w when it has one, else ``mean_latent(n, seed)``: [1, D]."""
    if getattr(generator, "has_latent_avg", False):
        return generator.latent_avg.reshape(1, -1)
    return generator.mean_latent(n, seed)


def wplus_from_z(generator: GeneratorBase, z: torch.Tensor, truncation: float = 1.0,
                 centre: Optional[torch.Tensor] = None) -> torch.Tensor:
    """W+ [B, n_latent, D] from z [B, style_dim]: the mapping network, truncation by ``truncation``
    toward ``centre`` (skipped when ``truncation == 1`` or no centre is given), the same w on every
    layer. Without gradient: the one way the project turns z into W+."""
    with torch.no_grad():
        w = generator.mapping(z.to(generator.device, torch.float32))
        if centre is not None and truncation != 1:
            w = generator.truncate(w, truncation, centre)
    return w[:, None].expand(-1, generator.n_latent, -1).contiguous()


def sample_wplus(generator: GeneratorBase, n: int, g: torch.Generator, truncation: float = 1.0,
                 centre: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` W+ codes from z ~ N(0, I) drawn from ``g`` on the CPU (see :func:`wplus_from_z`)."""
    return wplus_from_z(generator, torch.randn(n, generator.style_dim, generator=g), truncation, centre)


def render(generator: GeneratorBase, wplus: torch.Tensor, size: Optional[int] = None, noise_mode: str = "const",
           rng: Optional[torch.Generator] = None) -> torch.Tensor:
    """Render W+ at ``size`` px: natively when the generator has a ``resolution`` argument
    (MobileStyleGAN's per-level heads), else the full image area-downsampled."""
    size = size or generator.resolution
    if size > generator.resolution or size < 1:
        raise ValueError(f"size must be in [1, {generator.resolution}], got {size}")
    if size != generator.resolution and "resolution" in inspect.signature(generator.synthesis).parameters \
            and size & (size - 1) == 0 and size >= 8:
        return generator.synthesis(wplus, noise_mode=noise_mode, generator=rng, resolution=size)
    image = generator.synthesis(wplus, noise_mode=noise_mode, generator=rng)
    return image if size == generator.resolution else F.interpolate(image, size=(size, size), mode="area")


def seeded_face_batches(generator: GeneratorBase, n: int, seed: int = 0, truncation: float = 0.7, size: int = 256,
                        batch_size: int = 16, progress: bool = False,
                        desc: str = "labelling faces") -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """The ``n`` faces drawn from ``seed`` that the labelling commands measure, batch by batch: (W+ [B, L, D],
    images [B, 3, size, size] in [-1, 1]), z ~ N(0, I) all drawn first from ``seed`` (so the faces do not depend on
    ``batch_size``) and truncated toward the centre seeded with it. Gradients are not recorded."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    centre = truncation_centre(generator, seed=seed) if truncation != 1 else None
    z = torch.randn(n, generator.style_dim, generator=torch.Generator().manual_seed(seed))
    for start in tqdm(range(0, n, batch_size), desc=desc, unit="batch", disable=not progress):
        with torch.no_grad():
            wplus = wplus_from_z(generator, z[start:start + batch_size], truncation, centre)
            images = render(generator, wplus, size).clamp(-1, 1)
        yield wplus, images  # outside the no_grad block, which would otherwise hold while the caller runs


@torch.inference_mode()
def sample_images(generator: GeneratorBase, num: int, seed: int = 0, truncation: float = 1.0,
                  noise_mode: str = "const", batch_size: int = 4, size: Optional[int] = None,
                  progress: bool = False) -> np.ndarray:
    """``num`` uint8 [num, S, S, 3] samples; z and random noise drawn from ``seed``.

    The result does not depend on ``batch_size``: all z are drawn first.
    """
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num, generator.style_dim, generator=g)
    centre = truncation_centre(generator, seed=seed) if truncation != 1 else None
    out = []
    for chunk in tqdm(z.split(batch_size), desc="sampling", unit="batch", disable=not progress):
        wplus = wplus_from_z(generator, chunk, truncation, centre)
        out.append(to_uint8(render(generator, wplus, size, noise_mode, g)))
    return np.concatenate(out)
