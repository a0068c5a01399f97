"""The rosinality StyleGAN2 state-dict layout: recognising it and inferring the architecture."""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping

import torch

from ..models.stylegan2_layers import DEFAULT_BLUR, make_kernel
from .errors import CheckpointFormatError

REQUIRED_KEYS = ("style.1.weight", "input.input", "conv1.conv.weight", "conv1.conv.modulation.weight",
                 "to_rgb1.conv.weight")


def looks_like_stylegan2(state_dict: Mapping[str, Any]) -> bool:
    """True when ``state_dict`` has the rosinality generator's characteristic keys."""
    return "input.input" in state_dict and "conv1.conv.weight" in state_dict


def infer_stylegan2_config(state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> Dict[str, Any]:
    """Architecture (size, style_dim, n_mlp, per-resolution channels) from tensor shapes."""
    missing = [k for k in REQUIRED_KEYS if k not in state_dict]
    if missing:
        raise CheckpointFormatError(f"{source}: not a StyleGAN2 generator state dict (missing {missing})")
    style_dim = int(state_dict["conv1.conv.modulation.weight"].shape[1])
    n_mlp = len([k for k in state_dict if re.fullmatch(r"style\.\d+\.weight", k)])
    n_rgbs = len([k for k in state_dict if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    channels = {4: int(state_dict["input.input"].shape[1])}
    for k in range(n_rgbs):
        key = f"to_rgbs.{k}.conv.weight"
        if key not in state_dict:
            raise CheckpointFormatError(f"{source}: to_rgbs are not numbered 0..{n_rgbs - 1} (no {key})")
        channels[2 ** (k + 3)] = int(state_dict[key].shape[2])
    blur = state_dict.get("convs.0.conv.blur.kernel")
    if blur is not None:
        expected = make_kernel(DEFAULT_BLUR) * 4
        if blur.shape != expected.shape or not torch.allclose(blur.float().cpu(), expected, atol=1e-6):
            raise CheckpointFormatError(f"{source}: unsupported blur kernel {blur.tolist()} "
                                        f"(only the standard [1, 3, 3, 1] filter is implemented)")
    return {"size": 2 ** (n_rgbs + 2), "style_dim": style_dim, "n_mlp": n_mlp, "channels": channels}
