"""AlexNet and VGG16 feature stacks in torchvision's ``features.N`` layout (no torchvision import).

LPIPS taps the ReLU outputs ``relu1..relu5``; the tap indices below are those of the ``lpips``
package's slices (AlexNet ``[0:2], [2:5], [5:8], [8:10], [10:12]``; VGG16 ``[0:4], [4:9],
[9:16], [16:23], [23:30]``). Weights come from a user-supplied file holding a torchvision
``state_dict`` of the whole network (``features.0.weight``, ..., ``classifier.*`` ignored) or of
its ``features`` alone (``0.weight``, ...).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from ..checkpoints.errors import CheckpointFormatError
from ..fileio import read_torch_file

__all__ = ["FeatureStack", "alexnet_features", "vgg16_features", "load_backbone", "BACKBONES"]

PathLike = Union[str, "os.PathLike[str]"]

_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class FeatureStack(nn.Module):
    """``features`` (an ``nn.Sequential`` in torchvision numbering) returning the tapped outputs."""

    def __init__(self, features: nn.Sequential, taps: Tuple[int, ...], channels: Tuple[int, ...]) -> None:
        super().__init__()
        self.features = features
        self.taps = tuple(taps)
        self.channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Feature maps after each tap index (list of ``len(taps)`` tensors)."""
        outputs = []
        last = self.taps[-1]
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
            if index == last:
                break
        return outputs


def alexnet_features(device: Optional[Union[str, torch.device]] = None) -> FeatureStack:
    """torchvision ``alexnet().features`` (randomly initialised; ``device="meta"``: no storage), taps relu1..relu5."""
    layers = [
        nn.Conv2d(3, 64, 11, stride=4, padding=2, device=device), nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2, device=device), nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1, device=device), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, device=device), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1, device=device), nn.ReLU(),
        nn.MaxPool2d(3, 2),
    ]
    return FeatureStack(nn.Sequential(*layers), (1, 4, 7, 9, 11), (64, 192, 384, 256, 256))


def vgg16_features(device: Optional[Union[str, torch.device]] = None) -> FeatureStack:
    """torchvision ``vgg16().features`` (randomly initialised; ``device="meta"``: no storage), taps relu1_2..relu5_3."""
    layers: List[nn.Module] = []
    channels = 3
    for item in _VGG16_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1, device=device), nn.ReLU()]
            channels = int(item)
    return FeatureStack(nn.Sequential(*layers), (3, 8, 15, 22, 29), (64, 128, 256, 512, 512))


BACKBONES = {"alex": alexnet_features, "vgg": vgg16_features}


def _features_state(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    if any(k.startswith("features.") for k in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return dict(state)


def detect_backbone(state: Dict[str, torch.Tensor]) -> str:
    """``"alex"`` or ``"vgg"`` from the first conv's kernel size (11 for AlexNet, 3 for VGG16)."""
    first = _features_state(state).get("0.weight")
    if first is None or first.dim() != 4:
        raise CheckpointFormatError("backbone file has no 'features.0.weight' conv weight "
                                    "(expected a torchvision AlexNet/VGG16 state_dict)")
    return "alex" if first.shape[-1] == 11 else "vgg"


def load_backbone(path: PathLike, net: str = "auto") -> Tuple[str, FeatureStack]:
    """Read a torchvision AlexNet/VGG16 ``state_dict`` file into a frozen :class:`FeatureStack`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"LPIPS backbone file {path} not found: supply a torchvision "
                                "AlexNet or VGG16 state_dict (ImageNet weights) saved with torch.save")
    state = read_torch_file(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointFormatError(f"{path}: expected a dict of tensors (a state_dict)")
    found = detect_backbone(state)
    if net != "auto" and net != found:
        raise CheckpointFormatError(f"{path} holds a {found} backbone but net={net!r} was asked for")
    stack = BACKBONES[found](device="meta")  # no random init: every tensor comes from the file
    features = _features_state(state)
    expected = stack.features.state_dict()
    missing = sorted(set(expected) - set(features))
    if missing:
        raise CheckpointFormatError(f"{path}: backbone lacks {', '.join(missing[:6])}")
    for key, value in expected.items():
        if features[key].shape != value.shape:
            raise CheckpointFormatError(f"{path}: features.{key} has shape {tuple(features[key].shape)}, "
                                        f"expected {tuple(value.shape)} for {found}")
    stack.features.load_state_dict({k: features[k].float() for k in expected}, assign=True)
    stack.requires_grad_(False).eval()
    return found, stack
