"""``latentreenact eval reenact``: self- and cross-reenactment metrics of ours and two baselines over a
folder of videos (or a pairs CSV), written as frames.csv, summary.json and summary.md."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Tuple

import click
import torch

from ..evaluation.data import video_files
from ..evaluation.reenact import METHODS, evaluate_reenactment
from ..evaluation.runner import markdown_table, write_report
from ..output_paths import check_output
from ..reenact_files import load_reenactor
from .errors import reports_errors
from .options import detector_option, device_option, parse_device, progress_option, seed_option, tune_option
from .reenact import model_options


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
@tune_option()
@click.option("--identity-weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="IR-SE50 weights (model_ir_se50.pth) for CSIM and the identity-embedding FD (default: SFace).")
@click.option("--lpips-backbone", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="ImageNet AlexNet/VGG16 weights (torchvision layout) to report LPIPS.")
@click.option("--fid-features", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TorchScript Inception feature network (e.g. stylegan2-ada's inception-2015-12-05.pt) "
                   "to report FID; without it only the identity-embedding Fréchet distance is reported. "
                   "Loading it (torch.jit.load) runs the TorchScript code stored in the file: use only a file "
                   "from a source you trust.")
@model_options
@detector_option()
@device_option
@seed_option
@progress_option
@reports_errors
def reenact(data: Path, output: Path, mode: str, frames: int, methods: Tuple[str, ...], tune: str,
            identity_weights: Optional[Path], lpips_backbone: Optional[Path], fid_features: Optional[Path], model: str, exact: bool,
            truncation: Optional[float], roll_mode: str, calibrate: bool, detector: str, device: str, seed: int,
            progress: bool) -> None:
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
    check_output(output, "directory")
    torch.manual_seed(seed)
    torch_device = parse_device(device)
    reenactor = load_reenactor(model, exact=exact, truncation=truncation, device=torch_device, seed=seed,
                               detector=detector, roll=roll_mode, calibrate=calibrate)
    result = evaluate_reenactment(data, reenactor, mode=mode, frames=frames, methods=methods,
                                  tune=None if tune == "none" else tune, detector=detector,
                                  identity_weights=identity_weights, lpips_backbone=lpips_backbone,
                                  fid_features=fid_features, device=torch_device, seed=seed, model=model,
                                  progress=progress, start=start)
    paths = write_report(result, output)
    click.echo(markdown_table(result))
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)

