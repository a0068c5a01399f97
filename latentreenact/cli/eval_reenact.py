"""``latentreenact eval reenact``: self- and cross-reenactment metrics of ours and two baselines over a
folder of videos (or a pairs CSV), written as frames.csv, summary.json and summary.md."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Optional, Tuple

import click
import torch

from inversion.losses import sface_feature_loss

from ..evaluation.data import clips_from_videos, pair_clips, video_files
from ..evaluation.methods import IdentityBaseline, ReenactorMethod, WarpBaseline, dlib_landmarks
from ..evaluation.runner import evaluate, markdown_table, write_report
from ..evaluation.scoring import Scorer, dlib_face
from ..identity.irse50 import load_irse50
from ..metrics.features import IdentityFeatures, TorchScriptFeatures
from ..perceptual import LPIPS
from ..reenactor import Reenactor
from .errors import reports_errors
from .options import detector_option, device_option, parse_device, progress_option, seed_option
from .reenact import model_options

METHODS = ("ours", "identity", "warp")


@click.command("reenact")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for frames.csv, summary.json and summary.md.")
@click.option("--mode", type=click.Choice(["self", "cross", "both"]), default="both", show_default=True,
              help="Videos: self (each video drives its own first frame), cross (another video drives it) or both. "
                   "A pairs CSV decides per row (a target column makes it self).")
@click.option("--frames", type=click.IntRange(1, 10000), default=8, show_default=True,
              help="Driving frames per video, evenly spaced after the source frame.")
@click.option("--methods", "methods", multiple=True, type=click.Choice(METHODS), default=METHODS,
              show_default=True, help="Methods to compare (repeatable).")
@click.option("--tune", type=click.Choice(["none", "released", "pti"]), default="none", show_default=True,
              help="Pivotal tuning of the generator on each source (ours).")
@click.option("--identity-weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="IR-SE50 weights (model_ir_se50.pth) for CSIM and the identity-embedding FD (default: SFace).")
@click.option("--lpips-backbone", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="ImageNet AlexNet/VGG16 weights (torchvision layout) to report LPIPS.")
@click.option("--fid-features", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TorchScript Inception feature network (e.g. stylegan2-ada's inception-2015-12-05.pt) "
                   "to report FID; without it only the identity-embedding Fréchet distance is reported.")
@model_options
@detector_option()
@device_option
@seed_option
@progress_option
@reports_errors
def reenact(data: Path, output: Path, mode: str, frames: int, methods: Tuple[str, ...], tune: str,
            identity_weights: Optional[Path], lpips_backbone: Optional[Path], fid_features: Optional[Path], model: str, exact: bool,
            truncation: Optional[float], detector: str, device: str, seed: int, progress: bool) -> None:
    """Evaluate reenactment on DATA: a folder of videos or a pairs CSV (source,driving[,target])."""
    start = time.perf_counter()
    if not data.exists():
        raise FileNotFoundError(f"evaluation data not found: {data}")
    files = video_files(data) if data.is_dir() else None
    if files is None and data.suffix.lower() != ".csv":
        raise click.BadParameter(f"{data}: give a folder of videos or a .csv of pairs", param_hint="DATA")
    if files is not None and mode in ("cross", "both") and len(files) < 2:
        raise click.BadParameter(f"cross-reenactment needs two or more videos; {data} has {len(files)}",
                                 param_hint="--mode")
    torch.manual_seed(seed)
    torch_device = parse_device(device)
    overrides = {"detector": detector, **({"truncation": truncation} if truncation is not None else {})}
    reenactor = Reenactor.from_pretrained(model, device=torch_device, seed=seed, exact=exact, **overrides)
    align = functools.partial(_align, reenactor)
    if files is not None:
        modes = ("self", "cross") if mode == "both" else (mode,)
        clips = clips_from_videos(files, frames, align, modes, seed)
    else:
        clips = pair_clips(data, align)
    face = dlib_face(detector)
    chosen = []
    for name in methods:
        if name == "ours":
            label = "ours (latentreenact)" if tune == "none" else f"ours (latentreenact, tuned: {tune})"
            chosen.append(ReenactorMethod(reenactor, name=label, tune=None if tune == "none" else tune))
        elif name == "identity":
            chosen.append(IdentityBaseline())
        else:
            chosen.append(WarpBaseline(dlib_landmarks(detector)))
    lpips = None
    if lpips_backbone is not None:
        lpips = LPIPS.load(lpips_backbone).to(torch_device).eval()

    if identity_weights is not None:
        identity = IdentityFeatures(load_irse50(identity_weights, torch_device), device=torch_device,
                                    name="identity-embedding (ir-se50)", crop="e4e")
    else:
        identity = IdentityFeatures(device=torch_device)
    scorer = Scorer(reenactor.estimator, reenactor.spec.names, identity, face,
                    perceptual=sface_feature_loss(torch_device), lpips=lpips,
                    fid_features=None if fid_features is None else TorchScriptFeatures(fid_features, device=torch_device),
                    device=torch_device)
    result = evaluate(clips, chosen, scorer, progress=progress)
    result.meta = {"data": str(data), "mode": mode, "frames_per_video": frames, "methods": [m.name for m in chosen],
                   "model": model, "tune": tune, "seed": seed, "device": str(torch_device),
                   "clips": len(clips), "identity": identity.name, "lpips": lpips is not None,
                   "fid": fid_features is not None, "seconds": round(time.perf_counter() - start, 1),
                   "warp_fallbacks": sum(getattr(m, "fallbacks", 0) for m in chosen)}
    paths = write_report(result, output)
    click.echo(markdown_table(result))
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)


def _align(reenactor: object, frame: object, name: str) -> object:
    return reenactor.driving_crop(frame, True, name)  # type: ignore[attr-defined]
