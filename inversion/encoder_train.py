"""Training a :class:`~inversion.light_encoder.LightEncoder` on (w, G(w)) pairs with known latents.

Data: a ``latentreenact net3d dataset`` folder (uint8 renders + the z of each sample). Each
target W+ is ``truncate(mapping(z), psi)`` around the generator's truncation centre, with the
psi and seed recorded in the dataset's manifest, broadcast to every layer.

Loss per step (weights in :data:`DEFAULT_LOSS_WEIGHTS`, e4e's FFHQ values for the image terms):
- ``latent``: MSE between predicted and true W+;
- ``delta``: e4e's delta regulariser, the mean L2 norm of the per-layer deltas;
- on the first ``image_batch`` rows, every ``image_every`` steps: the generator renders the
  predicted and the true W+ at ``image_size`` px (MobileStyleGAN's fitted heads when the
  generator has them) and ``l2`` (pixel MSE), ``identity`` (1 - SFace cosine) and ``perceptual``
  (the offline SFace feature loss, see :mod:`inversion.losses`) compare the two renders. Both
  sides go through the same renderer, so the heads' own error is not learned into the codes.
The generator and the loss networks are frozen; only the encoder trains (AdamW, warm-up + cosine).

Every ``val_every`` steps the validation split is scored (latent MSE, image MSE and SFace
similarity between the renders) and appended to ``out_dir/metrics.jsonl``; the best model
goes to ``out_dir/best.pt``, the last to ``out_dir/last.pt``; ``out_dir/checkpoint.pt`` holds
the full training state and ``resume=True`` continues it bit-identically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from latentreenact.net3d.dataset import Net3DShards, ShardReader, training_splits
from latentreenact.sampling import render, truncation_centre, wplus_from_z
from latentreenact.trainstate import (TrainLoop, rng_state, save_run_state, set_rng_state, start_run, take_batch,
                                      warmup_cosine, write_metrics)

from .light_encoder import LightEncoder, save_light_encoder
from .loading import load_encoder
from .losses import resolve_loss

__all__ = ["DEFAULT_LOSS_WEIGHTS", "ENCODER_TRAIN_FORMAT", "train_encoder"]


log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
ENCODER_TRAIN_FORMAT = "latentreenact.encoder-train-state"
ENCODER_TRAIN_VERSION = 1
DEFAULT_LOSS_WEIGHTS: Dict[str, float] = {"latent": 1.0, "delta": 2e-4, "l2": 1.0, "identity": 0.1,
                                          "perceptual": 0.8}


def __getattr__(name: str) -> Any:
    if name == "target_wplus":
        warnings.warn("inversion.encoder_train.target_wplus is latentreenact.sampling.wplus_from_z",
                      DeprecationWarning, stacklevel=2)
        return wplus_from_z
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _inputs(uint8: torch.Tensor, size: int, device: torch.device) -> torch.Tensor:
    x = uint8.to(device).float() / 127.5 - 1.0
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area")


class _ImageLosses:
    """Pixel MSE, identity and perceptual distances between renders of predicted and true W+."""

    def __init__(self, generator: Any, size: int, identity: Any, perceptual: Any) -> None:
        self.generator, self.size, self.identity, self.perceptual = generator, size, identity, perceptual

    def render(self, wplus: torch.Tensor) -> torch.Tensor:
        return render(self.generator, wplus, self.size, noise_mode="const")

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            ref = self.render(target)
        out = self.render(pred)
        parts = {"l2": F.mse_loss(out, ref)}
        if self.identity is not None:
            parts["identity"] = self.identity(out, ref).mean()
        if self.perceptual is not None:
            parts["perceptual"] = self.perceptual(out, ref).mean()
        return parts


@torch.no_grad()
def _validate(encoder: LightEncoder, reader: ShardReader, targets: torch.Tensor, images: Optional[_ImageLosses],
              batch_size: int, device: torch.device, n_image: int) -> Dict[str, float]:
    was_training = encoder.training
    encoder.eval()
    sums: Dict[str, float] = {"latent_mse": 0.0}
    n = len(reader)
    image_rows = 0
    for start in range(0, n, batch_size):
        rows = torch.arange(start, min(start + batch_size, n))
        uint8, _ = reader.batch(rows)
        pred = encoder(_inputs(uint8, encoder.input_size, device))
        target = targets[rows].to(device)
        sums["latent_mse"] += float(F.mse_loss(pred, target, reduction="none").mean(dim=(1, 2)).sum())
        if images is not None and image_rows < n_image:
            k = min(len(rows), n_image - image_rows)
            out, ref = images.render(pred[:k]), images.render(target[:k])
            sums["image_mse"] = sums.get("image_mse", 0.0) + float(F.mse_loss(out, ref, reduction="none")
                                                                   .mean(dim=(1, 2, 3)).sum())
            if images.identity is not None:
                sums["identity_similarity"] = sums.get("identity_similarity", 0.0) + \
                    float((1.0 - images.identity(out, ref)).sum())
            image_rows += k
    encoder.train(was_training)
    metrics = {"latent_mse": sums.pop("latent_mse") / max(n, 1)}
    metrics.update({k: v / max(image_rows, 1) for k, v in sums.items()})
    return metrics


def _load_init(encoder: LightEncoder, path: PathLike) -> str:
    """Copy a saved light encoder's weights into ``encoder`` (same config required); returns the
    file's sha256 (recorded in the run's settings, so a resume must start from the same file)."""
    init = load_encoder(path)
    if not isinstance(init, LightEncoder) or init.config != encoder.config:
        got = init.config if isinstance(init, LightEncoder) else type(init).__name__
        raise ValueError(f"init_from {path}: a light encoder with config {encoder.config} is needed, got {got}")
    encoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in init.state_dict().items()})
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else str(path)


def _checked_weights(steps: int, batch_size: int, val_every: int, lr: float, image_batch: int, image_every: int,
                     loss_weights: Optional[Mapping[str, float]]) -> Dict[str, float]:
    """The loss weights (defaults updated by ``loss_weights``), after checking the run's settings."""
    if steps < 1 or batch_size < 1 or val_every < 1 or not lr > 0:
        raise ValueError("steps, batch_size and val_every must be >= 1 and lr > 0")
    if image_batch < 0 or image_every < 0 or image_batch > batch_size:
        raise ValueError(f"image_batch must be in [0, batch_size={batch_size}] and image_every >= 0")
    weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
    unknown = sorted(set(weights) - set(DEFAULT_LOSS_WEIGHTS))
    if unknown:
        raise ValueError(f"unknown loss weights {unknown}; known: {sorted(DEFAULT_LOSS_WEIGHTS)}")
    return weights


@dataclass
class _EncoderData:
    """A Net3D dataset folder split for the encoder: the splits, readers of their z, and the
    dataset's truncation and seed (the W+ targets are rendered from those)."""

    train_set: Net3DShards
    val_set: Net3DShards
    train_reader: ShardReader
    val_reader: ShardReader
    truncation: float
    seed: int

    @classmethod
    def read(cls, generator: Any, data_dir: PathLike, batch_size: int, val_fraction: float,
             split_seed: int) -> "_EncoderData":
        train_set, val_set = training_splits(data_dir, batch_size, val_fraction, split_seed)
        data_cfg = train_set.manifest["config"]
        if int(data_cfg["style_dim"]) != generator.style_dim:
            raise ValueError(f"{data_dir}: latents of dimension {data_cfg['style_dim']}, the generator takes "
                             f"{generator.style_dim}")
        return cls(train_set, val_set, ShardReader(train_set, ("z",)), ShardReader(val_set, ("z",)),
                   float(data_cfg["truncation"]), int(data_cfg["seed"]))

    def targets(self, generator: Any, reader: ShardReader, centre: Optional[torch.Tensor]) -> torch.Tensor:
        """The W+ [N, L, D] the dataset rendered for the reader's rows (on the CPU)."""
        return torch.cat([wplus_from_z(generator, z, self.truncation, centre).cpu()
                          for z in reader.column("z").split(256)])


def train_encoder(generator: Any, data_dir: PathLike, out_dir: PathLike, steps: int, batch_size: int = 16,
                  lr: float = 5e-4, seed: int = 0, val_every: int = 500, resume: bool = False,
                  progress: bool = False, device: Union[str, torch.device] = "cpu", *,
                  generator_id: str = "", model_config: Optional[Mapping[str, Any]] = None,
                  loss_weights: Optional[Mapping[str, float]] = None, image_batch: int = 4, image_every: int = 1,
                  image_size: int = 128, identity: Any = "default", perceptual: Any = "default",
                  weight_decay: float = 1e-4, val_fraction: float = 0.1, split_seed: int = 0, n_val_images: int = 32,
                  clip_grad_norm: Optional[float] = 1.0, checkpoint_every: Optional[int] = None,
                  stop_after: Optional[int] = None, init_from: Optional[PathLike] = None) -> Dict[str, Any]:
    """Train an encoder for ``generator`` on ``data_dir``; returns a summary (step, best/last metrics, paths).

    ``image_batch = 0`` or ``image_every = 0`` switches the image losses off (latent regression
    only); ``identity`` / ``perceptual``: ``"default"``, ``"none"`` or a callable (see
    :func:`inversion.losses.resolve_loss`). ``resume`` continues ``out_dir/checkpoint.pt`` (the
    settings must match). ``clip_grad_norm``: the gradient-norm clip (None: off); the sporadic
    image-loss steps otherwise kick Adam off course. ``stop_after`` stops early with a checkpoint, as an interruption would.
    ``init_from``: start from the weights of a trained light encoder of the same architecture (e.g. a
    latent-only run's ``best.pt``, to fine-tune it with the image losses); the optimiser starts fresh.
    """
    weights = _checked_weights(steps, batch_size, val_every, lr, image_batch, image_every, loss_weights)
    checkpoint_every = int(checkpoint_every or val_every)
    device = torch.device(device)
    out = Path(out_dir)
    data = _EncoderData.read(generator, data_dir, batch_size, val_fraction, split_seed)
    train_set, val_set, train_reader, val_reader = data.train_set, data.val_set, data.train_reader, data.val_reader
    generator = generator.to(device).eval().requires_grad_(False)
    psi, data_seed = data.truncation, data.seed
    centre = truncation_centre(generator, seed=data_seed).to(device) if psi != 1 else None
    train_targets = data.targets(generator, train_reader, centre)
    val_targets = data.targets(generator, val_reader, centre)

    image_size = min(int(image_size), int(generator.resolution))
    use_images = image_batch > 0 and image_every > 0
    image_losses = None
    if use_images or n_val_images > 0:
        id_fn = resolve_loss(identity, "identity", device) if weights["identity"] > 0 else None
        pc_fn = resolve_loss(perceptual, "perceptual", device) if weights["perceptual"] > 0 else None
        image_losses = _ImageLosses(generator, image_size, id_fn, pc_fn)

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    cfg = {**dict(model_config or {}), "n_styles": generator.n_latent, "style_dim": generator.style_dim}
    encoder = LightEncoder(cfg)
    encoder.set_latent_avg(centre if centre is not None else truncation_centre(generator, seed=data_seed))
    init_id = None
    if init_from is not None:
        init_id = _load_init(encoder, init_from)
    encoder.to(device)
    run_config = {"data": [e["sha256"] for e in train_set.manifest["shards"]], "steps": int(steps),
                  "batch_size": int(batch_size), "lr": float(lr), "seed": int(seed), "model": encoder.config,
                  "loss_weights": weights, "image_batch": int(image_batch), "image_every": int(image_every),
                  "image_size": int(image_size), "weight_decay": float(weight_decay), "clip_grad_norm": clip_grad_norm,
                  "val_fraction": float(val_fraction), "split_seed": int(split_seed), "generator": generator_id,
                  **({"init": init_id} if init_id is not None else {})}
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(steps))
    order = torch.Generator().manual_seed(seed)
    perm, pos, step = torch.zeros(0, dtype=torch.int64), 0, 0
    running: List[float] = []
    best: Dict[str, Any] = {"loss": None, "step": None, "metrics": {}}
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"
    meta = {"generator": generator_id, "data": str(data_dir), "truncation": psi, "train_samples": len(train_set),
            "val_samples": len(val_set), "loss_weights": weights}

    state = start_run(out, resume, ENCODER_TRAIN_FORMAT, ENCODER_TRAIN_VERSION, run_config, "an encoder")
    if state is not None:
        encoder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        perm, pos, step = state["perm"], int(state["pos"]), int(state["step"])
        best = {"loss": state["best"]["loss"], "step": state["best"]["step"], "metrics": dict(state["best"]["metrics"])}
        set_rng_state(state["rng"], order)
        running = [float(v) for v in state["running"]]
        log.info("resuming encoder training at step %d of %d", step, steps)

    def save_state(at: int) -> None:
        save_run_state(out, ENCODER_TRAIN_FORMAT, ENCODER_TRAIN_VERSION, run_config, {
            "step": at, "model": {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "perm": perm, "pos": pos,
            "best": best, "running": list(running), "rng": rng_state(order)})

    def run_validation(step: int) -> Dict[str, float]:
        metrics = _validate(encoder, val_reader, val_targets, image_losses, batch_size, device, n_val_images)
        write_metrics(metrics_path, {"step": step, "split": "val", **metrics})
        log.info("step %d val: %s", step, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if best["loss"] is None or metrics["latent_mse"] < best["loss"]:
            best.update(loss=metrics["latent_mse"], step=step, metrics=metrics)
            save_light_encoder(out / "best.pt", encoder, metadata={**meta, "step": step, **metrics})
        return metrics

    last_metrics: Dict[str, float] = dict(best["metrics"])
    latest: Dict[str, float] = {}
    at_step = [step]  # the step being made (the image losses run on every image_every-th)

    def train_step() -> Dict[str, str]:
        nonlocal perm, pos
        rows, perm, pos = take_batch(perm, pos, len(train_reader), batch_size, order)
        uint8, _ = train_reader.batch(rows)
        target = train_targets[rows].to(device)
        offsets, deltas = encoder.offsets_and_deltas(_inputs(uint8, encoder.input_size, device))
        pred = offsets + encoder.latent_avg
        parts: Dict[str, torch.Tensor] = {"latent": F.mse_loss(pred, target), "delta": deltas.norm(dim=-1).mean()}
        if use_images and at_step[0] % image_every == 0 and image_losses is not None:
            parts.update(image_losses(pred[:image_batch], target[:image_batch]))
        loss = sum(weights[k] * v for k, v in parts.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), clip_grad_norm)
        optimizer.step()
        scheduler.step()
        at_step[0] += 1
        running.append(float(loss.detach()))
        latest.clear()
        latest.update({k: float(v.detach()) for k, v in parts.items()})
        return {"loss": f"{running[-1]:.4f}", "latent": f"{latest['latent']:.4f}"}

    def evaluate(at: int) -> None:
        nonlocal last_metrics
        write_metrics(metrics_path, {"step": at, "split": "train", "loss": float(np.mean(running)),
                                     "lr": scheduler.get_last_lr()[0], **latest})
        running.clear()
        last_metrics = run_validation(at)

    encoder.train()
    loop = TrainLoop(steps, val_every, checkpoint_every, "train encoder", stop_after, progress)
    step = loop.run(step, train_step, evaluate, save_state)
    if step >= steps:
        save_light_encoder(out / "last.pt", encoder, metadata={**meta, "step": step, **last_metrics})
    return {"step": step, "complete": step >= steps, "best": best, "last_metrics": last_metrics,
            "checkpoint": str(ckpt_path), "best_path": str(out / "best.pt"),
            "last_path": str(out / "last.pt") if step >= steps else None}

