"""ResNet-50 feature extractor in torchvision's key layout (our own modules; torchvision unused).

DECA's ``resnet.load_ResNet50Model()``: Bottleneck blocks [3, 4, 6, 3] with the stride on the
3x3 convolution, no ``fc`` (features are the 2048-d average-pooled ``layer4`` output). Widths
and block counts can be inferred from a state dict so small test networks load the same way.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Sequence

import torch
from torch import nn

__all__ = ["Bottleneck", "ResNetFeatures", "infer_resnet_config"]

EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 (x4) with BatchNorm, identity or 1x1-conv shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * EXPANSION, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * EXPANSION:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * EXPANSION, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * EXPANSION))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNetFeatures(nn.Module):
    """ResNet trunk: ``[B, 3, H, W] -> [B, 4 * widths[-1]]`` (global average pool of ``layer4``).

    ``stem``: channels of ``conv1``; ``widths``/``blocks``: planes and block count per stage
    (ResNet-50: 64, (64, 128, 256, 512), (3, 4, 6, 3)).
    """

    def __init__(self, stem: int = 64, widths: Sequence[int] = (64, 128, 256, 512),
                 blocks: Sequence[int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        if len(widths) != 4 or len(blocks) != 4:
            raise ValueError("a ResNet has 4 stages: give 4 widths and 4 block counts")
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = stem
        for stage, (planes, count) in enumerate(zip(widths, blocks), start=1):
            layers = []
            for i in range(count):
                layers.append(Bottleneck(inplanes, planes, stride=2 if (i == 0 and stage > 1) else 1))
                inplanes = planes * EXPANSION
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.out_features = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features [B, out_features]."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))  # DECA: AvgPool2d(7) on the 7x7 map of a 224 px input


def infer_resnet_config(state: Mapping[str, torch.Tensor], prefix: str = "") -> Dict[str, Any]:
    """``stem``, ``widths``, ``blocks`` of a ResNet trunk state dict (keys under ``prefix``)."""
    try:
        stem = int(state[prefix + "conv1.weight"].shape[0])
        widths, blocks = [], []
        for stage in range(1, 5):
            pattern = re.compile(re.escape(f"{prefix}layer{stage}.") + r"(\d+)\.conv1\.weight$")
            indices = [int(m.group(1)) for k in state for m in [pattern.match(k)] if m]
            if not indices:
                raise KeyError(f"{prefix}layer{stage}.0.conv1.weight")
            blocks.append(max(indices) + 1)
            widths.append(int(state[f"{prefix}layer{stage}.0.conv1.weight"].shape[0]))
    except KeyError as exc:
        raise ValueError(f"not a ResNet state dict: key {exc} is missing") from exc
    return {"stem": stem, "widths": tuple(widths), "blocks": tuple(blocks)}
