"""A light e4e-style encoder (about 8 M parameters instead of e4e's 209 M) for the default generator.

Structure: a stride-2 stem and a residual CNN pyramid (64 -> 4 px) on 128 px input; features pooled from the 16, 8 and 4 px maps feed
an MLP; one linear head gives w_0, a second gives the deltas of layers 1..n-1 (zero-initialised, as
e4e's progressive deltas start at zero). ``codes = latent_avg + [w_0, w_0 + d_1, ...]``: the
same contract as :class:`~inversion.e4e.E4EEncoder` (``n_styles``, ``input_size``,
``has_latent_avg``). The config travels with the weights (:func:`save_light_encoder`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from latentreenact.fileio import atomic_path

__all__ = ["DEFAULT_CONFIG", "ENCODER_FORMAT", "LightEncoder", "save_light_encoder"]

PathLike = Union[str, "os.PathLike[str]"]
ENCODER_FORMAT = "latentreenact.light-encoder"
ENCODER_FORMAT_VERSION = 1
DEFAULT_CONFIG: Dict[str, Any] = {
    "n_styles": 23, "style_dim": 512, "input_size": 128,
    "widths": [48, 96, 160, 256], "hidden": 512,
}


def _norm(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels)


class _Block(nn.Module):
    """Residual block: 3x3 stride-2 conv, 3x3 conv; 1x1 stride-2 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, 2, 1, bias=False), _norm(cout), nn.LeakyReLU(0.2),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), _norm(cout))
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), _norm(cout))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class LightEncoder(nn.Module):
    """Images [B, 3, S, S] in [-1, 1] (S = ``input_size``) -> W+ codes [B, n_styles, style_dim]."""

    def __init__(self, config: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        cfg = {**DEFAULT_CONFIG, **(config or {})}
        widths: Sequence[int] = [int(c) for c in cfg["widths"]]
        self.config: Dict[str, Any] = {**cfg, "widths": list(widths)}
        self.n_styles, self.style_dim = int(cfg["n_styles"]), int(cfg["style_dim"])
        self.input_size = int(cfg["input_size"])
        if self.input_size != 2 ** (len(widths) + 3):
            raise ValueError(f"input_size {self.input_size} needs {self.input_size.bit_length() - 4} widths "
                             f"(a stride-2 stem, then one stride-2 stage per halving down to 4 px), got {len(widths)}")
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 4, 2, 1), nn.LeakyReLU(0.2))
        self.stages = nn.ModuleList(_Block(a, b) for a, b in zip([widths[0]] + list(widths[:-1]), widths))
        pooled = sum(widths[-3:])
        hidden = int(cfg["hidden"])
        self.mlp = nn.Sequential(nn.Linear(pooled, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2))
        self.w0 = nn.Linear(hidden, self.style_dim)
        self.deltas = nn.Linear(hidden, (self.n_styles - 1) * self.style_dim)
        nn.init.zeros_(self.w0.weight)
        nn.init.zeros_(self.w0.bias)
        nn.init.zeros_(self.deltas.weight)
        nn.init.zeros_(self.deltas.bias)
        self.register_buffer("latent_avg", torch.zeros(self.n_styles, self.style_dim))

    @property
    def has_latent_avg(self) -> bool:
        """Always True: ``latent_avg`` (the generator's truncation centre) is part of the model."""
        return True

    def set_latent_avg(self, latent_avg: torch.Tensor) -> None:
        """Set the centre added to every code: [style_dim], [1, style_dim] or [n_styles, style_dim]."""
        avg = latent_avg.detach().float().reshape(-1, self.style_dim)
        if avg.shape[0] not in (1, self.n_styles):
            raise ValueError(f"latent_avg has {avg.shape[0]} rows, expected 1 or {self.n_styles}")
        self.latent_avg.copy_(avg.expand(self.n_styles, -1).to(self.latent_avg.device))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled multi-scale feature vector [B, hidden]."""
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"expected images [B, 3, {self.input_size}, {self.input_size}], got {tuple(x.shape)}")
        h = self.stem(x)
        taps = []
        for k, stage in enumerate(self.stages):
            h = stage(h)
            if k >= len(self.stages) - 3:
                taps.append(h.mean(dim=(2, 3)))
        return self.mlp(torch.cat(taps, 1))

    def offsets_and_deltas(self, x: torch.Tensor) -> "tuple[torch.Tensor, torch.Tensor]":
        """``(codes - latent_avg, deltas)``: [B, n_styles, style_dim] (row 0 is w_0, row i is
        w_0 + d_i) and the per-layer deltas [B, n_styles - 1, style_dim] (e4e's regulariser input)."""
        h = self.features(x)
        w0 = self.w0(h)[:, None]
        deltas = self.deltas(h).view(-1, self.n_styles - 1, self.style_dim)
        return torch.cat([w0, w0 + deltas], 1), deltas

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W+ codes [B, n_styles, style_dim]."""
        return self.offsets_and_deltas(x)[0] + self.latent_avg

def save_light_encoder(path: PathLike, encoder: LightEncoder, half: bool = False,
                       metadata: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``{"format", "format_version", "config", "state_dict", "metadata"}`` atomically (optionally fp16)."""
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() and k != "latent_avg"
                 else v.detach().cpu().clone()) for k, v in encoder.state_dict().items()}
    obj = {"format": ENCODER_FORMAT, "format_version": ENCODER_FORMAT_VERSION, "config": dict(encoder.config),
           "state_dict": state, "metadata": dict(metadata or {})}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)
