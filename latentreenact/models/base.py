"""The generator protocol shared by every generator of the library.

Subclasses implement ``mapping(z)`` and ``synthesis(wplus, noise=..., noise_mode=...)`` and set
``style_dim``, ``n_latent`` and ``resolution``; this base supplies the call semantics used across
the StyleGAN2 ecosystem (rosinality's ``G(styles, ...)``), truncation and ``mean_latent``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

NOISE_MODES = ("random", "const", "none")


class GeneratorBase(nn.Module):
    """Base class: rosinality-compatible ``forward`` on top of ``mapping`` and ``synthesis``."""

    style_dim: int
    n_latent: int
    resolution: int

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Map ``z`` [B, style_dim] to ``w`` [B, style_dim]."""
        raise NotImplementedError

    def synthesis(
        self,
        wplus: torch.Tensor,
        noise_mode: str = "const",
        noise: Optional[Sequence[torch.Tensor]] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Render W+ codes [B, n_latent, style_dim] to images [B, 3, R, R] in [-1, 1]."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Device of the generator's parameters."""
        return next(self.parameters()).device

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Mean of ``mapping(z)`` over ``n`` seeded samples of ``z``: [1, style_dim]."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.style_dim, generator=g).to(self.device)
        total = torch.zeros(1, self.style_dim, device=self.device)
        for chunk in z.split(1024):
            total += self.mapping(chunk).sum(0, keepdim=True)
        return total / n

    def truncate(self, w: torch.Tensor, psi: float, centre: torch.Tensor) -> torch.Tensor:
        """``centre + psi * (w - centre)`` for w [B, D] or W+ [B, L, D]."""
        if centre.ndim == 2 and w.ndim == 3:
            centre = centre.unsqueeze(1)
        return centre + psi * (w - centre)

    def styles_to_wplus(
        self, styles: Sequence[torch.Tensor], inject_index: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Broadcast one or two styles to W+ [B, n_latent, D] (style mixing at ``inject_index``)."""
        if len(styles) == 0 or len(styles) > 2:
            raise ValueError(f"expected 1 or 2 styles, got {len(styles)}")
        first = styles[0]
        if len(styles) == 1:
            if first.ndim == 3:
                if first.shape[1] != self.n_latent:
                    raise ValueError(f"W+ must have {self.n_latent} layers, got shape {tuple(first.shape)}")
                return first
            return first.unsqueeze(1).repeat(1, self.n_latent, 1)
        if inject_index is None:
            inject_index = int(torch.randint(1, self.n_latent, (1,), generator=generator).item())
        if not 0 <= inject_index <= self.n_latent:
            raise ValueError(f"inject_index must be in [0, {self.n_latent}], got {inject_index}")
        head = first if first.ndim == 3 else first.unsqueeze(1).repeat(1, self.n_latent, 1)
        second = styles[1]
        tail = second if second.ndim == 3 else second.unsqueeze(1).repeat(1, self.n_latent, 1)
        return torch.cat([head[:, :inject_index], tail[:, inject_index:]], 1)

    def forward(
        self,
        styles: Union[List[torch.Tensor], torch.Tensor],
        return_latents: bool = False,
        inject_index: Optional[int] = None,
        truncation: float = 1.0,
        truncation_latent: Optional[torch.Tensor] = None,
        input_is_latent: bool = False,
        noise: Optional[Sequence[Optional[torch.Tensor]]] = None,
        randomize_noise: bool = True,
        generator: Optional[torch.Generator] = None,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """rosinality call: returns ``(image, W+ latent or None)``.

        ``styles`` is a list of one or two z (or w / W+ with ``input_is_latent``); truncation
        ``t + psi (w - t)`` is applied to every style, W+ included. ``noise`` is a per-layer list
        (``None`` entries use the mode); otherwise ``randomize_noise`` picks fresh (from
        ``generator``) or stored noise.
        """
        if torch.is_tensor(styles):
            styles = [styles]
        if not input_is_latent:
            styles = [self.mapping(s) for s in styles]
        if truncation != 1:
            if truncation_latent is None:
                raise ValueError("truncation != 1 needs truncation_latent (e.g. G.mean_latent(4096))")
            styles = [self.truncate(s, truncation, truncation_latent) for s in styles]
        latent = self.styles_to_wplus(styles, inject_index, generator)
        image = self.synthesis(latent, noise_mode="random" if randomize_noise else "const", noise=noise,
                               generator=generator)
        return image, (latent if return_latents else None)
