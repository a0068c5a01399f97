"""Linear blend skinning as in SMPL/FLAME (``lbs.py`` of smplx/DECA), differentiable.

``rodrigues`` is exact at zero rotation (series expansion below 1e-4 rad), unlike the common
``norm(v + 1e-8)`` form, so a zero pose reproduces the template exactly.
"""

from __future__ import annotations

import torch

__all__ = ["rodrigues", "blend_shapes", "rigid_transform", "lbs"]


def _skew(v: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack([torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1),
                        torch.stack([-y, x, zero], -1)], -2)


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle ``[..., 3]`` (radians) -> rotation matrices ``[..., 3, 3]``."""
    theta2 = axis_angle.square().sum(-1, keepdim=True)[..., None]  # [..., 1, 1]
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2_safe)
    k = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a * k + b * (k @ k)


def blend_shapes(coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """``[B, L]`` x ``[V, 3, L]`` -> per-vertex offsets ``[B, V, 3]``."""
    return torch.einsum("bl,vkl->bvk", coeffs, dirs)


def rigid_transform(rot_mats: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor):
    """Pose the kinematic chain: ``(posed joints [B, J, 3], relative transforms [B, J, 4, 4])``.

    The relative transform of joint j maps a rest-pose point to its posed position when the
    point moves rigidly with joint j (``A_j`` of SMPL).
    """
    batch, n_j = joints.shape[:2]
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = torch.cat([torch.cat([rot_mats, rel[..., None]], dim=3),
                       rot_mats.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(batch, n_j, 1, 4)], dim=2)
    chain = [local[:, 0]]
    for j in range(1, n_j):
        chain.append(chain[int(parents[j])] @ local[:, j])
    world = torch.stack(chain, dim=1)  # [B, J, 4, 4]
    posed_joints = world[:, :, :3, 3]
    offset = world[:, :, :3, :3] @ joints[..., None]  # R_world J_rest
    relative = torch.cat([world[:, :, :3, :3], world[:, :, :3, 3:] - offset], dim=3)
    relative = torch.cat([relative, world[:, :, 3:]], dim=2)
    return posed_joints, relative


def lbs(betas: torch.Tensor, pose: torch.Tensor, v_template: torch.Tensor, shapedirs: torch.Tensor,
        posedirs: torch.Tensor, j_regressor: torch.Tensor, parents: torch.Tensor,
        weights: torch.Tensor):
    """Skinned vertices ``[B, V, 3]`` and posed joints ``[B, J, 3]``.

    ``betas`` [B, L] with ``shapedirs`` [V, 3, L]; ``pose`` [B, J * 3] axis-angle per joint;
    ``posedirs`` [9 * (J - 1), V * 3] (pose-corrective blendshapes driven by ``R - I`` of the
    non-root joints); ``j_regressor`` [J, V]; ``parents`` [J] (root -1); ``weights`` [V, J].
    """
    batch = betas.shape[0]
    v_shaped = v_template + blend_shapes(betas, shapedirs)
    joints = torch.einsum("jv,bvk->bjk", j_regressor, v_shaped)
    rot_mats = rodrigues(pose.reshape(batch, -1, 3))
    eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
    pose_feature = (rot_mats[:, 1:] - eye).reshape(batch, -1)
    v_posed = v_shaped + (pose_feature @ posedirs).reshape(batch, -1, 3)
    posed_joints, relative = rigid_transform(rot_mats, joints, parents)
    transforms = torch.einsum("vj,bjrc->bvrc", weights, relative)  # [B, V, 4, 4]
    verts = (transforms[..., :3, :3] @ v_posed[..., None])[..., 0] + transforms[..., :3, 3]
    return verts, posed_joints
