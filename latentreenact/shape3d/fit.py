"""Batched fit of the linear shape model to 68 2D landmarks: weak-perspective pose + id/exp.

Alternates, vectorised over the batch:

(a) pose from the current 3D landmarks: an affine camera by least squares, projected to the
    nearest scaled rotation (first iteration), then a few scaled-Procrustes steps in which the
    2D targets are completed with the current depths (each step cannot increase the 2D error);
(b) identity and expression by Tikhonov-regularised linear least squares in whitened
    coordinates ``z = (c - prior_mean) / prior_std`` (``param_whitening.pkl``), i.e. the MAP
    estimate under the Gaussian prior with landmark noise ``noise`` (relative to the face size);

then polishes the same MAP objective jointly over (rotation, scale, translation, z) with a few
Levenberg-Marquardt steps (per-face damping and step acceptance), because plain alternation
converges slowly along the pose/shape valley (pitch errors of several degrees otherwise).

Rotation and angle conventions: :mod:`latentreenact.shape3d.rotations`. Not differentiable
(use it to label data); about 10 ms for one face and 90-100 ms for a batch of 64 on one CPU core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch

from .bfm import LinearShapeModel
from .camera import from_image, project
from .rotations import euler_from_rotation

__all__ = ["LandmarkFit", "LandmarkFitter", "RIGID_LANDMARKS", "fit_landmarks", "check_landmarks"]

#: the nose (27-35) and eye (36-47) landmarks: they move with the head, hardly with the expression
RIGID_LANDMARKS = tuple(range(27, 48))

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


@dataclass
class LandmarkFit:
    """Result of a landmark fit for B faces (float32 tensors on the fitter's device).

    ``yaw``/``pitch``/``roll`` [B]: degrees (docs/architecture.md §6 formulas applied to ``rotation``);
    ``rotation`` [B, 3, 3]: applied to model points before projection (model/camera frame y up);
    ``scale`` [B]: pixels per BFM unit; ``translation`` [B, 2]: image pixels (see
    :func:`~latentreenact.shape3d.camera.project`); ``identity`` [B, 40], ``expression`` [B, 10]:
    coefficients in model units; ``landmarks`` [B, 68, 2]: the fitted landmarks in image pixels;
    ``error`` [B]: mean distance in pixels between fitted and given landmarks.
    """

    yaw: torch.Tensor
    pitch: torch.Tensor
    roll: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor
    translation: torch.Tensor
    identity: torch.Tensor
    expression: torch.Tensor
    landmarks: torch.Tensor
    error: torch.Tensor

    def __len__(self) -> int:
        return int(self.yaw.shape[0])

    @property
    def angles(self) -> torch.Tensor:
        """``[B, 3]`` (yaw, pitch, roll) in degrees."""
        return torch.stack([self.yaw, self.pitch, self.roll], dim=1)

    def item(self, index: int) -> dict:
        """Face ``index`` as plain Python numbers and lists (JSON-ready)."""
        return {
            "yaw": float(self.yaw[index]), "pitch": float(self.pitch[index]), "roll": float(self.roll[index]),
            "expression": self.expression[index].tolist(), "identity": self.identity[index].tolist(),
            "scale": float(self.scale[index]), "translation": self.translation[index].tolist(),
            "rotation": self.rotation[index].tolist(), "fit_error_px": float(self.error[index]),
        }


def check_landmarks(landmarks: ArrayLike, num_points: int = 68) -> torch.Tensor:
    """Validate landmarks ``[68, 2]`` or ``[B, 68, 2]`` (pixels) and return them as float64 ``[B, 68, 2]``.

    Raises ValueError for a wrong shape, NaN/inf values or degenerate (coincident or collinear)
    point sets, naming the offending faces.
    """
    points = torch.as_tensor(np.asarray(landmarks) if not torch.is_tensor(landmarks) else landmarks)
    points = points.detach().to(torch.float64)
    if points.dim() == 2:
        points = points[None]
    if points.dim() != 3 or points.shape[1:] != (num_points, 2):
        raise ValueError(f"landmarks must be [{num_points}, 2] or [B, {num_points}, 2] (x, y pixels), "
                         f"got {tuple(points.shape)}")
    if points.shape[0] == 0:
        raise ValueError("no landmarks given (batch of 0 faces)")
    bad = (~torch.isfinite(points)).flatten(1).any(dim=1)
    if bad.any():
        raise ValueError(f"landmarks of face(s) {_indices(bad)} contain NaN or infinite values")
    centred = points - points.mean(dim=1, keepdim=True)
    eig = torch.linalg.eigvalsh(centred.transpose(1, 2) @ centred / num_points)  # ascending
    spread = eig[:, 1].sqrt()
    flat = (spread < 1e-6) | (eig[:, 0] < 1e-4 * eig[:, 1])
    if flat.any():
        raise ValueError(f"landmarks of face(s) {_indices(flat)} are degenerate (coincident or collinear "
                         "points): a face's 68 landmarks must span an area")
    return points


def _indices(mask: torch.Tensor) -> str:
    idx = torch.nonzero(mask).flatten().tolist()
    return ", ".join(map(str, idx[:10])) + (" ..." if len(idx) > 10 else "")


class LandmarkFitter:
    """Fits :class:`LinearShapeModel` to 2D landmarks; see the module docstring for the method.

    ``iterations``: pose/shape alternations; ``pose_steps``: Procrustes refinements per pose
    update; ``refine_steps``: joint Levenberg-Marquardt steps at the end (0: none); ``noise``: assumed landmark noise (std per coordinate) as a fraction of the mean
    face's RMS landmark radius, which sets the regularisation ``noise**2`` on the whitened
    coefficients (smaller: follow the landmarks more closely, larger: stay nearer the prior mean).
    """

    def __init__(self, model: Optional[LinearShapeModel] = None, iterations: int = 3,
                 pose_steps: int = 3, refine_steps: int = 10, noise: float = 0.02) -> None:
        if iterations < 1 or pose_steps < 0 or refine_steps < 0 or not noise > 0:
            raise ValueError("iterations must be >= 1, pose_steps and refine_steps >= 0, noise > 0")
        self.refine_steps = refine_steps
        self.model = model if model is not None else LinearShapeModel.load()
        self.iterations = iterations
        self.pose_steps = pose_steps
        self.noise = float(noise)
        m = self.model
        dtype = torch.float64
        self._mean = m.lmk_mean.to(dtype)                                            # [68, 3]
        self._basis = torch.cat([m.lmk_id_basis, m.lmk_exp_basis], dim=2).to(dtype)  # [68, 3, 50]
        self._prior_mean = torch.cat([m.id_mean, m.exp_mean]).to(dtype)
        self._prior_std = torch.cat([m.id_std, m.exp_std]).to(dtype)
        self._prior_shape = self._mean + torch.einsum("vkc,c->vk", self._basis, self._prior_mean)
        self._white_basis = (self._basis - self._basis.mean(dim=0)) * self._prior_std  # centred, whitened
        centred = self._mean - self._mean.mean(dim=0)
        self._unit = float(centred.square().sum(dim=1).mean().sqrt())  # RMS radius, BFM units

    @property
    def device(self) -> torch.device:
        """Device of the shape model (and of the results)."""
        return self._mean.device

    def __call__(self, landmarks: ArrayLike) -> LandmarkFit:
        return self.fit(landmarks)

    def fit(self, landmarks: ArrayLike) -> LandmarkFit:
        """Fit landmarks ``[68, 2]`` or ``[B, 68, 2]`` (x, y image pixels, y down)."""
        target_img = check_landmarks(landmarks).to(self.device)
        target = from_image(target_img)  # y up
        batch = target.shape[0]
        z = target.new_zeros(batch, self._prior_mean.shape[0])
        points = self._shape(z)
        rotation, scale = self._pose_init(points, target)
        for _ in range(self.iterations):
            rotation, scale = self._pose_refine(points, target, rotation, scale)
            z = self._solve_coefficients(target, rotation, scale)
            points = self._shape(z)
        rotation, scale = self._pose_refine(points, target, rotation, scale)
        translation = self._translation(points, target, rotation, scale)
        if self.refine_steps:
            rotation, scale, translation, z = self._refine(target, rotation, scale, translation, z)
        return self._result(target_img, rotation, scale, translation, z)

    def _result(self, target_img: torch.Tensor, rotation: torch.Tensor, scale: torch.Tensor,
                translation: torch.Tensor, z: torch.Tensor) -> LandmarkFit:
        """The :class:`LandmarkFit` of a pose and whitened coefficients (``ValueError`` for a failed face)."""
        ok = torch.isfinite(scale) & (scale > 0) & torch.isfinite(z).all(dim=1)
        if not ok.all():
            raise ValueError(f"the landmark fit failed for face(s) {_indices(~ok)}")
        # translation in the image frame: u = tx + s x', v = ty - s y'  with (tx, -ty) the y-up offset
        translation_img = translation * translation.new_tensor([1.0, -1.0])
        fitted = project(self._shape(z), rotation, scale, translation_img)
        error = (fitted - target_img).norm(dim=2).mean(dim=1)
        coeffs = self._prior_mean + z * self._prior_std
        angles = euler_from_rotation(rotation)
        n_id = self.model.num_id
        f32 = lambda t: t.to(torch.float32)  # noqa: E731
        return LandmarkFit(
            yaw=f32(angles[:, 0]), pitch=f32(angles[:, 1]), roll=f32(angles[:, 2]),
            rotation=f32(rotation), scale=f32(scale), translation=f32(translation_img),
            identity=f32(coeffs[:, :n_id]), expression=f32(coeffs[:, n_id:]),
            landmarks=f32(fitted), error=f32(error))

    def fit_rigid(self, landmarks: ArrayLike, indices: Sequence[int] = RIGID_LANDMARKS) -> LandmarkFit:
        """Like :meth:`fit`, but the pose comes from :meth:`fit_rigid_pose` and is held there while the
        identity and expression coefficients are solved: an opening jaw cannot turn into head pitch."""
        target_img = check_landmarks(landmarks).to(self.device)
        target = from_image(target_img)
        rotation, scale = self._rigid_rotation(target_img, indices)
        z = self._solve_coefficients(target, rotation, scale)
        translation = self._translation(self._shape(z), target, rotation, scale)
        return self._result(target_img, rotation, scale, translation, z)

    def _rigid_rotation(self, landmarks: torch.Tensor, indices: Sequence[int], steps: int = 8):
        index = torch.as_tensor(list(indices), dtype=torch.long)
        if index.numel() < 4 or int(index.min()) < 0 or int(index.max()) > 67:
            raise ValueError("indices must name at least 4 of the 68 landmarks")
        target = from_image(landmarks)[:, index]
        points = self._mean[index].expand(target.shape[0], -1, -1)
        rotation, scale = self._pose_init(points, target)
        for _ in range(steps):
            rotation, scale = self._pose_refine(points, target, rotation, scale)
        return rotation, scale

    def fit_rigid_pose(self, landmarks: ArrayLike, indices: Sequence[int] = RIGID_LANDMARKS,
                       steps: int = 8) -> torch.Tensor:
        """Head rotation from the landmarks that do not move with the expression: (yaw, pitch, roll)
        in degrees, ``[B, 3]``, of the mean face (no identity or expression coefficients) fitted to
        ``indices`` of ``landmarks`` ``[B, 68, 2]`` by weak-perspective scaled Procrustes.

        The joint fit (:meth:`fit`) lets expression coefficients absorb head pitch (an opening jaw
        and a downward pitch move the lower landmarks alike); this fit cannot, at the cost of a
        pitch that is compressed on real faces (docs/driving.md)."""
        rotation, _ = self._rigid_rotation(check_landmarks(landmarks).to(self.device), indices, steps)
        return euler_from_rotation(rotation).to(torch.float32)

    # ------------------------------------------------------------------ steps

    def _shape(self, z: torch.Tensor) -> torch.Tensor:
        coeffs = self._prior_mean + z * self._prior_std
        return self._mean + torch.einsum("vkc,bc->bvk", self._basis, coeffs)

    @staticmethod
    def _pose_init(points: torch.Tensor, target: torch.Tensor):
        """Least-squares affine camera, projected to the nearest scaled rotation."""
        xc = points - points.mean(dim=1, keepdim=True)
        qc = target - target.mean(dim=1, keepdim=True)
        affine_t = torch.linalg.solve(xc.transpose(1, 2) @ xc, xc.transpose(1, 2) @ qc)  # [B, 3, 2]
        u, sing, vh = torch.linalg.svd(affine_t.transpose(1, 2), full_matrices=False)  # [B,2,2],[B,2],[B,2,3]
        rows = u @ vh
        r3 = torch.linalg.cross(rows[:, 0], rows[:, 1])
        rotation = torch.cat([rows, r3[:, None]], dim=1)
        return rotation, sing.mean(dim=1)

    def _pose_refine(self, points: torch.Tensor, target: torch.Tensor, rotation: torch.Tensor,
                     scale: torch.Tensor):
        """Scaled Procrustes with the 2D targets completed by the current depths."""
        xc = points - points.mean(dim=1, keepdim=True)
        qc = target - target.mean(dim=1, keepdim=True)
        norm2 = xc.square().sum(dim=(1, 2))
        for _ in range(self.pose_steps):
            depth = scale[:, None] * (xc @ rotation[:, 2, :, None])[..., 0]
            y = torch.cat([qc, depth[..., None]], dim=2)  # [B, N, 3]
            u, sing, vh = torch.linalg.svd(xc.transpose(1, 2) @ y)  # H = X^T Y
            d = torch.ones_like(sing)
            d[:, 2] = torch.sign(torch.linalg.det(u @ vh))
            rotation = (u * d[:, None, :] @ vh).transpose(1, 2)
            scale = (sing * d).sum(dim=1) / norm2
        return rotation, scale

    @staticmethod
    def _translation(points: torch.Tensor, target: torch.Tensor, rotation: torch.Tensor,
                     scale: torch.Tensor) -> torch.Tensor:
        proj = torch.einsum("bk,bjk->bj", points.mean(dim=1), rotation[:, :2, :])
        return target.mean(dim=1) - scale[:, None] * proj

    def _energy(self, target, rotation, scale, translation, z, norm2):
        """Normalised MAP objective per face and the y-up residuals ``[B, 68, 2]``."""
        points = self._shape(z)
        resid = scale[:, None, None] * points @ rotation[:, :2, :].transpose(1, 2) + translation[:, None] - target
        return resid.square().sum(dim=(1, 2)) / norm2 + self.noise ** 2 * z.square().sum(dim=1), resid

    def _refine(self, target, rotation, scale, translation, z):
        """Joint Levenberg-Marquardt on (rotation, scale, translation, z), vectorised over the batch."""
        batch, n_z = z.shape
        norm2 = (scale * self._unit).square()  # fixed normalisation (pixels -> face units)
        lam = self.noise ** 2
        energy, resid = self._energy(target, rotation, scale, translation, z, norm2)
        damping = torch.full_like(scale, 1e-3)
        prior = torch.zeros(6 + n_z, dtype=z.dtype, device=z.device)
        prior[6:] = lam
        white = self._basis * self._prior_std  # [68, 3, 50]
        for _ in range(self.refine_steps):
            points = self._shape(z)
            r2 = rotation[:, :2, :]  # [B, 2, 3]
            j_rot = -scale[:, None, None, None] * torch.einsum("bjk,bvkl->bvjl", r2, _skew(points))
            j_scale = torch.einsum("bjk,bvk->bvj", r2, points)[..., None]
            j_trans = torch.eye(2, dtype=z.dtype, device=z.device).expand(batch, points.shape[1], 2, 2)
            j_z = scale[:, None, None, None] * torch.einsum("bjk,vkc->bvjc", r2, white)
            jac = torch.cat([j_rot, j_scale, j_trans, j_z], dim=3).flatten(1, 2)  # pixels
            jac_t = jac.transpose(1, 2)
            jtj = (jac_t @ jac) / norm2[:, None, None] + torch.diag(prior)
            grad = (jac_t @ resid.flatten(1)[..., None])[..., 0] / norm2[:, None]
            grad[:, 6:] += lam * z
            diag = torch.diagonal(jtj, dim1=1, dim2=2)
            step = -torch.linalg.solve(jtj + torch.diag_embed(damping[:, None] * diag), grad[..., None])[..., 0]
            new_rot = rotation @ torch.linalg.matrix_exp(_skew(step[:, :3]))
            new_scale = scale + step[:, 3]
            new_trans = translation + step[:, 4:6]
            new_z = z + step[:, 6:]
            new_energy, new_resid = self._energy(target, new_rot, new_scale, new_trans, new_z, norm2)
            old_energy = energy
            better = torch.isfinite(new_energy) & (new_energy <= energy) & (new_scale > 0)
            pick = lambda new, old: torch.where(better.view(-1, *([1] * (new.dim() - 1))), new, old)  # noqa: E731
            rotation, scale, translation = pick(new_rot, rotation), pick(new_scale, scale), pick(new_trans, translation)
            z, energy, resid = pick(new_z, z), pick(new_energy, energy), pick(new_resid, resid)
            gain = (old_energy - energy) / old_energy.clamp_min(1e-300)
            damping = torch.where(better, damping * 0.3, damping * 10.0).clamp(1e-9, 1e9)
            if bool((gain.abs() < 1e-10).all()) and bool(better.all()):
                break  # every face converged
        return rotation, scale, translation, z

    def _solve_coefficients(self, target: torch.Tensor, rotation: torch.Tensor,
                            scale: torch.Tensor) -> torch.Tensor:
        """MAP whitened coefficients given the pose (Tikhonov-regularised least squares)."""
        proj = scale[:, None, None] * rotation[:, :2, :]  # [B, 2, 3]
        # residual left by the prior-mean shape; centring both sides eliminates the translation
        b = target - torch.einsum("bjk,vk->bvj", proj, self._prior_shape)
        b = b - b.mean(dim=1, keepdim=True)
        a = torch.einsum("bjk,vkc->bvjc", proj, self._white_basis)  # [B, 68, 2, 50]
        norm = (scale * self._unit)[:, None, None]
        a = a.flatten(1, 2) / norm
        b = b.flatten(1) / norm[..., 0]
        eye = torch.eye(a.shape[2], dtype=a.dtype, device=a.device)
        lhs = a.transpose(1, 2) @ a + self.noise ** 2 * eye
        return torch.linalg.solve(lhs, (a.transpose(1, 2) @ b[..., None]))[..., 0]


def _skew(v: torch.Tensor) -> torch.Tensor:
    """``[..., 3] -> [..., 3, 3]`` cross-product matrices."""
    zero = torch.zeros_like(v[..., 0])
    x, y, w = v.unbind(-1)
    return torch.stack([torch.stack([zero, -w, y], -1), torch.stack([w, zero, -x], -1),
                        torch.stack([-y, x, zero], -1)], -2)


def fit_landmarks(landmarks: ArrayLike, model: Optional[LinearShapeModel] = None, **options) -> LandmarkFit:
    """One-off fit (builds a :class:`LandmarkFitter`; reuse a fitter for many calls)."""
    return LandmarkFitter(model, **options).fit(landmarks)
