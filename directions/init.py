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

:func:`instrumented_labels` corrects the other bias of a regression start: noise in the labels of a
regressor shrinks its column toward zero (attenuation; errors in variables). Replacing a head angle's
labels by their first-stage prediction from a second estimator's reading of the same angle (an
instrument, whose errors are independent of the first's) and the other regressors gives the two-stage
least-squares column, which is not shrunk. With bfm-rigid's labels and bfm-net's readings as the
instrument it lengthens the pitch column by about a fifth and the yaw column by a tenth
(docs/directions.md).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import torch

from latentreenact.net3d.dataset import Net3DShards, ShardReader
from latentreenact.net3d.pose_vector import PoseVectorSpec
from latentreenact.sampling import seeded_face_batches, truncation_centre, wplus_from_z

from .matrix import DirectionMatrix

__all__ = ["instrumented_labels", "labelled_latents", "regression_init", "sampled_labels", "sampled_latents"]


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
        x = torch.cat([x, _standardised(covariates)], 1)
    wc = w.double() - w.double().mean(0)
    gram = x.T @ x + ridge * len(q) * torch.eye(x.shape[1], dtype=torch.float64)
    coef = torch.linalg.solve(gram, x.T @ wc)[: q.shape[1]]  # [k, D]
    A = DirectionMatrix(spec.k, num_layers, w.shape[1], spec.shift_scale, seed=None)
    with torch.no_grad():
        A.linear.weight.copy_(coef.T.repeat(num_layers, 1).float())
    return A


def _standardised(covariates: torch.Tensor) -> torch.Tensor:
    """Covariates [N, C] centred and scaled to unit standard deviation per column (float64)."""
    u = covariates.double() - covariates.double().mean(0)
    return u / u.std(0).clamp_min(1e-12)


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
    w, ps, embedding = sampled_labels(generator, [estimator], n, seed, truncation, size, identity, layout,
                                      batch_size, progress)
    return w, ps[0], embedding


@torch.no_grad()
def sampled_labels(generator: Any, estimators: Sequence[Any], n: int, seed: int = 0, truncation: float = 0.7,
                   size: int = 256, identity: Any = None, layout: str = "bfm", batch_size: int = 16,
                   progress: bool = False) -> Tuple[torch.Tensor, List[torch.Tensor], Optional[torch.Tensor]]:
    """:func:`sampled_latents` with several estimators measuring the same faces: (w [M, D], one p [M, k] per
    estimator, embedding or None), keeping the M faces that every estimator found."""
    if not estimators:
        raise ValueError("give at least one estimator")
    ws: List[torch.Tensor] = []
    ps: List[List[torch.Tensor]] = [[] for _ in estimators]
    es: List[torch.Tensor] = []
    for wplus, images in seeded_face_batches(generator, n, seed, truncation, size, batch_size, progress):
        for labels, estimator in zip(ps, estimators):
            labels.append(estimator(images).to_vector(layout).cpu())
        ws.append(wplus[:, 0].cpu())
        if identity is not None:
            es.append(identity.embed(images).cpu())
    w, p = torch.cat(ws), [torch.cat(labels) for labels in ps]
    keep = torch.stack([torch.isfinite(q).all(1) for q in p]).all(0)
    return w[keep], [q[keep] for q in p], torch.cat(es)[keep] if identity is not None else None


def instrumented_labels(p: torch.Tensor, instrument: torch.Tensor, spec: PoseVectorSpec,
                        entries: Sequence[str] = ("yaw", "pitch"),
                        covariates: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``p`` [N, k] (raw) with each of ``entries`` replaced by its two-stage least-squares first stage: the
    least-squares prediction of its rescaled labels from ``instrument``'s [N, k] reading of the same entry, the
    other entries of ``p`` and the standardised ``covariates`` [N, C] (the regressors that
    :func:`regression_init` is given next). :func:`regression_init` on the result gives the columns of these
    entries without the shrinkage that label noise causes, as long as the instrument's errors are independent of
    ``p``'s (see the module docstring)."""
    if p.shape != instrument.shape or p.ndim != 2:
        raise ValueError(f"p and instrument must be the same [N, k], got {tuple(p.shape)} and "
                         f"{tuple(instrument.shape)}")
    names = list(spec.names)
    unknown = [e for e in entries if e not in names]
    if unknown:
        raise ValueError(f"unknown entries {unknown}; the pose vector has {', '.join(names)}")
    q, qi = spec.rescale(p.double()), spec.rescale(instrument.double())
    extra = [torch.ones(len(q), 1, dtype=torch.float64)]
    if covariates is not None:
        extra.append(_standardised(covariates))
    out = q.clone()
    for entry in entries:
        col = names.index(entry)
        others = q[:, [i for i in range(q.shape[1]) if i != col]]
        design = torch.cat([qi[:, col:col + 1], others, *extra], 1)
        out[:, col] = design @ torch.linalg.lstsq(design, q[:, col:col + 1]).solution[:, 0]
    result = p.double().clone()
    unscaled = spec.unscale(out)
    for entry in entries:
        result[:, names.index(entry)] = unscaled[:, names.index(entry)]
    return result.to(p.dtype)
