"""Fitting W-space control directions (``eyes_closed``) on labelled generator samples.

1. :func:`label_faces`: ``n`` faces drawn from a seed are rendered; each gets its w, its pose vector p
   (the Net3D estimator), its identity embedding, and its dlib 68-landmark eye opening.
2. :func:`min_norm_directions`: every label is regressed on w (ridge), which gives its gradient in W. The
   direction for a target is the shortest step that changes the target's prediction by 1 and every *held*
   label's prediction by 0 (``d = M^T (M M^T)^-1 e``, M the stacked gradients): so a pose vector and an
   identity embedding held fixed do not move to first order. (Regressing w on the label instead, as the
   identity-held start of A does, gives the mean w change that accompanies the label: far too short here, the
   eyes hardly moved with it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np
import torch
from tqdm.auto import tqdm

from latentreenact.faces import detect_faces, landmarks_68
from latentreenact.faces.measures import eye_opening_68
from latentreenact.images import to_uint8
from latentreenact.latent_controls import LatentControls
from latentreenact.sampling import render, truncation_centre, wplus_from_z

__all__ = ["LabelledFaces", "fit_latent_controls", "label_faces", "min_norm_directions"]


@dataclass
class LabelledFaces:
    """Per face: w [N, D], pose vector p [N, k], identity embedding [N, E], eye opening [N] (dlib 68)."""

    w: torch.Tensor
    p: torch.Tensor
    embedding: torch.Tensor
    eye: torch.Tensor


@torch.no_grad()
def label_faces(generator: Any, estimator: Any, identity: Any, n: int, seed: int = 0, truncation: float = 0.7,
                size: int = 256, batch_size: int = 16, layout: str = "bfm", progress: bool = False) -> LabelledFaces:
    """Label ``n`` faces drawn from ``seed`` (z ~ N(0, I), truncated toward the seeded centre) rendered at
    ``size``; faces that the detector or the estimator miss are left out."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    centre = truncation_centre(generator, seed=seed) if truncation != 1 else None
    z = torch.randn(n, generator.style_dim, generator=torch.Generator().manual_seed(seed))
    ws, ps, es, eyes = [], [], [], []
    for start in tqdm(range(0, n, batch_size), desc="labelling faces", unit="batch", disable=not progress):
        wplus = wplus_from_z(generator, z[start:start + batch_size], truncation, centre)
        images = render(generator, wplus, size).clamp(-1, 1)
        ws.append(wplus[:, 0].cpu())
        ps.append(estimator(images).to_vector(layout).cpu())
        es.append(identity.embed(images).cpu())
        for image in to_uint8(images):
            faces = detect_faces(image)
            eyes.append(float(eye_opening_68(landmarks_68(image, faces[0].box))) if faces else float("nan"))
    w, p, e = torch.cat(ws), torch.cat(ps), torch.cat(es)
    eye = torch.tensor(eyes, dtype=torch.float32)
    keep = torch.isfinite(p).all(1) & torch.isfinite(eye)
    return LabelledFaces(w[keep], p[keep], e[keep], eye[keep])


def min_norm_directions(w: torch.Tensor, targets: torch.Tensor, hold: Optional[torch.Tensor] = None,
                        ridge: float = 1e-2) -> Tuple[torch.Tensor, torch.Tensor]:
    """(directions [T, D], in-sample correlation [T] of each target's linear prediction).

    ``targets`` [N, T] (raw units) and ``hold`` [N, H] (standardised here) are regressed on w [N, D] with ridge
    ``ridge * N * mean var(w)``; direction t is the shortest d with ``g_t . d = 1`` and ``g_j . d = 0`` for every
    other target and held label j, ``g`` being the fitted gradients."""
    if w.ndim != 2 or targets.ndim != 2 or targets.shape[0] != w.shape[0]:
        raise ValueError(f"need w [N, D] and targets [N, T] with the same N, got {tuple(w.shape)}, "
                         f"{tuple(targets.shape)}")
    cols = [targets.double() - targets.double().mean(0)]
    if hold is not None:
        if hold.ndim != 2 or hold.shape[0] != w.shape[0]:
            raise ValueError(f"hold must be [N={w.shape[0]}, H], got {tuple(hold.shape)}")
        u = hold.double() - hold.double().mean(0)
        cols.append(u / u.std(0).clamp_min(1e-12))
    y = torch.cat(cols, 1)
    if not (torch.isfinite(w).all() and torch.isfinite(y).all()):
        raise ValueError("w, targets or hold contain NaN or Inf")
    if y.shape[1] >= w.shape[1]:
        raise ValueError(f"{y.shape[1]} targets and held labels leave no free direction in W (D={w.shape[1]})")
    wc = w.double() - w.double().mean(0)
    scale = float(wc.var(0).mean())
    gram = wc.T @ wc + ridge * len(wc) * scale * torch.eye(wc.shape[1], dtype=torch.float64)
    grads = torch.linalg.solve(gram, wc.T @ y).T  # [T + H, D]
    t = targets.shape[1]
    out = grads.T @ torch.linalg.solve(grads @ grads.T, torch.eye(len(grads), dtype=torch.float64)[:, :t])
    pred = wc @ grads[:t].T
    corr = torch.tensor([float(np.corrcoef(pred[:, i].numpy(), y[:, i].numpy())[0, 1]) for i in range(t)])
    return out.T.float(), corr


def fit_latent_controls(faces: LabelledFaces, layers: Tuple[int, int] = (0, 12), ridge: float = 1e-2,
                        config: Optional[dict] = None) -> LatentControls:
    """``eyes_closed``: minus the eye-opening direction, with the pose vector and the identity embedding held."""
    hold = torch.cat([faces.p, faces.embedding], 1)
    directions, corr = min_norm_directions(faces.w, faces.eye[:, None], hold, ridge)
    record = {**dict(config or {}), "samples": len(faces.w), "ridge": ridge, "held": "pose vector + identity "
              "embedding", "fit_correlation": {"eyes_closed": float(corr[0])},
              "eye_opening_mean": float(faces.eye.mean()), "eye_opening_std": float(faces.eye.std())}
    return LatentControls(["eyes_closed"], -directions, layers, record)
