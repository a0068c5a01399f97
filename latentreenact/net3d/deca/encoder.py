"""DECA's coarse encoder ``E_flame``: ResNet-50 features -> MLP 2048 -> 1024 -> 236 code.

Code split (DECA ``decompose_code``): shape 100, tex 50, exp 50, pose 6 (global 3 + jaw 3,
axis-angle, radians), cam 3 (orthographic scale, tx, ty), light 27 (9 x 3 SH). Input: 224 px
RGB in [0, 1], no normalisation. Weights: ``deca_model.tar`` (a ``torch.save`` file) key
``E_flame``, read with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Mapping, Tuple, Union

import torch
from torch import nn

from ...checkpoints.errors import CheckpointFormatError
from ...fileio import read_torch_file
from .resnet import ResNetFeatures, infer_resnet_config

__all__ = ["CODE_SPLIT", "CODE_SIZE", "DecaEncoder", "load_deca_encoder", "split_code"]

log = logging.getLogger(__name__)

#: (name, size) in the order of DECA's code vector.
CODE_SPLIT: Tuple[Tuple[str, int], ...] = (("shape", 100), ("tex", 50), ("exp", 50), ("pose", 6),
                                           ("cam", 3), ("light", 27))
CODE_SIZE = sum(n for _, n in CODE_SPLIT)  # 236
INPUT_SIZE = 224


def split_code(code: torch.Tensor) -> Dict[str, torch.Tensor]:
    """[B, 236] -> dict of the named parts (``light`` as [B, 9, 3])."""
    if code.ndim != 2 or code.shape[1] != CODE_SIZE:
        raise ValueError(f"a DECA code is [B, {CODE_SIZE}], got {tuple(code.shape)}")
    parts, start = {}, 0
    for name, size in CODE_SPLIT:
        parts[name] = code[:, start:start + size]
        start += size
    parts["light"] = parts["light"].reshape(-1, 9, 3)
    return parts


class DecaEncoder(nn.Module):
    """``ResnetEncoder`` of DECA: ``encoder`` (ResNet trunk) + ``layers`` (Linear, ReLU, Linear)."""

    def __init__(self, stem: int = 64, widths: Tuple[int, ...] = (64, 128, 256, 512),
                 blocks: Tuple[int, ...] = (3, 4, 6, 3), hidden: int = 1024, outsize: int = CODE_SIZE) -> None:
        super().__init__()
        self.encoder = ResNetFeatures(stem, widths, blocks)
        self.layers = nn.Sequential(nn.Linear(self.encoder.out_features, hidden), nn.ReLU(),
                                    nn.Linear(hidden, outsize))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """RGB [B, 3, 224, 224] in [0, 1] -> code [B, 236]."""
        return self.layers(self.encoder(images))

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], source: str = "E_flame") -> "DecaEncoder":
        """Build with the widths of ``state`` (our/DECA key layout) and load it strictly.

        ``encoder.fc.*`` (an unused ImageNet head) and missing ``num_batches_tracked`` are
        tolerated; anything else missing, unexpected or mis-shaped raises CheckpointFormatError.
        """
        state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("encoder.fc.")}
        if not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointFormatError(f"{source}: the state dict holds non-tensor values")
        try:
            config = infer_resnet_config(state, "encoder.")
            hidden = int(state["layers.0.weight"].shape[0])
            outsize = int(state["layers.2.weight"].shape[0])
        except (ValueError, KeyError) as exc:
            raise CheckpointFormatError(f"{source}: not DECA's E_flame encoder ({exc})") from exc
        if outsize != CODE_SIZE:
            raise CheckpointFormatError(f"{source}: the encoder outputs {outsize} values; DECA's coarse code has "
                                        f"{CODE_SIZE} (shape 100, tex 50, exp 50, pose 6, cam 3, light 27)")
        model = cls(config["stem"], config["widths"], config["blocks"], hidden, outsize)
        expected = model.state_dict()
        missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            more = lambda keys: " ..." if len(keys) > 8 else ""  # noqa: E731
            raise CheckpointFormatError(f"{source}: key mismatch; missing {missing[:8]}{more(missing)}, "
                                        f"unexpected {unexpected[:8]}{more(unexpected)}")
        wrong = [f"{k} {tuple(v.shape)} != {tuple(expected[k].shape)}" for k, v in state.items()
                 if v.shape != expected[k].shape]
        if wrong:
            raise CheckpointFormatError(f"{source}: wrong tensor shapes: {wrong[:5]}")
        bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise CheckpointFormatError(f"{source}: NaN or Inf in {bad[:5]}")
        model.load_state_dict(state, strict=False)
        return model.eval()


def load_deca_encoder(path: Union[str, "os.PathLike[str]"], device: Union[str, torch.device] = "cpu") -> DecaEncoder:
    """Read ``E_flame`` from DECA's ``deca_model.tar`` (other keys, e.g. ``E_detail``, are ignored)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DECA model not found: {path} (deca_model.tar from the DECA project, "
                                "https://github.com/yfeng95/DECA, fetched by its fetch_data.sh)")
    obj = read_torch_file(path)
    if not isinstance(obj, Mapping) or "E_flame" not in obj:
        keys = sorted(obj)[:10] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointFormatError(f"{path}: not a DECA model file (no 'E_flame' key; found {keys})")
    if not isinstance(obj["E_flame"], Mapping):
        raise CheckpointFormatError(f"{path}: 'E_flame' is not a state dict")
    log.debug("%s: E_flame with %d tensors", path, len(obj["E_flame"]))
    return DecaEncoder.from_state_dict(obj["E_flame"], source=f"{path}:E_flame").to(device)
