"""``latentreenact train directions``: train the direction matrix A (paper §3)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import click
import numpy as np

from directions.components import build_components
from directions.init import instrumented_labels, labelled_latents, regression_init, sampled_labels
from directions.matrix import DirectionMatrix
from directions.train import DEFAULT_LOSS_WEIGHTS, DirectionsConfig, LatentBank, save_start, train_directions
from inversion.losses import resolve_loss

from .. import zoo
from ..checkpoints.loading import load_generator
from ..identity.sface import EMBEDDING_DIM as SFACE_DIM
from ..net3d import get_estimator
from ..net3d.pose_vector import load_ranges
from ..output_paths import check_output
from .errors import reports_errors
from .options import device_option, parse_device, progress_option, seed_option


#: the Net3D backends that can label the regression start (bfm-fit and DECA are slower or user-supplied)
INIT_ESTIMATORS = ("bfm-net", "bfm-rigid")
#: the size at which the faces of a regression start (--init-samples) are rendered and measured (at most the
#: generator's own resolution)
LABEL_SIZE = 256


def _weights(pairs: Tuple[str, ...]) -> dict:
    out = {}
    for item in pairs:
        name, sep, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--loss-weight")
        if not math.isfinite(out[name]) or out[name] < 0:  # was: trained to NaN and written, exit 0
            raise click.BadParameter(f"{item!r}: a loss weight is a finite number >= 0", param_hint="--loss-weight")
    return out


@click.command("directions")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder (checkpoint.pt, metrics.jsonl, eval_*.png grids, A.pt).")
@click.option("--generator", "generator_path", default="mobilestylegan-ffhq-heads", show_default=True,
              help="Registered name or checkpoint; the -heads variant renders 256 px fast.")
@click.option("--ranges", "ranges_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Ranges file of the pose vector (`latentreenact stats --backend bfm-net`, with its .json); "
                   "with --init-matrix, default: the ranges stored in that matrix.")
@click.option("--mode", type=click.Choice(["synthetic", "real", "real+synthetic", "paired"]), default="synthetic",
              show_default=True,
              help="Training pairs: sampled latents, inverted real frames (--bank), half each, or source and "
                   "target frames of one video (--bank with images).")
@click.option("--bank", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Latent bank {'wplus', 'group'[, 'images']} of inverted real frames (real / paired modes).")
@click.option("--init-from-data", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Start from the ridge regression of latents on pose vectors over this `net3d dataset` folder.")
@click.option("--init-samples", type=click.IntRange(64, None), default=None,
              help="Start from the ridge regression over this many new faces (seeded by --seed), measured by "
                   "--init-estimator (instead of --init-from-data).")
@click.option("--init-estimator", type=click.Choice(INIT_ESTIMATORS), default="bfm-net", show_default=True,
              help="Net3D backend that measures the faces of the regression start (--init-samples, "
                   "--init-from-data). bfm-rigid is what the reenactor drives with, so A's start reads Δp in the "
                   "driving measurement's own terms (the shipped A, docs/directions.md); training itself always "
                   "measures with the differentiable bfm-net.")
@click.option("--init-instrument", type=click.Choice(("none",) + INIT_ESTIMATORS), default="none", show_default=True,
              help="With --init-samples: a second estimator that also measures the faces; its yaw and pitch are the "
                   "instruments of a two-stage least-squares start, which undoes the shrinkage that noise in "
                   "--init-estimator's angle labels causes (directions.init.instrumented_labels; the shipped A: "
                   "bfm-rigid labels, bfm-net instruments).")
@click.option("--init-hold", type=click.Choice(["identity", "none"]), default="identity", show_default=True,
              help="With --init-samples: hold the faces' SFace identity embedding fixed in the regression (it "
                   "enters as covariates), so that what co-varies with pose through identity (age, sex, hair, "
                   "glasses) is left out of A's start.")
@click.option("--init-matrix", default=None,
              help="Start from this matrix (a registered name such as directions-mobilestylegan-ffhq, or an A.pt "
                   "of ours): its weights and its pose-vector ranges (instead of a regression start).")
@click.option("--steps", type=click.IntRange(0, None), required=True,
              help="Optimiser steps; 0 writes the regression start itself as OUTPUT/A.pt (no training).")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=12, show_default=True,
              help="Source/target pairs per step.")
@click.option("--lr", type=click.FloatRange(0.0, None, min_open=True), default=1e-4, show_default=True,
              help="Adam learning rate (weight decay 5e-4).")
@click.option("--render-size", type=click.IntRange(16, 1024), default=256, show_default=True,
              help="Pixels the pairs are rendered and measured at.")
@click.option("--loss-weight", "loss_weights", multiple=True, metavar="NAME=VALUE",
              help="Override a loss weight (shape, eye, mouth, identity, perceptual, pixel); repeatable.")
@click.option("--single-share", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Share of each batch whose target edits one random entry of the source's vector.")
@click.option("--driving-share", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Share of each batch that moves like a driving clip: small head turns from the source "
                   "(see --driving-angle-scale) with the target's expression (docs/directions.md).")
@click.option("--driving-angle-scale", type=click.FloatRange(0.0, None, min_open=True), default=0.6,
              show_default=True,
              help="Laplace scale, in rescaled units of A's range, of the driving-like rows' head turns.")
@click.option("--eval-every", type=click.IntRange(1, None), default=500, show_default=True,
              help="Score the held-out pairs every this many steps (metrics.jsonl).")
@click.option("--n-eval", type=click.IntRange(1, None), default=16, show_default=True,
              help="Held-out synthetic pairs (fixed by the seed).")
@seed_option
@click.option("--resume", is_flag=True, help="Continue the run in OUTPUT/checkpoint.pt (same options).")
@device_option
@progress_option
@reports_errors
def directions(output: Path, generator_path: str, ranges_path: Optional[Path], mode: str, bank: Optional[Path],
               init_from_data: Optional[Path], init_samples: Optional[int], init_estimator: str,
               init_instrument: str, init_hold: str,
               init_matrix: Optional[str], steps: int, batch_size: int, lr: float, render_size: int,
               loss_weights: Tuple[str, ...], single_share: float, driving_share: float,
               driving_angle_scale: float, eval_every: int, n_eval: int, seed: int, resume: bool, device: str,
               progress: bool) -> None:
    """Train A (Δw = A Δp) with the bfm-net estimator: shape, eye, mouth, identity and perceptual
    losses (pixel too in paired mode), Adam on A only; writes OUTPUT/A.pt."""
    check_output(output, "directory")
    weights = {**DEFAULT_LOSS_WEIGHTS, **_weights(loss_weights)}
    starts = [name for name, value in (("--init-from-data", init_from_data), ("--init-samples", init_samples),
                                       ("--init-matrix", init_matrix)) if value is not None]
    if len(starts) > 1:
        raise click.BadParameter(f"give one of {' / '.join(starts)}, not both", param_hint=starts[-1])
    if init_instrument != "none" and (init_samples is None or init_instrument == init_estimator):
        raise click.BadParameter("an instrument needs --init-samples and another estimator than --init-estimator",
                                 param_hint="--init-instrument")
    if steps == 0 and init_from_data is None and init_samples is None:
        raise click.BadParameter("0 steps writes a regression start: give --init-samples or --init-from-data",
                                 param_hint="--steps")
    start = _start_matrix(init_matrix) if init_matrix is not None else None
    ranges = _ranges(ranges_path, start)
    torch_device = parse_device(device)
    if single_share + driving_share > 1:
        raise click.BadParameter(f"--single-share {single_share} + --driving-share {driving_share} exceeds 1",
                                 param_hint="--driving-share")
    cfg = DirectionsConfig(steps=max(steps, 1), mode=mode, batch_size=batch_size, lr=lr, render_size=render_size,
                           loss_weights=weights, single_attribute=single_share, driving_like=driving_share,
                           driving_angle_scale=driving_angle_scale, eval_every=eval_every, n_eval=n_eval, seed=seed)
    cfg.check()
    generator = load_generator(generator_path, device=torch_device)
    if render_size > generator.resolution:  # before any work (was: "size must be in [1, 32], got 256" mid-run)
        raise click.BadParameter(f"{render_size} px is more than the generator renders ({generator.resolution} px "
                                 f"{generator_path}); give --render-size {generator.resolution} or less",
                                 param_hint="--render-size")
    comp = build_components(generator, ranges, device=torch_device,
                            identity="sface" if weights["identity"] > 0 else "none",
                            perceptual="default" if weights["perceptual"] > 0 else "none")
    init = start
    def estimator(name: str) -> Any:  # the trainer's bfm-net when asked for, else a new backend
        return comp.estimator if name == "bfm-net" else get_estimator(name)

    labeller = estimator(init_estimator)
    registered_heads = zoo.is_registered(generator_path) and generator_path.endswith("-heads")
    matrix_config = {"generator": generator_path[:-len("-heads")] if registered_heads else generator_path,
                     "backend": "bfm-net",
                     **({"init_matrix": init_matrix} if init_matrix else {})}
    if init_from_data is not None:
        w, p = labelled_latents(generator, labeller, str(init_from_data))
        init = regression_init(w, p, comp.spec, cfg.num_layers)
    elif init_samples is not None:
        regressors = comp.spec.k + (SFACE_DIM if init_hold == "identity" else 0)
        if init_samples <= regressors:  # here, not after labelling them all
            raise click.BadParameter(f"the regression start fits {regressors} regressors (the pose vector"
                                     f"{' and the identity embedding' if init_hold == 'identity' else ''}): give "
                                     f"more samples than that (a few thousand are used)", param_hint="--init-samples")
        hold = resolve_loss("sface", "identity", torch_device) if init_hold == "identity" else None
        labellers = [labeller] + ([] if init_instrument == "none" else [estimator(init_instrument)])
        w, ps, embedding = sampled_labels(generator, labellers, init_samples, seed=seed, truncation=cfg.truncation,
                                          size=min(LABEL_SIZE, generator.resolution), identity=hold,
                                          progress=progress)
        p = ps[0] if len(ps) == 1 else instrumented_labels(ps[0], ps[1], comp.spec, covariates=embedding)
        init = regression_init(w, p, comp.spec, cfg.num_layers, covariates=embedding)
    if init is not start:
        matrix_config["init"] = {"estimator": init_estimator, "hold": init_hold if init_samples else "none",
                                 "instrument": init_instrument,
                                 "samples": int(w.shape[0]), "seed": seed,
                                 **({"data": str(init_from_data)} if init_from_data is not None else {})}
    if steps == 0:
        path = save_start(comp, output, init, {**matrix_config, "backend": init_estimator}, cfg.num_layers)
        click.echo(f"regression start over {int(w.shape[0])} faces labelled by {init_estimator}, no training: "
                   f"A: {path}", err=True)
        return
    result = train_directions(comp, output, cfg, resume=resume, bank=LatentBank.load(bank) if bank else None,
                              init=init, progress=progress, matrix_config=matrix_config)
    last = result["last_eval"]
    click.echo(f"step {result['step']}: pose error {last.get('pose_error', float('nan')):.2f} deg, identity "
               f"similarity {last.get('identity_similarity', float('nan')):.3f}; A: {result.get('matrix')}", err=True)


def _start_matrix(name: str) -> DirectionMatrix:
    """The matrix named by --init-matrix (a registered directions model or a file of ours)."""
    path = zoo.model_file(name, kind="directions") if zoo.is_registered(name) else Path(name)
    if not path.is_file():
        raise click.BadParameter(f"{name}: neither a registered directions model nor a file", param_hint="--init-matrix")
    matrix = DirectionMatrix.load(path)
    if "ranges" not in matrix.config:
        raise click.BadParameter(f"{path}: the matrix stores no pose-vector ranges (a released A_matrix.pt?); "
                                 f"convert it with its ranges first", param_hint="--init-matrix")
    return matrix


def _ranges(path: Optional[Path], start: Optional[DirectionMatrix]) -> Union[str, np.ndarray]:
    """The pose-vector ranges of the run: the file, or those stored in the start matrix (they must agree)."""
    stored = None if start is None else np.asarray(start.config["ranges"], dtype=np.float64)
    if path is None:
        if stored is None:
            raise click.BadParameter("give --ranges (or --init-matrix, whose ranges are used)", param_hint="--ranges")
        return stored
    ranges = load_ranges(path)  # read now: a file that is not a ranges file fails before any model loads
    if stored is not None and not np.allclose(ranges, stored):
        raise click.BadParameter(f"{path} differs from the ranges stored in the --init-matrix matrix",
                                 param_hint="--ranges")
    return str(path)
