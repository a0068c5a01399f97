"""Training of the ``bfm-net`` regressor on a dataset written by :func:`~.dataset.build_dataset`.

:func:`train_net3d` runs AdamW with a linear warm-up and cosine decay. The loss is an L1 on
normalised targets (angles / ``angle_scale``, standardised identity and expression, landmarks
in unit coordinates), weighted by ``loss_weights``. Augmentation keeps the labels consistent:
horizontal flips (landmarks mirrored with :data:`~.flip.FLIP_PERMUTATION`, yaw and roll negated;
identity/expression are not supervised on flipped rows), brightness/contrast jitter and
occasional grayscale. Every ``val_every`` steps the model is scored on the deterministic
validation split (mean |error| per angle in degrees, landmark NME in % of the inter-ocular
distance, identity/expression MAE, the normalised loss), logged and appended to
``out_dir/metrics.jsonl``; the lowest validation loss is exported to ``out_dir/best.pt``
(:meth:`Net3DRegressor.save` format) and the final weights to ``out_dir/last.pt``.
``out_dir/checkpoint.pt`` (model, optimiser, scheduler, step, data order and every RNG state)
is written atomically every ``checkpoint_every`` steps and at the end; ``resume=True`` continues
from it and gives bit-identical weights to an uninterrupted run on the same device.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from ..trainstate import (TrainLoop, rng_state, save_run_state, set_rng_state, start_run, take_batch, warmup_cosine,
                          write_metrics)
from .dataset import LEFT_EYE_OUTER, RIGHT_EYE_OUTER, Net3DShards, ShardReader, training_splits
from .flip import flip_angles, flip_landmarks
from .regressor import Net3DRegressor

__all__ = ["DEFAULT_LOSS_WEIGHTS", "TRAIN_STATE_FORMAT", "augment", "label_statistics", "train_net3d", "validate"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
TRAIN_STATE_FORMAT = "latentreenact.net3d-train-state"
TRAIN_STATE_VERSION = 2  # 2: RNG states in trainstate.rng_state layout
DEFAULT_LOSS_WEIGHTS: Dict[str, float] = {"angles": 1.0, "identity": 0.5, "expression": 1.0, "landmarks": 10.0}
LABEL_KEYS = ("angles", "identity", "expression", "landmarks")


def label_statistics(reader: ShardReader) -> Dict[str, torch.Tensor]:
    """Mean and std (floored at 1e-4) of the identity and expression labels of a split."""
    stats = {}
    for key in ("identity", "expression"):
        values = reader.column(key).double()
        stats[f"{key}_mean"] = values.mean(0).float()
        stats[f"{key}_std"] = values.std(0, unbiased=False).clamp_min(1e-4).float()
    return stats


def augment(images: torch.Tensor, labels: Mapping[str, torch.Tensor], generator: torch.Generator,
            flip_prob: float = 0.5) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
    """Flip / colour-jitter a float [-1, 1] batch with consistent labels.

    Returns (images, labels, ``shape_mask``): the mask is False on flipped rows, whose identity
    and expression labels no longer describe the mirrored face. The number of random draws does
    not depend on the data, so the generator's sequence is reproducible.
    """
    batch, width = images.shape[0], images.shape[-1]
    flip = torch.rand(batch, generator=generator) < flip_prob
    brightness = (torch.rand(batch, generator=generator) - 0.5) * 0.2
    contrast = 0.8 + 0.4 * torch.rand(batch, generator=generator)
    gray = torch.rand(batch, generator=generator) < 0.1
    out = torch.where(flip[:, None, None, None], images.flip(-1), images)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast[:, None, None, None] + mean + brightness[:, None, None, None]
    luma = (out * out.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    out = torch.where(gray[:, None, None, None], luma.expand_as(out), out).clamp(-1.0, 1.0)
    new = dict(labels)
    new["landmarks"] = torch.where(flip[:, None, None], flip_landmarks(labels["landmarks"], width), labels["landmarks"])
    new["angles"] = torch.where(flip[:, None], flip_angles(labels["angles"]), labels["angles"])
    return out, new, ~flip


def _loss(raw: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], weights: Mapping[str, float],
          shape_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Dict[str, float]]:
    parts: Dict[str, torch.Tensor] = {}
    for key in LABEL_KEYS:
        err = (raw[key] - target[key]).abs().flatten(1).mean(1)
        if key in ("identity", "expression") and shape_mask is not None:
            m = shape_mask.to(err.dtype)
            parts[key] = (err * m).sum() / m.sum().clamp_min(1.0)
        else:
            parts[key] = err.mean()
    total = sum(weights[k] * parts[k] for k in LABEL_KEYS)
    return total, {k: float(v.detach()) for k, v in parts.items()}


@torch.no_grad()
def validate(model: Net3DRegressor, reader: ShardReader, batch_size: int, device: torch.device,
             loss_weights: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
    """Metrics on a split in order: per-angle MAE (deg), landmark NME (% inter-ocular), id/exp MAE, loss."""
    weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
    was_training = model.training
    model.eval()
    sums: Dict[str, float] = {}
    n = len(reader)
    for start in range(0, n, batch_size):
        uint8, labels = reader.batch(torch.arange(start, min(start + batch_size, n)))
        images = (uint8.float() / 127.5 - 1.0).to(device)
        labels = {k: v.to(device) for k, v in labels.items()}
        raw = model(images)
        size = images.shape[-1]
        pred = model.denormalise(raw, size, size)
        loss, _ = _loss(raw, model.normalise_labels(labels, size, size), weights)
        iod = (labels["landmarks"][:, LEFT_EYE_OUTER] - labels["landmarks"][:, RIGHT_EYE_OUTER]).norm(dim=-1)
        nme = (pred["landmarks"] - labels["landmarks"]).norm(dim=-1).mean(1) / iod.clamp_min(1e-6) * 100.0
        angle_err = (pred["angles"] - labels["angles"]).abs()
        rows = images.shape[0]
        batch_sums = {"angle_mae_yaw": angle_err[:, 0].sum(), "angle_mae_pitch": angle_err[:, 1].sum(),
                      "angle_mae_roll": angle_err[:, 2].sum(), "landmark_nme_iod_percent": nme.sum(),
                      "expression_mae": (pred["expression"] - labels["expression"]).abs().mean(1).sum(),
                      "identity_mae": (pred["identity"] - labels["identity"]).abs().mean(1).sum(),
                      "loss": loss * rows}
        for key, value in batch_sums.items():
            sums[key] = sums.get(key, 0.0) + float(value)
    model.train(was_training)
    metrics = {k: v / max(n, 1) for k, v in sums.items()}
    metrics["angle_mae_mean"] = (metrics["angle_mae_yaw"] + metrics["angle_mae_pitch"] + metrics["angle_mae_roll"]) / 3
    return metrics


def _dataset_id(shards: Net3DShards) -> str:
    digest = hashlib.sha256("".join(e["sha256"] for e in shards.manifest["shards"]).encode())
    return digest.hexdigest()


def train_net3d(data_dir: PathLike, out_dir: PathLike, steps: int, batch_size: int = 32, lr: float = 1e-3,
                seed: int = 0, val_every: int = 1000, resume: bool = False, progress: bool = False,
                device: Union[str, torch.device] = "cpu", *, checkpoint_every: Optional[int] = None,
                model_config: Optional[Mapping[str, Any]] = None, weight_decay: float = 1e-4,
                flip_prob: float = 0.5, loss_weights: Optional[Mapping[str, float]] = None,
                val_fraction: float = 0.1, split_seed: int = 0, stop_after: Optional[int] = None) -> Dict[str, Any]:
    """Train a :class:`Net3DRegressor` for ``steps`` steps; returns a summary (step, best/last metrics, paths).

    ``val_every``: validation interval in steps; ``checkpoint_every``: training-state interval
    (default ``val_every``); ``resume``: continue ``out_dir/checkpoint.pt`` (the run's settings
    must match, else ValueError); ``val_fraction`` / ``split_seed``: the dataset split
    (:class:`Net3DShards`); ``stop_after``: stop (with a checkpoint) once this many steps are
    done, as an interruption would (for tests and time-boxed jobs).
    """
    if steps < 1 or batch_size < 1 or val_every < 1 or not lr > 0:
        raise ValueError("steps, batch_size and val_every must be >= 1 and lr > 0")
    checkpoint_every = int(checkpoint_every or val_every)
    if checkpoint_every < 1:
        raise ValueError("checkpoint_every must be >= 1")
    weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
    device = torch.device(device)
    out = Path(out_dir)
    train_set, val_set = training_splits(data_dir, batch_size, val_fraction, split_seed)
    train_reader, val_reader = ShardReader(train_set), ShardReader(val_set)

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    model = Net3DRegressor(model_config)
    run_config = {"data": _dataset_id(train_set), "steps": int(steps), "batch_size": int(batch_size),
                  "lr": float(lr), "seed": int(seed), "model": model.config, "weight_decay": float(weight_decay),
                  "flip_prob": float(flip_prob), "loss_weights": weights, "val_fraction": float(val_fraction),
                  "split_seed": int(split_seed)}
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(steps))
    order, aug = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    perm, pos, step = torch.zeros(0, dtype=torch.int64), 0, 0
    running: List[float] = []
    best: Dict[str, Any] = {"loss": None, "step": None, "metrics": {}}
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"

    state = start_run(out, resume, TRAIN_STATE_FORMAT, TRAIN_STATE_VERSION, run_config, "a Net3D")
    if state is not None:
        model.set_label_stats(state["label_stats"])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        perm, pos, step = state["perm"], int(state["pos"]), int(state["step"])
        best = {"loss": state["best"]["loss"], "step": state["best"]["step"], "metrics": dict(state["best"]["metrics"])}
        set_rng_state(state["rng"], order, aug)
        running = [float(v) for v in state["running"]]
        log.info("resuming at step %d of %d", step, steps)
    else:
        model.set_label_stats(label_statistics(train_reader))

    def save_state(at: int) -> None:
        save_run_state(out, TRAIN_STATE_FORMAT, TRAIN_STATE_VERSION, run_config, {
            "step": at, "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "label_stats": model.label_stats, "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "perm": perm, "pos": pos, "best": best,
            "running": list(running), "rng": rng_state(order, aug)})

    def run_validation(step: int) -> Dict[str, float]:
        metrics = validate(model, val_reader, batch_size, device, weights)
        write_metrics(metrics_path, {"step": step, "split": "val", **metrics})
        log.info("step %d val: loss %.4f, |yaw| %.2f, |pitch| %.2f, |roll| %.2f deg, NME %.2f%%, exp MAE %.4f",
                 step, metrics["loss"], metrics["angle_mae_yaw"], metrics["angle_mae_pitch"],
                 metrics["angle_mae_roll"], metrics["landmark_nme_iod_percent"], metrics["expression_mae"])
        if best["loss"] is None or metrics["loss"] < best["loss"]:
            best.update(loss=metrics["loss"], step=step, metrics=metrics)
            model.save(out / "best.pt", metrics={"step": step, **metrics})
        return metrics

    last_metrics: Dict[str, float] = dict(best["metrics"])
    latest: Dict[str, float] = {}

    def train_step() -> Dict[str, str]:
        nonlocal perm, pos
        rows, perm, pos = take_batch(perm, pos, len(train_reader), batch_size, order)
        uint8, labels = train_reader.batch(rows)
        images, labels, shape_mask = augment(uint8.float() / 127.5 - 1.0, labels, aug, flip_prob)
        images, shape_mask = images.to(device), shape_mask.to(device)
        size = images.shape[-1]
        target = model.normalise_labels({k: v.to(device) for k, v in labels.items()}, size, size)
        loss, parts = _loss(model(images), target, weights, shape_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running.append(float(loss.detach()))
        latest.clear()
        latest.update(parts)
        return {"loss": f"{running[-1]:.4f}"}

    def evaluate(at: int) -> None:
        nonlocal last_metrics
        write_metrics(metrics_path, {"step": at, "split": "train", "loss": float(np.mean(running)),
                                     "lr": scheduler.get_last_lr()[0], **latest})
        running.clear()
        last_metrics = run_validation(at)

    model.train()
    loop = TrainLoop(steps, val_every, checkpoint_every, "train net3d", stop_after, progress)
    step = loop.run(step, train_step, evaluate, save_state)
    if step >= steps:
        model.save(out / "last.pt", metrics={"step": step, **last_metrics})
    return {"step": step, "complete": step >= steps, "best": best, "last_metrics": last_metrics,
            "checkpoint": str(ckpt_path), "best_path": str(out / "best.pt"),
            "last_path": str(out / "last.pt") if step >= steps else None}
