"""Seeded random sampling from any generator of the protocol."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .images import to_uint8
from .models.base import GeneratorBase


def truncation_centre(generator: GeneratorBase, n: int = 4096, seed: int = 0) -> torch.Tensor:
    """The generator's stored average w when it has one, else ``mean_latent(n, seed)``: [1, D]."""
    if getattr(generator, "has_latent_avg", False):
        return generator.latent_avg.reshape(1, -1)
    return generator.mean_latent(n, seed)


@torch.inference_mode()
def sample_images(generator: GeneratorBase, num: int, seed: int = 0, truncation: float = 1.0,
                  noise_mode: str = "const", batch_size: int = 4, progress: bool = False) -> np.ndarray:
    """``num`` uint8 [num, H, W, 3] samples; z and random noise drawn from ``seed``.

    The result does not depend on ``batch_size``: all z are drawn first.
    """
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num, generator.style_dim, generator=g)
    centre = truncation_centre(generator, seed=seed) if truncation != 1 else None
    out = []
    for chunk in tqdm(z.split(batch_size), desc="sampling", unit="batch", disable=not progress):
        w = generator.mapping(chunk.to(generator.device))
        if centre is not None:
            w = generator.truncate(w, truncation, centre)
        wplus = w.unsqueeze(1).repeat(1, generator.n_latent, 1)
        out.append(to_uint8(generator.synthesis(wplus, noise_mode=noise_mode, generator=g)))
    return np.concatenate(out)
