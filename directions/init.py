"""A closed-form starting point for A: ridge regression of latents on rescaled pose vectors.

Over labelled generator samples (w_i, p_i) it solves ``w ≈ c + B q`` with ``q = rescale(p)``;
``B`` moves a latent by the average change that accompanies a unit change of each entry, the
linear-probe idea of InterFaceGAN. Used as the initial A (the same B on each of the first L
layers, bias 0) and refined by :func:`directions.train.train_directions`, it saves most of the
optimisation on a CPU. The correlations of the training faces leak into B (e.g. yaw with
identity), which the trainer's identity and shape losses then correct.

``covariates`` take part of that leak out before training: attributes of each face that a pose
edit should leave alone (e.g. its identity embedding) enter the regression as extra regressors,
and only the pose block of the joint solution is kept. By the Frisch-Waugh-Lovell theorem that
block is the regression on the part of the pose vector that the covariates do not explain, so
what merely correlates with pose through those attributes (age, glasses, hair, sex in a face
generator) no longer moves with it.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
from tqdm.auto import tqdm

from latentreenact.net3d.dataset import Net3DShards, ShardReader
from latentreenact.net3d.pose_vector import PoseVectorSpec
from latentreenact.sampling import render, truncation_centre, wplus_from_z

from .matrix import DirectionMatrix

__all__ = ["labelled_latents", "regression_init", "sampled_latents"]


def regression_init(w: torch.Tensor, p: torch.Tensor, spec: PoseVectorSpec, num_layers: int = 8,
                    ridge: float = 1e-2, covariates: Optional[torch.Tensor] = None) -> DirectionMatrix:
    """A DirectionMatrix whose weight solves the ridge regression of ``w`` [N, D] on ``rescale(p)`` [N, k],
    jointly with ``covariates`` [N, C] when given (standardised; only the pose block is kept)."""
    if w.ndim != 2 or p.ndim != 2 or w.shape[0] != p.shape[0]:
        raise ValueError(f"need w [N, D] and p [N, k] with the same N, got {tuple(w.shape)} and {tuple(p.shape)}")
    n_regressors = p.shape[1] + (0 if covariates is None else covariates.shape[-1])
    if w.shape[0] <= n_regressors:
        raise ValueError(f"need more samples than regressors ({n_regressors}), got {w.shape[0]}")
    if not (torch.isfinite(w).all() and torch.isfinite(p).all()):
        raise ValueError("w or p contains NaN or Inf")
    q = spec.rescale(p.double())
    x = q - q.mean(0)
    if covariates is not None:
        if covariates.ndim != 2 or covariates.shape[0] != w.shape[0]:
            raise ValueError(f"covariates must be [N={w.shape[0]}, C], got {tuple(covariates.shape)}")
        if not torch.isfinite(covariates).all():
            raise ValueError("covariates contain NaN or Inf")
        u = covariates.double() - covariates.double().mean(0)
        x = torch.cat([x, u / u.std(0).clamp_min(1e-12)], 1)
    wc = w.double() - w.double().mean(0)
    gram = x.T @ x + ridge * len(q) * torch.eye(x.shape[1], dtype=torch.float64)
    coef = torch.linalg.solve(gram, x.T @ wc)[: q.shape[1]]  # [k, D]
    A = DirectionMatrix(spec.k, num_layers, w.shape[1], spec.shift_scale, seed=None)
    with torch.no_grad():
        A.linear.weight.copy_(coef.T.repeat(num_layers, 1).float())
    return A


@torch.no_grad()
def labelled_latents(generator: "object", estimator: "object", data_dir: str, layout: str = "bfm",
                     batch_size: int = 64) -> "tuple[torch.Tensor, torch.Tensor]":
    """(w [N, D], p [N, k]) over a ``net3d dataset`` folder: each sample's w from its z (the folder's
    truncation and seed) and p measured by ``estimator`` on its image."""
    ds = Net3DShards(data_dir, "all")
    cfg = ds.manifest["config"]
    psi = float(cfg["truncation"])
    centre = truncation_centre(generator, seed=int(cfg["seed"])) if psi != 1 else None
    reader = ShardReader(ds, ("z",))
    ws, ps = [], []
    for start in range(0, len(ds), batch_size):
        images, labels = reader.batch(torch.arange(start, min(start + batch_size, len(ds))))
        ps.append(estimator(images.float().to(generator.device) / 127.5 - 1).to_vector(layout).cpu())
        ws.append(wplus_from_z(generator, labels["z"], psi, centre)[:, 0].cpu())
    return torch.cat(ws), torch.cat(ps)


@torch.no_grad()
def sampled_latents(generator: Any, estimator: Any, n: int, seed: int = 0, truncation: float = 0.7,
                    size: int = 256, identity: Any = None, layout: str = "bfm", batch_size: int = 16,
                    progress: bool = False) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """(w [M, D], p [M, k], identity embedding [M, E] or None) of ``n`` faces drawn from ``seed``
    (z ~ N(0, I), truncated toward the generator's centre), rendered at ``size`` and measured by
    ``estimator``; ``identity`` (an :class:`latentreenact.identity.loss.IdentityLoss`) embeds each face.
    The M <= n faces the estimator found are kept."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    centre = truncation_centre(generator, seed=seed) if truncation != 1 else None
    z = torch.randn(n, generator.style_dim, generator=torch.Generator().manual_seed(seed))
    ws, ps, es = [], [], []
    for start in tqdm(range(0, n, batch_size), desc="labelling faces", unit="batch", disable=not progress):
        wplus = wplus_from_z(generator, z[start:start + batch_size], truncation, centre)
        images = render(generator, wplus, size).clamp(-1, 1)
        params = estimator(images)
        ws.append(wplus[:, 0].cpu())
        ps.append(params.to_vector(layout).cpu())
        if identity is not None:
            es.append(identity.embed(images).cpu())
    w, p = torch.cat(ws), torch.cat(ps)
    keep = torch.isfinite(p).all(1)
    return w[keep], p[keep], torch.cat(es)[keep] if identity is not None else None
