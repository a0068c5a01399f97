"""DECA's face crop: a square around the landmarks, scaled to the 224 px encoder input.

As DECA's ``TestData``: from 68 landmarks, ``old_size = (w + h) / 2 * 1.1`` of their bounding box
and the box centre; from a detector box, ``old_size = (w + h) / 2`` and the centre moved down by
``0.12 * old_size``. The crop side is ``int(old_size * 1.25)``; the similarity transform maps the
square's corners to pixels 0 and 223 (pixel centres at integers), and the image is sampled
bilinearly with black outside (skimage ``warp``). Transforms are 3x3 matrices mapping
original-image pixels to crop pixels; their inverse maps predictions back.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["CROP_SCALE", "crop_from_landmarks", "crop_from_boxes", "crop_full_image", "apply_transform", "warp_to_crop",
           "normalized_to_crop_pixels"]

CROP_SCALE = 1.25
INPUT_SIZE = 224


def _square_transform(centre: torch.Tensor, side: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 3, 3] mapping the square (centre [B, 2], side [B]) onto pixels 0..size-1."""
    scale = (size - 1) / side
    origin = centre - side[:, None] / 2
    t = torch.zeros(centre.shape[0], 3, 3, dtype=torch.float64, device=centre.device)
    t[:, 0, 0] = scale
    t[:, 1, 1] = scale
    t[:, :2, 2] = -scale[:, None] * origin
    t[:, 2, 2] = 1
    return t


def crop_from_landmarks(landmarks: torch.Tensor, size: int = INPUT_SIZE, scale: float = CROP_SCALE) -> torch.Tensor:
    """DECA's crop from 68 landmarks [B, 68, 2] (pixels): transforms [B, 3, 3] (float64)."""
    points = torch.as_tensor(landmarks).detach().to(torch.float64)
    if points.ndim != 3 or points.shape[2] != 2:
        raise ValueError(f"landmarks must be [B, N, 2], got {tuple(points.shape)}")
    lo, hi = points.min(dim=1).values, points.max(dim=1).values
    old_size = ((hi - lo).sum(dim=1)) / 2 * 1.1
    side = torch.floor(old_size * scale)  # DECA: int(old_size * scale)
    if not bool((side > 0).all()):
        raise ValueError("landmarks span no area: cannot place a crop")
    return _square_transform((lo + hi) / 2, side, size)


def crop_from_boxes(boxes: Sequence[Sequence[float]], size: int = INPUT_SIZE,
                    scale: float = CROP_SCALE) -> torch.Tensor:
    """DECA's crop from detector boxes (x0, y0, x1, y1) [B, 4]: transforms [B, 3, 3] (float64)."""
    b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    old_size = ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 2
    centre = torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2 + old_size * 0.12], dim=1)
    side = torch.floor(old_size * scale)
    if not bool((side > 0).all()):
        raise ValueError("a face box has no area: cannot place a crop")
    return _square_transform(centre, side, size)


def crop_full_image(height: int, width: int, size: int = INPUT_SIZE) -> torch.Tensor:
    """[1, 3, 3] transform of a whole image (the centred square of side ``max(h, w)``, black-padded)."""
    centre = torch.tensor([[(width - 1) / 2, (height - 1) / 2]], dtype=torch.float64)
    return _square_transform(centre, torch.tensor([float(max(height, width, 2) - 1)], dtype=torch.float64), size)


def apply_transform(transform: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply [B, 3, 3] transforms to points [B, N, 2] (differentiable in the points)."""
    t = transform.to(points.dtype)
    return points @ t[:, :2, :2].transpose(1, 2) + t[:, None, :2, 2]


def normalized_to_crop_pixels(points: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """DECA's [-1, 1] image coordinates -> crop pixels: ``(p + 1) * size / 2``."""
    return (points + 1) * (size / 2)


def warp_to_crop(images: torch.Tensor, transform: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Sample crops [B, C, size, size] from images [B, C, H, W] (bilinear, zeros outside; differentiable)."""
    batch, _, height, width = images.shape
    inverse = torch.linalg.inv(transform.to(torch.float64))  # crop px -> image px
    coords = torch.arange(size, dtype=torch.float64, device=images.device)
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    grid = torch.stack([u, v], dim=-1).reshape(1, -1, 2).expand(batch, -1, -1)
    src = apply_transform(inverse.to(images.device), grid)  # [B, size*size, 2]
    norm = src.new_tensor([max(width - 1, 1), max(height - 1, 1)])
    grid = (src / norm * 2 - 1).reshape(batch, size, size, 2).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
