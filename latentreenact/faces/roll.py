"""Head roll as an in-plane rotation of an aligned face crop.

Roll is a rotation about the viewing axis, so a rolled head is the unrolled head's image rotated in the
image plane. An FFHQ-aligned generator draws every face with level eyes, so its latent space hardly rolls
the head (docs/driving.md); the reenactor therefore applies the driving roll here, after rendering: the
face region of the crop (a soft ellipse, :func:`soft_mask`) is rotated about the crop's centre and the
corners keep the unrotated render (the background does not roll with the head), for faces pasted back into a
photo; face-only output rotates the whole crop, since on a strong roll the ellipse's edge shows as a seam
across the jaw and hair (docs/driving.md).

Sign: positive degrees raise the roll of docs/architecture.md §6 measured in the output, the convention in
which the reenactor measures roll in the frame (``FaceMeter.frame_roll``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .paste_back import soft_mask

#: width of the ellipse's soft edge, as a fraction of the crop size
ROLL_FEATHER = 0.15
#: what :func:`roll_faces` rotates: the face's ellipse (blended into the still crop) or the whole crop
ROLL_REGIONS = ("face", "crop")


@functools.lru_cache(maxsize=8)
def _face_mask(size: int, feather: float) -> np.ndarray:
    """The ellipse mask of :func:`soft_mask`, computed once per size (read-only)."""
    mask = soft_mask(size, "ellipse", feather)
    mask.setflags(write=False)
    return mask


def roll_matrix(degrees: torch.Tensor) -> torch.Tensor:
    """[B, 2, 3] sampling matrices in normalised coordinates (x right, y down; ``F.affine_grid``'s):
    output pixel x samples the input at R(degrees) x, which shows the face rotated by -degrees in the
    image's (x, y) axes and so raises its roll by ``degrees``."""
    radians = degrees.double() * (math.pi / 180.0)
    cos, sin, zero = torch.cos(radians), torch.sin(radians), torch.zeros_like(radians)
    return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)


def roll_faces(images: torch.Tensor, degrees: torch.Tensor, feather: float = ROLL_FEATHER,
               region: str = "face") -> torch.Tensor:
    """Roll the faces of aligned square crops ``images`` [B, C, S, S] by ``degrees`` [B] (or a scalar), rotated
    about the crop's centre (bilinear, edge pixels repeated). ``region``: ``"face"`` blends the rotated ellipse of
    the face into the unrotated crop (the corners keep the background still: for pasting back into a photo);
    ``"crop"`` rotates the whole crop (no seam where the ellipse meets the hair and neck on a strong roll, the
    corners filled from the crop's edge: for face-only output). Differentiable; rows with 0 degrees are returned
    unchanged."""
    if region not in ROLL_REGIONS:
        raise ValueError(f"unknown roll region {region!r}; choose from {', '.join(ROLL_REGIONS)}")
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"expected square images [B, C, S, S], got {tuple(images.shape)}")
    degrees = torch.as_tensor(degrees, dtype=torch.float64).flatten().cpu()
    if degrees.numel() == 1:
        degrees = degrees.expand(images.shape[0])
    if degrees.numel() != images.shape[0]:
        raise ValueError(f"expected one angle per image ({images.shape[0]}), got {degrees.numel()}")
    if not torch.isfinite(degrees).all():
        raise ValueError("roll angles must be finite (not NaN or Inf)")
    moving = degrees != 0
    if not bool(moving.any()):
        return images
    size = images.shape[-1]
    subset = images[moving]
    theta = roll_matrix(degrees[moving]).to(device=images.device, dtype=subset.dtype)
    grid = F.affine_grid(theta, list(subset.shape), align_corners=False)
    rotated = F.grid_sample(subset, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if region == "crop":
        blended = rotated
    else:
        mask = torch.tensor(_face_mask(size, float(feather)), device=images.device, dtype=subset.dtype)
        blended = subset + mask * (rotated - subset)
    out = images.clone()
    out[moving] = blended
    return out
