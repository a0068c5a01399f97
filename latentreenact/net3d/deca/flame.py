"""The FLAME head model (as used by DECA): shape/expression blendshapes, LBS with 5 joints
(global, neck, jaw, left eye, right eye), and the 68 landmarks of DECA's ``full_lmk`` embedding.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ...checkpoints.errors import CheckpointFormatError
from .flame_files import FlameData, read_flame_model, read_landmark_embedding
from .lbs import lbs

__all__ = ["FLAME", "vertices_to_landmarks"]

PathLike = Union[str, "os.PathLike[str]"]
N_JOINTS = 5  # global, neck, jaw, eyes


def vertices_to_landmarks(vertices: torch.Tensor, faces: torch.Tensor, face_idx: torch.Tensor,
                          bary: torch.Tensor) -> torch.Tensor:
    """Barycentric points on mesh faces: vertices [B, V, 3], faces [F, 3], idx [L], bary [L, 3] -> [B, L, 3]."""
    corners = vertices[:, faces[face_idx]]  # [B, L, 3, 3] (corner, xyz)
    return torch.einsum("blcx,lc->blx", corners, bary.to(vertices.dtype))


class FLAME(nn.Module):
    """FLAME forward: ``(shape [B, n_shape], expression [B, n_exp], pose [B, 6]) -> vertices, landmarks``.

    ``pose`` is DECA's [global axis-angle, jaw axis-angle] (radians); neck and eyes are zero
    unless given. ``shape_basis``: index where the expression directions start in
    ``shapedirs`` (FLAME: 300 shape + 100 expression). All arrays are buffers of ``dtype``.
    """

    def __init__(self, data: FlameData, landmarks: Dict[str, np.ndarray], n_shape: int = 100,
                 n_exp: int = 50, shape_basis: int = 300, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        total = data.shapedirs.shape[2]
        if data.J_regressor.shape[0] != N_JOINTS:
            raise CheckpointFormatError(f"FLAME has {N_JOINTS} joints; the model file has {data.J_regressor.shape[0]}")
        if n_shape > shape_basis or shape_basis + n_exp > total:
            raise CheckpointFormatError(f"the FLAME file has {total} blendshapes ({shape_basis} shape + "
                                        f"{total - shape_basis} expression); {n_shape} shape and {n_exp} "
                                        "expression coefficients were asked for")
        self.n_shape, self.n_exp = n_shape, n_exp
        f32 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
        dirs = np.concatenate([data.shapedirs[:, :, :n_shape],
                               data.shapedirs[:, :, shape_basis:shape_basis + n_exp]], 2)
        self.register_buffer("v_template", f32(data.v_template))
        self.register_buffer("shapedirs", f32(dirs))
        self.register_buffer("posedirs", f32(data.posedirs.reshape(-1, data.posedirs.shape[2]).T))
        self.register_buffer("j_regressor", f32(data.J_regressor))
        self.register_buffer("lbs_weights", f32(data.weights))
        self.register_buffer("parents", torch.as_tensor(data.parents, dtype=torch.long))
        self.register_buffer("faces", torch.as_tensor(data.faces, dtype=torch.long))
        idx = torch.as_tensor(landmarks["full_lmk_faces_idx"], dtype=torch.long)
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.faces.shape[0]):
            raise CheckpointFormatError(f"landmark embedding names faces beyond the model's {self.faces.shape[0]}")
        self.register_buffer("lmk_faces_idx", idx)
        self.register_buffer("lmk_bary_coords", f32(landmarks["full_lmk_bary_coords"]))

    @classmethod
    def load(cls, model_path: PathLike, landmark_path: PathLike, n_shape: int = 100, n_exp: int = 50,
             shape_basis: int = 300, dtype: torch.dtype = torch.float32) -> "FLAME":
        """Read ``generic_model.pkl`` and ``landmark_embedding.npy`` (safely; chumpy is not needed)."""
        return cls(read_flame_model(model_path), read_landmark_embedding(landmark_path), n_shape, n_exp,
                   shape_basis, dtype)

    @property
    def num_vertices(self) -> int:
        """V (5023 for FLAME)."""
        return int(self.v_template.shape[0])

    def forward(self, shape: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor,
                neck_pose: Optional[torch.Tensor] = None,
                eye_pose: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(vertices [B, V, 3], landmarks3d [B, 68, 3], joints [B, 5, 3])`` in FLAME's frame."""
        batch = shape.shape[0]
        if shape.shape != (batch, self.n_shape) or expression.shape != (batch, self.n_exp) or pose.shape != (batch, 6):
            raise ValueError(f"expected shape [B, {self.n_shape}], expression [B, {self.n_exp}], pose [B, 6]; got "
                             f"{tuple(shape.shape)}, {tuple(expression.shape)}, {tuple(pose.shape)}")
        dtype = self.v_template.dtype
        zeros = pose.new_zeros(batch, 3).to(dtype)
        neck = zeros if neck_pose is None else neck_pose.to(dtype)
        eyes = pose.new_zeros(batch, 6).to(dtype) if eye_pose is None else eye_pose.to(dtype)
        pose = pose.to(dtype)
        full_pose = torch.cat([pose[:, :3], neck, pose[:, 3:], eyes], dim=1)
        betas = torch.cat([shape, expression], dim=1).to(dtype)
        vertices, joints = lbs(betas, full_pose, self.v_template, self.shapedirs, self.posedirs,
                               self.j_regressor, self.parents, self.lbs_weights)
        landmarks = vertices_to_landmarks(vertices, self.faces, self.lmk_faces_idx, self.lmk_bary_coords)
        return vertices, landmarks, joints
