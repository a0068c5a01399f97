"""Training the direction matrix A (paper §3, docs/architecture.md §8).

One step (batch B):
1. source / target W+: random latents (``synthetic``), codes from a latent bank of inverted real
   frames (``real``), half of each (``real+synthetic``), or a source and a target of the same
   video from the bank (``paired``);
2. render both, measure p_s and p_t with the Net3D estimator (no gradient), rescale;
3. the first ``single_attribute`` share of rows edits one random entry only: its rescaled target
   value is uniform in [-a, a]; the next ``driving_like`` share moves like a driving clip: the head
   angles turn a little from the source's (Laplace, scale ``driving_angle_scale`` rescaled units)
   while the expression takes the target's; the other rows take the target's whole vector;
4. render ``A.shift(w_s, Δp)`` and measure it *with* gradient; losses:
   shape (posed 3D shape vs. source identity + target expression and pose), eye, mouth,
   identity (1 - cos) and perceptual against the source (against the target in ``paired``
   mode, which adds pixel L1 to the target);
5. Adam on A only; the generator and every network are frozen (``requires_grad_(False)``).

Every ``eval_every`` steps a fixed held-out set of synthetic pairs is scored
(:func:`directions.evaluate.evaluate_pairs`), appended to ``metrics.jsonl`` and drawn as a
source | target | reenacted grid; ``checkpoint.pt`` (A, optimiser, step, RNG states) gives a
bit-identical resume.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from latentreenact.fileio import atomic_path, read_torch_file
from latentreenact.images import to_uint8
from latentreenact.net3d.pose_vector import ANGLE_SCALES, PoseVectorSpec
from latentreenact.sampling import render, sample_wplus, truncation_centre
from latentreenact.trainstate import (TrainLoop, rng_state, save_run_state, set_rng_state, start_run, state_digest,
                                      write_metrics)

from .evaluate import evaluate_pairs, make_eval_pairs
from .matrix import DirectionMatrix

__all__ = ["DEFAULT_LOSS_WEIGHTS", "MODES", "DirectionsConfig", "Components", "LatentBank", "train_directions"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
TRAIN_FORMAT = "latentreenact.directions-train-state"
TRAIN_VERSION = 2  # 2: the run settings stored flat under "config"
MODES = ("synthetic", "real", "real+synthetic", "paired")
DEFAULT_LOSS_WEIGHTS: Dict[str, float] = {"shape": 1.0, "eye": 1.0, "mouth": 1.0, "identity": 10.0,
                                          "perceptual": 10.0, "pixel": 1.0}


@dataclass
class DirectionsConfig:
    """Settings of a run (all recorded in the checkpoint; a resume must match them)."""

    steps: int
    mode: str = "synthetic"
    batch_size: int = 12
    lr: float = 1e-4
    weight_decay: float = 5e-4
    single_attribute: float = 0.5
    driving_like: float = 0.0
    driving_angle_scale: float = 0.6
    truncation: float = 0.7
    render_size: int = 256
    num_layers: int = 8
    loss_weights: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    eval_every: int = 500
    n_eval: int = 16
    checkpoint_every: Optional[int] = None
    seed: int = 0

    def check(self) -> None:
        """ValueError on settings that cannot run."""
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1 or not self.lr > 0:
            raise ValueError("steps, batch_size and eval_every must be >= 1 and lr > 0")
        if not (0 <= self.single_attribute and 0 <= self.driving_like
                and self.single_attribute + self.driving_like <= 1):
            raise ValueError(f"single_attribute and driving_like must be >= 0 with a sum <= 1, got "
                             f"{self.single_attribute} and {self.driving_like}")
        if not self.driving_angle_scale > 0:
            raise ValueError(f"driving_angle_scale must be > 0, got {self.driving_angle_scale}")
        unknown = sorted(set(self.loss_weights) - set(DEFAULT_LOSS_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown loss weights {unknown}; known: {sorted(DEFAULT_LOSS_WEIGHTS)}")


@dataclass
class LatentBank:
    """W+ codes of inverted real frames: ``wplus`` [N, L, D], ``group`` [N] (video id), optional
    ``images`` uint8 [N, 3, S, S] (the aligned frames, the paired mode's targets)."""

    wplus: torch.Tensor
    group: torch.Tensor
    images: Optional[torch.Tensor] = None

    @classmethod
    def load(cls, path: PathLike) -> "LatentBank":
        """Read ``{"wplus", "group"[, "images"]}`` (weights-only torch file)."""
        obj = read_torch_file(Path(path))
        if not isinstance(obj, Mapping) or "wplus" not in obj:
            raise ValueError(f"{path}: not a latent bank (expected a dict with 'wplus' [N, L, D] and 'group' [N])")
        wplus = obj["wplus"].float()
        group = obj.get("group", torch.arange(len(wplus)))
        if wplus.ndim != 3 or group.shape != (len(wplus),):
            raise ValueError(f"{path}: wplus must be [N, L, D] and group [N]")
        if not torch.isfinite(wplus).all():
            raise ValueError(f"{path}: the latent bank holds NaN or Inf")
        return cls(wplus, group.long(), obj.get("images"))

    def pairs_by_group(self) -> List[torch.Tensor]:
        """Index tensors of the groups with at least two frames."""
        return [idx for g in torch.unique(self.group) if len(idx := torch.nonzero(self.group == g)[:, 0]) >= 2]


@dataclass
class Components:
    """The frozen networks a run uses.

    ``estimator(images [B, 3, S, S] in [-1, 1]) -> PoseParams`` (differentiable, with identity
    coefficients); ``shape_losses``: :class:`directions.losses.ShapeLosses`; ``identity`` and
    ``perceptual``: ``(x, y) -> [B]`` distances or None; ``layout``: the pose-vector layout.
    """

    generator: Any
    estimator: Callable[[torch.Tensor], Any]
    shape_losses: torch.nn.Module
    spec: PoseVectorSpec
    layout: str = "bfm"
    identity: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None
    perceptual: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None

    def render(self, wplus: torch.Tensor, size: int) -> torch.Tensor:
        """Render W+ at ``size`` px (fitted heads when the generator has them)."""
        return render(self.generator, wplus, size, noise_mode="const")

    def measure(self, images: torch.Tensor) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(p [B, k] raw, (identity, expression, angles)) of rendered faces."""
        params = self.estimator(images)
        if params.identity is None:
            raise ValueError("the A trainer needs an estimator that returns identity coefficients")
        return params.to_vector(self.layout), (params.identity, params.expression, params.angles)


def shift_targets(spec: PoseVectorSpec, p_s: torch.Tensor, p_t: torch.Tensor, n_single: int, g: torch.Generator,
                  n_driving: int = 0, angle_scale: float = 0.6) -> Tuple[torch.Tensor, torch.Tensor]:
    """(Δp [B, k], ground-truth raw p [B, k]): the first ``n_single`` rows edit one random entry to a
    uniform rescaled value in [-a, a]; the next ``n_driving`` rows turn the head angles from the
    source's by Laplace(0, ``angle_scale``) rescaled units and take the target's other entries (what
    a driving clip asks: small turns while the expression changes); the others take the target's
    vector. Draws a fixed number of random numbers per call (reproducible)."""
    q_s, q_t = spec.rescale(p_s), spec.rescale(p_t)
    batch, k = q_s.shape
    attr = torch.randint(0, k, (batch,), generator=g).to(q_s.device)
    value = ((torch.rand(batch, generator=g) * 2 - 1) * spec.shift_scale).to(q_s)
    single = torch.arange(batch, device=q_s.device) < n_single
    q_edit = q_s.clone()
    q_edit[torch.arange(batch), attr] = value
    q_gt = torch.where(single[:, None], q_edit, q_t)
    if n_driving > 0:
        angles = torch.tensor([n in ANGLE_SCALES for n in spec.names], device=q_s.device)
        turn = laplace(batch, k, angle_scale, g).to(q_s)
        q_drive = torch.where(angles, q_s + turn, q_t)
        rows = torch.arange(batch, device=q_s.device)
        driving = (rows >= n_single) & (rows < n_single + n_driving)
        q_gt = torch.where(driving[:, None], q_drive, q_gt)
    return q_gt - q_s, spec.unscale(q_gt)


def batch_rows(single: float, driving: float, batch: int) -> Tuple[int, int]:
    """(single-entry rows, driving-like rows) of a batch of ``batch`` for these shares (see :func:`shift_targets`)."""
    n_single = int(round(single * batch))
    return n_single, min(int(round(driving * batch)), batch - n_single)


def laplace(rows: int, cols: int, scale: float, g: torch.Generator) -> torch.Tensor:
    """Laplace(0, ``scale``) samples [rows, cols] by inverting the CDF of uniforms from ``g``."""
    u = torch.rand(rows, cols, generator=g, dtype=torch.float64) - 0.5
    return (-scale * torch.sign(u) * torch.log1p(-2 * u.abs())).float()


def _gt_triplet(p_gt: torch.Tensor, src_identity: torch.Tensor, layout: str) -> Tuple[torch.Tensor, ...]:
    """(identity, expression, angles) of the ground truth for the BFM layout."""
    if layout != "bfm":
        raise ValueError(f"the 3D losses are implemented for the 'bfm' layout, got {layout!r}")
    return src_identity, p_gt[:, 3:], p_gt[:, :3]


def train_step_losses(comp: Components, A: DirectionMatrix, w_s: torch.Tensor, w_t: torch.Tensor, n_single: int,
                      g: torch.Generator, cfg: DirectionsConfig, target_images: Optional[torch.Tensor] = None,
                      n_driving: int = 0) -> Dict[str, torch.Tensor]:
    """The weighted loss parts of one batch (scalars, gradient into A only)."""
    size = cfg.render_size
    with torch.no_grad():
        img_s, img_t = comp.render(w_s, size), comp.render(w_t, size)
        p_s, (id_s, _, _) = comp.measure(img_s)
        p_t, _ = comp.measure(img_t)
    dp, p_gt = shift_targets(comp.spec, p_s, p_t, n_single, g, n_driving, cfg.driving_angle_scale)
    img_r = comp.render(A.shift(w_s, dp), size)
    _, pred = comp.measure(img_r)
    parts = {k: v.mean() for k, v in comp.shape_losses(pred, _gt_triplet(p_gt, id_s, comp.layout)).items()}
    paired = cfg.mode == "paired"
    ref = img_s
    if paired:
        ref = img_t if target_images is None else target_images
        parts["pixel"] = (img_r - ref).abs().mean()
    if comp.identity is not None:
        parts["identity"] = comp.identity(img_r, ref).mean()
    if comp.perceptual is not None:
        parts["perceptual"] = comp.perceptual(img_r, ref).mean()
    return parts


def _bank_batch(bank: LatentBank, n: int, g: torch.Generator, paired: bool
                ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    if paired:
        groups = bank.pairs_by_group()
        if not groups:
            raise ValueError("paired mode needs a latent bank with at least one group of two or more frames")
        gi = torch.randint(0, len(groups), (n,), generator=g)
        pick = torch.rand(n, 2, generator=g)
        src, tgt = [], []
        for i, (a, b) in zip(gi.tolist(), pick.tolist()):
            idx = groups[i]
            ia = int(a * len(idx))
            ib = (ia + 1 + int(b * (len(idx) - 1))) % len(idx)  # a different frame of the same video
            src.append(int(idx[ia]))
            tgt.append(int(idx[ib]))
        s, t = torch.tensor(src), torch.tensor(tgt)
    else:
        s = torch.randint(0, len(bank.wplus), (n,), generator=g)
        t = torch.randint(0, len(bank.wplus), (n,), generator=g)
    images = None if bank.images is None else bank.images[t]
    return bank.wplus[s], bank.wplus[t], images


def _grid(comp: Components, rows: Tuple[torch.Tensor, torch.Tensor, torch.Tensor], path: Path) -> None:
    """source | target | reenacted, one pair per row, as a PNG (atomic)."""
    tiles = [to_uint8(x) for x in rows]  # each [n, S, S, 3]
    grid = np.concatenate([np.concatenate(list(t), 0) for t in tiles], 1)
    with atomic_path(path) as tmp:
        Image.fromarray(grid).save(tmp)


def _batch_latents(G: Any, cfg: DirectionsConfig, bank: Optional[LatentBank], data_g: torch.Generator,
                   centre: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """One batch's source and target W+ (and, in paired mode, the target frames at ``render_size``)."""
    device = G.device
    if cfg.mode == "synthetic":
        w_s = sample_wplus(G, cfg.batch_size, data_g, cfg.truncation, centre)
        w_t = sample_wplus(G, cfg.batch_size, data_g, cfg.truncation, centre)
        return w_s, w_t, None
    if cfg.mode == "real+synthetic":
        half = cfg.batch_size // 2
        bs, bt, _ = _bank_batch(bank, cfg.batch_size - half, data_g, False)
        w_s = torch.cat([sample_wplus(G, half, data_g, cfg.truncation, centre), bs.to(device)])
        w_t = torch.cat([sample_wplus(G, half, data_g, cfg.truncation, centre), bt.to(device)])
        return w_s, w_t, None
    w_s, w_t, images = _bank_batch(bank, cfg.batch_size, data_g, cfg.mode == "paired")
    if images is not None:
        images = F.interpolate(images.to(device).float() / 127.5 - 1, size=(cfg.render_size,) * 2, mode="area")
    return w_s.to(device), w_t.to(device), images


def _frozen(comp: Components) -> Any:
    """Switch off the gradients of the generator and of every network of ``comp``; returns the generator."""
    G = comp.generator.eval().requires_grad_(False)
    for net in (comp.shape_losses, comp.identity, comp.perceptual, comp.estimator,
                getattr(comp.estimator, "__self__", None), getattr(comp.estimator, "model", None)):
        if isinstance(net, torch.nn.Module):
            net.requires_grad_(False)
    return G


def _new_matrix(comp: Components, cfg: DirectionsConfig, style_dim: int, init: Optional[DirectionMatrix],
                matrix_config: Optional[Mapping[str, Any]]) -> DirectionMatrix:
    """The matrix a run starts from (``init``'s weights, or seeded N(0, 0.03)), its config recording
    the layout, the ranges and the run's settings."""
    config = {**_matrix_config(comp, matrix_config), "train": asdict(cfg)}
    return _matrix(comp, cfg.num_layers, style_dim, init, config, cfg.seed)


def _matrix_config(comp: Components, matrix_config: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """``matrix_config`` plus the pose vector's layout, entry names and ranges."""
    return {**dict(matrix_config or {}), "layout": comp.layout, "names": list(comp.spec.names),
            "ranges": comp.spec.ranges_array().tolist()}


def _matrix(comp: Components, num_layers: int, style_dim: int, init: Optional[DirectionMatrix],
            config: Mapping[str, Any], seed: Optional[int]) -> DirectionMatrix:
    """A matrix for ``comp``'s pose vector with ``config``: ``init``'s weights (ValueError when it does not fit),
    or seeded N(0, 0.03)."""
    k = comp.spec.k
    A = DirectionMatrix(k, num_layers, style_dim, comp.spec.shift_scale, seed=seed, config=dict(config))
    if init is not None:
        if (init.k, init.num_layers, init.style_dim) != (k, num_layers, style_dim):
            raise ValueError(f"init matrix is [{init.k} -> {init.num_layers} layers x {init.style_dim}], the run "
                             f"needs [{k} -> {num_layers} layers x {style_dim}]")
        if init.shift_scale != comp.spec.shift_scale:
            raise ValueError(f"init matrix reads Δp rescaled to ±{init.shift_scale:g}, the run's pose vector to "
                             f"±{comp.spec.shift_scale:g}")
        A.load_state_dict(init.state_dict())
    return A


def save_start(comp: Components, out_dir: PathLike, init: DirectionMatrix, matrix_config: Mapping[str, Any],
               num_layers: int) -> Path:
    """Write a regression start (:func:`directions.init.regression_init`) as ``out_dir/A.pt`` without training:
    its config records ``matrix_config``, the layout and the ranges, and no ``train`` section."""
    A = _matrix(comp, num_layers, init.style_dim, init, _matrix_config(comp, matrix_config), None)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return A.save(Path(out_dir) / "A.pt")


def train_directions(comp: Components, out_dir: PathLike, cfg: DirectionsConfig, *, resume: bool = False,
                     bank: Optional[LatentBank] = None, init: Optional[DirectionMatrix] = None,
                     matrix_config: Optional[Mapping[str, Any]] = None, progress: bool = False,
                     stop_after: Optional[int] = None) -> Dict[str, Any]:
    """Train A; returns a summary (step, last evaluation, paths). Writes ``out_dir/A.pt`` (our
    format, with ``matrix_config`` plus the layout and ranges in its config) at the end.

    ``init``: a starting matrix (e.g. :func:`directions.init.regression_init`); default N(0, 0.03)
    from ``cfg.seed``. ``bank``: needed by the real and paired modes.
    """
    cfg.check()
    if cfg.mode != "synthetic" and bank is None:
        raise ValueError(f"mode {cfg.mode!r} needs a latent bank of inverted real frames")
    G = _frozen(comp)
    device = G.device
    out = Path(out_dir)
    weights = {**DEFAULT_LOSS_WEIGHTS, **cfg.loss_weights}
    centre = truncation_centre(G, seed=cfg.seed).to(device) if cfg.truncation != 1 else None
    k = comp.spec.k
    A = _new_matrix(comp, cfg, G.style_dim, init, matrix_config).to(device)
    optimizer = torch.optim.Adam(A.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    data_g = torch.Generator().manual_seed(cfg.seed)
    run_config = {**asdict(cfg), "k": k, "generator": state_digest(G),  # --resume with other weights or ranges:
                  "ranges": comp.spec.ranges_array().tolist()}         # another run
    step = 0
    running: List[Dict[str, float]] = []
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"
    state = start_run(out, resume, TRAIN_FORMAT, TRAIN_VERSION, run_config, "a directions")
    if state is not None:
        A.load_state_dict(state["A"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        set_rng_state(state["rng"], data_g)
        running = [dict(r) for r in state["running"]]

    eval_set = make_eval_pairs(G, cfg.n_eval, seed=cfg.seed + 104729, truncation=cfg.truncation, centre=centre)

    def save_state(at: int) -> None:
        save_run_state(out, TRAIN_FORMAT, TRAIN_VERSION, run_config, {
            "step": at, "A": {n: v.detach().cpu().clone() for n, v in A.state_dict().items()},
            "optimizer": optimizer.state_dict(), "rng": rng_state(data_g), "running": list(running)})

    def run_eval(step: int) -> Dict[str, float]:
        metrics, rows = evaluate_pairs(comp, A, eval_set, cfg.render_size, batch_size=cfg.batch_size,
                                       return_images=4)
        write_metrics(metrics_path, {"step": step, "split": "eval", **metrics})
        _grid(comp, rows, out / f"eval_{step:06d}.png")
        log.info("step %d eval: %s", step, ", ".join(f"{n} {v:.3f}" for n, v in metrics.items()))
        return metrics

    n_single, n_driving = batch_rows(cfg.single_attribute, cfg.driving_like, cfg.batch_size)
    last: Dict[str, float] = {}
    if step == 0 and not resume:
        last = run_eval(step)

    def train_step() -> Dict[str, str]:
        w_s, w_t, images = _batch_latents(G, cfg, bank, data_g, centre)
        parts = train_step_losses(comp, A, w_s, w_t, n_single, data_g, cfg, images, n_driving)
        loss = sum(weights[n] * v for n, v in parts.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running.append({n: float(v.detach()) for n, v in parts.items()})
        return {"loss": f"{float(loss.detach()):.4f}"}

    def evaluate(at: int) -> None:
        nonlocal last
        mean = {n: float(np.mean([r[n] for r in running])) for n in running[0]}
        write_metrics(metrics_path, {"step": at, "split": "train", **mean})
        running.clear()
        last = run_eval(at)

    loop = TrainLoop(cfg.steps, cfg.eval_every, int(cfg.checkpoint_every or cfg.eval_every), "train directions",
                     stop_after, progress)
    step = loop.run(step, train_step, evaluate, save_state)
    result = {"step": step, "complete": step >= cfg.steps, "last_eval": last, "checkpoint": str(ckpt_path)}
    if step >= cfg.steps:
        A.config["train"]["final_eval"] = last
        result["matrix"] = str(A.save(out / "A.pt"))
    return result
