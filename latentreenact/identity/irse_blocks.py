"""IR-SE50 body blocks (pSp/e4e `encoders/helpers.py`, InsightFace `model_irse`) with the published module names.

Shared by the IR-SE50 identity network and the e4e encoder body: an input layer (conv 3x3 64 +
BN + PReLU) and 24 ``bottleneck_IR_SE`` units (64x3, 128x4, 256x14, 512x3; stride 2 in each
block's first unit). State_dict names match the published ones (``input_layer.*``,
``body.N.res_layer.*``, ``body.N.shortcut_layer.*``) so official weights load unchanged.
"""

from __future__ import annotations

from typing import List, NamedTuple

import torch
from torch import nn

SE_REDUCTION = 16


class SEModule(nn.Module):
    """Squeeze-and-excitation with 1x1 convolutions (keys ``fc1``, ``fc2``; no biases)."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` by its learned gate."""
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class BottleneckIRSE(nn.Module):
    """``bottleneck_IR_SE``: BN-conv3x3-PReLU-conv3x3(stride)-BN-SE plus a shortcut.

    The shortcut is ``MaxPool2d(1, stride)`` (a strided subsample) when the channel count is
    unchanged, else conv1x1(stride) + BN.
    """

    def __init__(self, in_channel: int, depth: int, stride: int):
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channel, depth, 1, stride, bias=False),
                                                nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
            SEModule(depth, SE_REDUCTION))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual branch plus shortcut."""
        return self.res_layer(x) + self.shortcut_layer(x)


class UnitSpec(NamedTuple):
    """One bottleneck unit: input channels, output channels, stride."""

    in_channel: int
    depth: int
    stride: int


def irse50_units() -> List[UnitSpec]:
    """The 24 units of IR-50: (64->64) x3, (64->128) x4, (128->256) x14, (256->512) x3; stride 2 first."""
    units: List[UnitSpec] = []
    for in_c, depth, n in ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3)):
        units += [UnitSpec(in_c, depth, 2)] + [UnitSpec(depth, depth, 1)] * (n - 1)
    return units


def irse_input_layer() -> nn.Sequential:
    """``input_layer``: conv 3x3 (3->64, stride 1, no bias) + BN + PReLU."""
    return nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))


def irse50_body() -> nn.Sequential:
    """``body``: the 24 bottleneck_IR_SE units in order."""
    return nn.Sequential(*(BottleneckIRSE(*u) for u in irse50_units()))
