"""Identity loss ``1 - cos(f(x), f(y))`` with IR-SE50 or SFace, including their input crops.

Crops (images are RGB [-1, 1] NCHW):
- ``e4e`` (IR-SE50, as pSp/e4e's ``IDLoss``): resize to 256 by adaptive average pooling if
  needed, crop rows 35:223 and columns 32:220, adaptive-average-pool to 112.
- ``ffhq`` (SFace on FFHQ-aligned images): a fixed ArcFace similarity warp computed from the
  typical 5-point positions in an FFHQ-aligned crop (``FFHQ_FIVE_POINTS``).
- ``points``: per-image ArcFace alignment from 5 points given to ``forward``.
- ``none``: the images are already 112 px aligned faces.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .arcface_align import arcface_align_torch
from .irse50 import load_irse50
from .sface import load_sface

# Typical ArcFace 5 points in an FFHQ-aligned crop, as fractions of its size: the mean over the
# five test photos (tests/fixtures/faces) aligned with align_ffhq, made left-right symmetric.
FFHQ_FIVE_POINTS = np.array([[0.3776, 0.4744], [0.6224, 0.4744], [0.5000, 0.5952],
                             [0.3766, 0.7311], [0.6234, 0.7311]], dtype=np.float32)

CROPS = ("e4e", "ffhq", "points", "none")


def e4e_crop(x: torch.Tensor) -> torch.Tensor:
    """pSp/e4e's IR-SE50 input: 256 px (pooled if needed) -> [35:223, 32:220] -> pooled to 112."""
    if x.shape[-2:] != (256, 256):
        x = F.adaptive_avg_pool2d(x, (256, 256))
    return F.adaptive_avg_pool2d(x[:, :, 35:223, 32:220], (112, 112))


def ffhq_to_arcface(x: torch.Tensor) -> torch.Tensor:
    """A fixed ArcFace 112 px warp of FFHQ-aligned images of any size."""
    b, _, h, w = x.shape
    pts = torch.from_numpy(FFHQ_FIVE_POINTS).to(x) * torch.tensor([w, h]).to(x) - 0.5
    return arcface_align_torch(x, pts.expand(b, 5, 2), 112, padding_mode="border")


class IdentityLoss(nn.Module):
    """Per-pair identity loss ``1 - cos`` [B] between images ``x`` and ``y`` (RGB [-1, 1]).

    ``network``: ``irse50`` (needs ``irse50_path``, the user's ``model_ir_se50.pth``), ``sface``
    (bundled) or any module mapping 112 px aligned faces to embeddings. ``crop``: see module doc
    (default ``e4e`` for IR-SE50, ``ffhq`` for SFace). The network is frozen and in eval mode.
    """

    def __init__(self, network: Union[str, nn.Module] = "sface", crop: Optional[str] = None,
                 irse50_path: Optional[str] = None, device: Union[str, torch.device] = "cpu"):
        super().__init__()
        if isinstance(network, str):
            if network == "irse50":
                if irse50_path is None:
                    raise ValueError("the irse50 identity loss needs irse50_path (model_ir_se50.pth)")

                net: nn.Module = load_irse50(irse50_path, device)
                crop = crop or "e4e"
            elif network == "sface":
                net = load_sface(device)
                crop = crop or "ffhq"
            else:
                raise ValueError(f"unknown identity network {network!r}; choose irse50 or sface (or pass a module)")
        else:
            net = network
            crop = crop or "none"
        if crop not in CROPS:
            raise ValueError(f"unknown identity crop {crop!r}; choose from {', '.join(CROPS)}")
        self.net = net.eval().requires_grad_(False)
        self.crop = crop

    def prepare(self, x: torch.Tensor, points: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The 112 px network input for images ``x`` (``points`` [B, 5, 2] for ``crop='points'``)."""
        if self.crop == "e4e":
            return e4e_crop(x)
        if self.crop == "ffhq":
            return ffhq_to_arcface(x)
        if self.crop == "points":
            if points is None:
                raise ValueError("crop='points' needs the 5 ArcFace points of each image")
            return arcface_align_torch(x, points, 112)
        return x

    def embed(self, x: torch.Tensor, points: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Unit-length embeddings of images ``x``."""
        return F.normalize(self.net(self.prepare(x, points)), dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor, points_x: Optional[torch.Tensor] = None,
                points_y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``1 - cos(embed(x), embed(y))`` per pair, shape [B]."""
        return 1.0 - (self.embed(x, points_x) * self.embed(y, points_y)).sum(1)
