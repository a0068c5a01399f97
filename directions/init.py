"""A closed-form starting point for A: ridge regression of latents on rescaled pose vectors.

Over labelled generator samples (w_i, p_i) it solves ``w ≈ c + B q`` with ``q = rescale(p)``;
``B`` moves a latent by the average change that accompanies a unit change of each entry, the
linear-probe idea of InterFaceGAN. Used as the initial A (the same B on each of the first L
layers, bias 0) and refined by :func:`directions.train.train_directions`, it saves most of the
optimisation on a CPU. The correlations of the training faces leak into B (e.g. yaw with
identity), which the trainer's identity and shape losses then correct.
"""

from __future__ import annotations

import torch

from latentreenact.net3d.dataset import Net3DShards, ShardReader
from latentreenact.net3d.pose_vector import PoseVectorSpec
from latentreenact.sampling import truncation_centre, wplus_from_z

from .matrix import DirectionMatrix

__all__ = ["regression_init"]


def regression_init(w: torch.Tensor, p: torch.Tensor, spec: PoseVectorSpec, num_layers: int = 8,
                    ridge: float = 1e-2) -> DirectionMatrix:
    """A DirectionMatrix whose weight solves the ridge regression of ``w`` [N, D] on ``rescale(p)`` [N, k]."""
    if w.ndim != 2 or p.ndim != 2 or w.shape[0] != p.shape[0]:
        raise ValueError(f"need w [N, D] and p [N, k] with the same N, got {tuple(w.shape)} and {tuple(p.shape)}")
    if w.shape[0] <= p.shape[1]:
        raise ValueError(f"need more samples than pose entries ({p.shape[1]}), got {w.shape[0]}")
    if not (torch.isfinite(w).all() and torch.isfinite(p).all()):
        raise ValueError("w or p contains NaN or Inf")
    q = spec.rescale(p.double())
    qc = q - q.mean(0)
    wc = w.double() - w.double().mean(0)
    gram = qc.T @ qc + ridge * len(q) * torch.eye(q.shape[1], dtype=torch.float64)
    coef = torch.linalg.solve(gram, qc.T @ wc)  # [k, D]
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
