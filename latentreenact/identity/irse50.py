"""IR-SE50 (InsightFace_Pytorch ``Backbone(112, 50, 0.6, 'ir_se')``) in the ``model_ir_se50.pth`` layout.

The identity-loss network of pSp/e4e and of the paper. Module and state_dict names follow the
original exactly (``input_layer``, ``body.N.res_layer/shortcut_layer``, ``output_layer``), so the
released file loads with ``load_irse50``. Input: RGB [-1, 1], 112 x 112, ArcFace-style crop;
output: L2-normalised 512-d features. The e4e/pSp identity loss feeds 256 px FFHQ-aligned images
cropped to [35:223, 32:220] and average-pooled to 112 (see ``identity.loss.IdentityLoss``).
No weights ship with the project: the user supplies the file.
"""

from __future__ import annotations

import os
from typing import Union

import torch
from torch import nn

from ..checkpoints.errors import CheckpointFormatError
from ..fileio import read_torch_file
from .irse_blocks import irse50_body, irse_input_layer

PathLike = Union[str, "os.PathLike[str]"]


class Flatten(nn.Module):
    """Flatten all but the batch dimension (a parameter-free module, as in the original)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class IRSE50(nn.Module):
    """IR-SE50 backbone: [B, 3, 112, 112] RGB in [-1, 1] -> L2-normalised [B, 512]."""

    def __init__(self, drop_ratio: float = 0.6):
        super().__init__()
        self.input_layer = irse_input_layer()
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop_ratio), Flatten(),
                                          nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512, affine=True))
        self.body = irse50_body()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (3, 112, 112):
            raise ValueError(f"IR-SE50 expects [B, 3, 112, 112] in [-1, 1], got {tuple(x.shape)}")
        x = self.output_layer(self.body(self.input_layer(x)))
        return x / torch.norm(x, 2, 1, True)


def load_irse50(path: PathLike, device: Union[str, torch.device] = "cpu") -> IRSE50:
    """Load ``model_ir_se50.pth`` (a plain state_dict) into an eval-mode, frozen ``IRSE50``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IR-SE50 weights not found: {path} (the file model_ir_se50.pth used by pSp/e4e)")
    state = read_torch_file(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointFormatError(f"{path} does not hold a state_dict (found {type(state).__name__})")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    model = IRSE50()
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointFormatError(f"{path} is not an IR-SE50 model_ir_se50.pth: {len(missing)} missing keys "
                                    f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointFormatError(f"{path}: tensor shapes do not fit IR-SE50: {exc}") from exc
    return model.to(device).eval().requires_grad_(False)
