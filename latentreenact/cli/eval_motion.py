"""``latentreenact eval motion``: how much of a driving clip's motion (head pitch / yaw / roll, mouth and eye
opening) the reenacted face follows, and whether it stays the source person, as measured by the independent
judge (MediaPipe face mesh in ``.venv-judge`` and dlib's descriptor; see ``latentreenact.judge``). Writes
motion.json, motion.md, and per source × clip a plot of the series and a sheet of six driving frames above
the matching outputs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional, Tuple

import click
import torch

from ..evaluation.acceptance import acceptance, acceptance_markdown
from ..evaluation.motion import evaluate_motion, markdown_report, write_motion_report
from ..judge import FaceJudge, JudgeUnavailableError, JudgeWorkerError, judge_python
from ..output_paths import check_output
from ..reenact_files import load_reenactor
from ..reenact_video import ReenactOptions, folder_images
from ..video import probe_video
from .errors import EXIT_MISSING_EXTRA, fail, reports_errors
from .options import (detector_option, device_option, expression_option, eyes_option, limit_of, limit_option,
                      mouth_option, parse_device, progress_option, seed_option, tune_option, tune_steps_option)
from .reenact import model_options


def _images(paths: Tuple[Path, ...]) -> List[Path]:
    files: List[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"source not found: {path}")
        files.extend(folder_images(path, role="source") if path.is_dir() else [path])
    return files


@click.command("motion")
@click.option("--source", "sources", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Source photo or folder of photos (repeatable).")
@click.option("--driving", "drivings", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Driving video (repeatable).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for motion.json, motion.md, the plots and the frame sheets.")
@tune_option()
@tune_steps_option
@click.option("--smoothing", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.5, show_default=True,
              help="Exponential moving average of the driving pose (as `reenact` does for videos).")
@expression_option
@eyes_option
@mouth_option
@limit_option
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Use only the first N frames of each clip.")
@click.option("--mirror/--no-mirror", default=True, show_default=True,
              help="Average the judge's measurement of each frame with that of its mirror image.")
@model_options
@click.option("--batch-size", type=click.IntRange(1, 1024), default=8, show_default=True,
              help="Frames per Net3D / generator pass.")
@detector_option("Face detector for the reenactor's alignment and dlib's identity descriptor.")
@device_option
@seed_option
@progress_option
@reports_errors
def motion(sources: Tuple[Path, ...], drivings: Tuple[Path, ...], output: Path, tune: str, tune_steps: Optional[int],
           smoothing: float, expression: str, follow_eyes: Optional[bool], follow_mouth: Optional[bool],
           expression_limit: Optional[float], max_frames: Optional[int], mirror: bool, model: str, exact: bool,
           truncation: Optional[float], roll_mode: str, calibrate: bool, batch_size: int, detector: str, device: str,
           seed: int,
           progress: bool) -> None:
    """Measure motion transfer from driving clips to source photos with the independent judge."""
    start = time.perf_counter()
    photos = _images(sources)
    for clip in drivings:
        if not clip.is_file():
            raise FileNotFoundError(f"driving clip not found: {clip}")
        probe_video(clip)  # an unreadable clip fails (exit 5) before any model loads
    check_output(output, "directory")
    try:
        judge_python()
        judge = FaceJudge(mirror=mirror)
        judge.mesh.start()  # type: ignore[attr-defined]
    except JudgeUnavailableError as exc:
        fail(str(exc), EXIT_MISSING_EXTRA)
    torch.manual_seed(seed)
    with judge:
        reenactor = load_reenactor(model, exact=exact, truncation=truncation, device=parse_device(device), seed=seed,
                                   detector=detector, roll=roll_mode, calibrate=calibrate)
        try:
            options = ReenactOptions(smoothing=smoothing, batch_size=batch_size,
                                     absolute_expression=expression == "absolute", follow_eyes=follow_eyes,
                                     follow_mouth=follow_mouth, expression_limit=limit_of(expression_limit))
            results = evaluate_motion(reenactor, photos, list(drivings), judge, tune=tune, tune_steps=tune_steps,
                                      options=options, max_frames=max_frames, detector=detector, progress=progress)
        except JudgeWorkerError as exc:  # the judge's helper process died mid-run
            fail(f"the judge failed: {exc}", EXIT_MISSING_EXTRA)
        version = judge.mesh.version  # type: ignore[attr-defined]
    meta = {"sources": [str(p) for p in photos], "drivings": [str(p) for p in drivings], "model": model,
            "tune": tune, "tune_steps": tune_steps, "smoothing": smoothing, "expression": expression,
            "follow_eyes": "auto" if follow_eyes is None else follow_eyes,
            "follow_mouth": "auto" if follow_mouth is None else follow_mouth,
            "expression_limit": limit_of(expression_limit),
            "max_frames": max_frames,
            "mirror": mirror, "seed": seed, "device": device, "roll_mode": roll_mode, "calibrate": calibrate,
            "judge": f"mediapipe {version} face mesh, dlib descriptor",
            "seconds": round(time.perf_counter() - start, 1)}
    paths = write_motion_report(results, output, meta)
    click.echo(markdown_report(results))
    click.echo(acceptance_markdown(acceptance([r.to_json() for r in results])))
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)
