"""ArcFace 5-point alignment (similarity transform onto the standard 112 px template).

Template (InsightFace / OpenCV ``FaceRecognizerSF``), image-left first: left eye, right eye,
nose tip, left mouth corner, right mouth corner, in 112 x 112 pixel-index coordinates; for
other sizes it is scaled by size / 112. Both a numpy/PIL path (uint8 images) and a torch path
(differentiable in the image and the points, via ``affine_grid``-style sampling with
``grid_sample``) are given; outside the image is black, as with OpenCV's ``warpAffine``.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

from ..faces.image_input import as_rgb_uint8
from ..faces.quad_crop import AlignedCrop
from ..faces.warp import warp_affine

ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def template(size: int = 112) -> np.ndarray:
    """The 5-point template for a ``size`` px crop (float32 [5, 2])."""
    return (ARCFACE_TEMPLATE * (size / 112.0)).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) src -> dst, 3x3 (Umeyama)."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"expected two point sets [N, 2] of the same shape, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    scale = np.trace(np.diag(sig) @ e) / s.var(0).sum()
    t = np.eye(3)
    t[:2, :2] = scale * r
    t[:2, 2] = mu_d - scale * r @ mu_s
    return t


def similarity_transform_torch(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Batched, differentiable Umeyama similarity src [B, N, 2] -> dst [N, 2] or [B, N, 2]; [B, 3, 3]."""
    dst = dst.expand_as(src).to(src)
    mu_s, mu_d = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    s, d = src - mu_s, dst - mu_d
    # Closed form for 2-D: with a = sum(s.d), b = sum(s x d), R = rot(atan2(b, a)), scale = hypot(a, b) / sum|s|^2
    a = (s * d).sum((1, 2))
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(1)
    norm = torch.sqrt(a * a + b * b).clamp_min(1e-12)
    scale = norm / s.square().sum((1, 2)).clamp_min(1e-12)
    cos, sin = a / norm * scale, b / norm * scale
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    trans = mu_d[:, 0] - (rot @ mu_s[:, 0, :, None])[..., 0]
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=src.dtype, device=src.device).expand(src.shape[0], 1, 3)
    return torch.cat([torch.cat([rot, trans[..., None]], -1), bottom], 1)


def arcface_align_numpy(image: np.ndarray, five_points: np.ndarray, size: int = 112) -> "AlignedCrop":
    """uint8 RGB image + 5 points -> (uint8 [size, size, 3] crop, 3x3 crop->image transform); bilinear."""
    rgb = as_rgb_uint8(image)
    crop_to_image = np.linalg.inv(similarity_transform(np.asarray(five_points).reshape(5, 2), template(size)))
    crop = warp_affine(rgb, crop_to_image, (size, size))
    return AlignedCrop(np.ascontiguousarray(crop), crop_to_image)


def arcface_align_torch(images: torch.Tensor, five_points: torch.Tensor, size: int = 112,
                        padding_mode: str = "zeros") -> torch.Tensor:
    """Differentiable alignment of images [B, C, H, W] with points [B, 5, 2] (pixels) -> [B, C, size, size]."""
    if images.ndim != 4 or five_points.shape[-2:] != (5, 2):
        raise ValueError(f"expected images [B, C, H, W] and points [B, 5, 2], got {tuple(images.shape)}, "
                         f"{tuple(five_points.shape)}")
    b, _, h, w = images.shape
    pts = five_points.to(images).reshape(b, 5, 2)
    dst = torch.from_numpy(template(size)).to(images)
    inverse = torch.linalg.inv(similarity_transform_torch(pts, dst))  # crop pixel -> image pixel
    idx = torch.arange(size, dtype=images.dtype, device=images.device)
    vv, uu = torch.meshgrid(idx, idx, indexing="ij")
    grid_in = torch.stack([uu, vv, torch.ones_like(uu)], -1).reshape(1, -1, 3)
    src = grid_in @ inverse[:, :2].transpose(1, 2)  # [B, size*size, 2] image pixels
    norm = torch.tensor([w, h], dtype=images.dtype, device=images.device)
    grid = ((2 * src + 1) / norm - 1).reshape(b, size, size, 2)
    if padding_mode == "zeros":  # black outside the image: -1 in [-1, 1] images (as the numpy path)
        return F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def arcface_align(image: Union[np.ndarray, torch.Tensor], five_points: Union[np.ndarray, torch.Tensor],
                  size: int = 112) -> Union["AlignedCrop", torch.Tensor]:
    """ArcFace alignment: numpy uint8 HWC -> ``AlignedCrop``; torch [B, C, H, W] -> aligned tensor."""
    if torch.is_tensor(image):
        pts = five_points if torch.is_tensor(five_points) else torch.as_tensor(np.asarray(five_points))
        return arcface_align_torch(image, pts.reshape(image.shape[0], 5, 2), size)
    return arcface_align_numpy(image, np.asarray(five_points), size)
