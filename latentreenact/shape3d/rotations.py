"""Rotation matrices and the Euler angles of docs/architecture.md §6 (yaw, pitch, roll in degrees).

Convention. ``R`` is the rotation applied to model points (BFM frame: x towards the image's
right for a frontal face, y up, z towards the camera) before the weak-perspective projection
``u = t_x + s (R X)_x``, ``v = t_y - s (R X)_y`` into image pixels (image y points down; the
camera frame is the model frame: x right, y up, z towards the viewer). The angles are::

    yaw   = asin(R[2, 0])
    pitch = atan2(R[2, 1], R[2, 2])
    roll  = atan2(R[1, 0], R[0, 0])

which inverts ``R = Rz(roll) @ Ry(-yaw) @ Rx(pitch)`` (``Rx``/``Ry``/``Rz``: right-handed
rotations about the camera axes). Directions, for a face that starts frontal:

* positive yaw turns the face towards the image's left (the subject turns to their own right;
  the nose moves left in the image);
* positive pitch turns the face down (nose moves down in the image);
* positive roll turns the face counter-clockwise as seen in the image (the top of the head moves
  towards the image's left: the head tilts towards the subject's right shoulder).
"""

from __future__ import annotations

import torch

__all__ = ["euler_from_rotation", "rotation_from_euler", "rotation_x", "rotation_y", "rotation_z"]


def _axis_rotation(angle: torch.Tensor, axis: int) -> torch.Tensor:
    angle = torch.as_tensor(angle)
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == 0:
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == 1:
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    else:
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def rotation_x(angle: torch.Tensor) -> torch.Tensor:
    """Right-handed rotation about x by ``angle`` radians, ``[..., 3, 3]``."""
    return _axis_rotation(angle, 0)


def rotation_y(angle: torch.Tensor) -> torch.Tensor:
    """Right-handed rotation about y by ``angle`` radians, ``[..., 3, 3]``."""
    return _axis_rotation(angle, 1)


def rotation_z(angle: torch.Tensor) -> torch.Tensor:
    """Right-handed rotation about z by ``angle`` radians, ``[..., 3, 3]``."""
    return _axis_rotation(angle, 2)


def rotation_from_euler(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """``R = Rz(roll) Ry(-yaw) Rx(pitch)`` from angles in DEGREES (inverse of :func:`euler_from_rotation`)."""
    tensors = [a for a in (yaw, pitch, roll) if torch.is_tensor(a) and a.is_floating_point()]
    dtype = tensors[0].dtype if tensors else torch.get_default_dtype()
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    device = tensors[0].device if tensors else None
    yaw, pitch, roll = torch.broadcast_tensors(
        *(torch.deg2rad(torch.as_tensor(a, dtype=dtype, device=device)) for a in (yaw, pitch, roll)))
    return rotation_z(roll) @ rotation_y(-yaw) @ rotation_x(pitch)


def euler_from_rotation(rotation: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` (yaw, pitch, roll) in DEGREES from rotations ``[..., 3, 3]`` (docs/architecture.md §6 formulas)."""
    if rotation.shape[-2:] != (3, 3):
        raise ValueError(f"expected rotation matrices [..., 3, 3], got {tuple(rotation.shape)}")
    yaw = torch.asin(rotation[..., 2, 0].clamp(-1.0, 1.0))
    pitch = torch.atan2(rotation[..., 2, 1], rotation[..., 2, 2])
    roll = torch.atan2(rotation[..., 1, 0], rotation[..., 0, 0])
    return torch.rad2deg(torch.stack([yaw, pitch, roll], dim=-1))
