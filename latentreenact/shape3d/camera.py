"""Weak-perspective (scaled orthographic) projection into image pixels, image y pointing down."""

from __future__ import annotations

import torch

__all__ = ["project", "to_image", "from_image"]


def to_image(points_yup: torch.Tensor) -> torch.Tensor:
    """Flip 2D points from a y-up frame to image coordinates (y down): ``(x, y) -> (x, -y)``."""
    return points_yup * points_yup.new_tensor([1.0, -1.0])


from_image = to_image  # the flip is its own inverse


def project(points: torch.Tensor, rotation: torch.Tensor, scale: torch.Tensor,
            translation: torch.Tensor) -> torch.Tensor:
    """Image pixels ``[B, N, 2]`` of model points ``[B, N, 3]``.

    ``u = t_x + s (R X)_x``, ``v = t_y - s (R X)_y``; ``rotation`` [B, 3, 3], ``scale`` [B]
    (pixels per model unit), ``translation`` [B, 2] (pixels, image frame).
    """
    camera = points @ rotation[:, :2, :].transpose(1, 2)  # [B, N, 2], y up
    return to_image(camera * scale[:, None, None]) + translation[:, None, :]
