"""LPIPS (Zhang et al. 2018, v0.1) with the ``lpips`` package's linear heads and a user backbone.

Semantics match ``lpips.LPIPS(net=..., version="0.1")`` exactly: inputs in [-1, 1] go through
the scaling layer ``(x - shift) / scale`` (shift ``[-.030, -.088, -.188]``, scale ``[.458, .448,
.450]``), the backbone's five ReLU taps are unit-normalised along channels (``f / (|f| + 1e-10)``),
squared differences are weighted by the 1x1 lin heads (no bias), averaged over space and summed
over layers. The heads are read by path from the installed ``lpips`` package (never imported):
``lpips/weights/v0.1/{alex,vgg}.pth``. The ImageNet backbone cannot ship here: pass a torchvision
``state_dict`` file (see :mod:`.backbones`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import List, Optional, Union

import torch
from torch import nn

from ..checkpoints.errors import CheckpointFormatError
from ..fileio import read_torch_file
from .backbones import FeatureStack, load_backbone

__all__ = ["LPIPS", "find_lpips_heads", "normalize_channels"]

PathLike = Union[str, "os.PathLike[str]"]

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def normalize_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """``f / (sqrt(sum_c f^2) + eps)`` as in ``lpips.normalize_tensor``."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + eps)


def find_lpips_heads(net: str) -> Path:
    """Path of the ``lpips`` package's v0.1 lin-head file for ``net`` (``alex`` or ``vgg``)."""
    spec = importlib.util.find_spec("lpips")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the LPIPS linear heads were not found: `pip install --no-deps lpips==0.1.4` "
                                "or pass heads=<path to lpips weights/v0.1/{alex,vgg}.pth>")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1" / f"{net}.pth"
    if not path.is_file():
        raise FileNotFoundError(f"LPIPS head file {path} not found (lpips package incomplete?)")
    return path


def _load_heads(path: PathLike, channels: tuple) -> List[torch.Tensor]:
    state = read_torch_file(path)
    heads = []
    for k, c in enumerate(channels):
        weight = state.get(f"lin{k}.model.1.weight", state.get(f"lin{k}.model.0.weight"))
        if weight is None or tuple(weight.shape) != (1, c, 1, 1):
            raise CheckpointFormatError(f"{path}: lin{k} weight missing or not of shape (1, {c}, 1, 1)")
        heads.append(weight.float())
    return heads


class LPIPS(nn.Module):
    """Learned perceptual distance; ``forward(x, y) -> [B]`` for images ``[B, 3, H, W]`` in [-1, 1].

    Build with :meth:`load`. Parameters are frozen; the distance is differentiable in the images.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, backbone: FeatureStack, heads: List[torch.Tensor], net: str) -> None:
        super().__init__()
        if len(heads) != len(backbone.channels):
            raise ValueError("one lin head per backbone tap is needed")
        self.net = net
        self.backbone = backbone
        self.lins = nn.ModuleList()
        for weight in heads:
            conv = nn.Conv2d(weight.shape[1], 1, 1, bias=False)
            conv.weight.data.copy_(weight)
            self.lins.append(conv)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    @classmethod
    def load(cls, backbone: PathLike, net: str = "auto", heads: Optional[PathLike] = None,
             device: Union[str, torch.device] = "cpu") -> "LPIPS":
        """LPIPS from a torchvision AlexNet/VGG16 ``state_dict`` file and (default) lpips' v0.1 heads."""
        found, stack = load_backbone(backbone, net)
        weights = _load_heads(heads if heads is not None else find_lpips_heads(found), stack.channels)
        return cls(stack, weights, found).to(device)

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> List[torch.Tensor]:
        """Per-layer contributions, each ``[B]`` (their sum is the distance)."""
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS needs two RGB batches of equal shape [B, 3, H, W], got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        feats_x = self.backbone((x - self.shift) / self.scale)
        feats_y = self.backbone((y - self.shift) / self.scale)
        out = []
        for fx, fy, lin in zip(feats_x, feats_y, self.lins):
            diff = (normalize_channels(fx) - normalize_channels(fy)).square()
            out.append(lin(diff).mean(dim=(1, 2, 3)))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image pair, ``[B]``."""
        return torch.stack(self.layer_distances(x, y), dim=0).sum(dim=0)
