"""The 3D losses of the A trainer (docs/architecture.md §8): shape L1 on posed vertices, eye and mouth distances.

Shapes come from the linear 3D model of Eq. 1 (BFM: identity + expression coefficients), rotated
by yaw/pitch/roll (degrees, docs/architecture.md §6) and divided by the model's own scale (the RMS radius of
the mean landmarks), so the losses are unit-free and of order 0.01-0.1.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

from latentreenact.shape3d.rotations import rotation_from_euler

__all__ = ["EYE_PAIRS", "MOUTH_PAIRS", "ShapeLosses", "pair_distances"]

EYE_PAIRS: Tuple[Tuple[int, int], ...] = ((36, 39), (37, 41), (38, 40), (42, 45), (43, 47), (44, 46))
MOUTH_PAIRS: Tuple[Tuple[int, int], ...] = ((48, 54), (49, 59), (50, 58), (51, 57), (52, 56), (53, 55), (60, 64),
                                            (61, 67), (62, 66), (63, 65))


def pair_distances(points: torch.Tensor, pairs: Sequence[Tuple[int, int]]) -> torch.Tensor:
    """Euclidean distances [B, P] between the landmark pairs of ``points`` [B, 68, D]."""
    a = torch.tensor([i for i, _ in pairs], device=points.device)
    b = torch.tensor([j for _, j in pairs], device=points.device)
    return (points[:, a] - points[:, b]).norm(dim=-1)


class ShapeLosses(nn.Module):
    """Posed, normalised shapes from (identity, expression, angles) and the losses between two of them.

    ``shape_model``: a :class:`latentreenact.shape3d.LinearShapeModel`; with ``dense=True`` (and a
    model loaded with ``dense=True``) the shape loss covers all vertices, else the 68 landmark vertices.
    """

    def __init__(self, shape_model: nn.Module, dense: bool = True) -> None:
        super().__init__()
        if dense and not getattr(shape_model, "dense", False):
            raise ValueError("dense shape loss needs a shape model loaded with dense=True")
        self.shape_model, self.dense = shape_model, dense
        mean = shape_model.lmk_mean
        self.register_buffer("scale", (mean - mean.mean(0)).square().sum(-1).mean().sqrt().detach().clone())
        self.shape_model.requires_grad_(False)

    def posed(self, identity: torch.Tensor, expression: torch.Tensor, angles: torch.Tensor,
              dense: bool) -> torch.Tensor:
        """Rotated vertices [B, V, 3] (dense) or landmarks [B, 68, 3], in units of the model scale."""
        verts = self.shape_model.vertices(identity, expression) if dense else self.shape_model(identity, expression)
        rot = rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2]).to(verts.dtype)
        return torch.einsum("bij,bvj->bvi", rot, verts) / self.scale

    def forward(self, pred: Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                target: Tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict:
        """``{"shape", "eye", "mouth"}`` per row [B] between (identity, expression, angles) triples."""
        lmk_p, lmk_t = self.posed(*pred, dense=False), self.posed(*target, dense=False)
        if self.dense:
            shape = (self.posed(*pred, dense=True) - self.posed(*target, dense=True)).abs().mean(dim=(1, 2))
        else:
            shape = (lmk_p - lmk_t).abs().mean(dim=(1, 2))
        eye = (pair_distances(lmk_p, EYE_PAIRS) - pair_distances(lmk_t, EYE_PAIRS)).abs().mean(1)
        mouth = (pair_distances(lmk_p, MOUTH_PAIRS) - pair_distances(lmk_t, MOUTH_PAIRS)).abs().mean(1)
        return {"shape": shape, "eye": eye, "mouth": mouth}
