"""``latentreenact demo``: serve the Gradio app (``demo/``) on the local machine."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Optional

import click

from demo.app import serve
from demo.session import DemoLimits, DemoSession

from ..reenact_files import load_reenactor
from .errors import EXIT_MISSING_EXTRA, fail, reports_errors
from .options import detector_option, device_option, parse_device, seed_option
from .reenact import model_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 exposes the demo to your network).")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True,
              help="Port (0: any free port).")
@click.option("--max-frames", type=click.IntRange(1), default=300, show_default=True,
              help="Driving frames used per request (longer clips are cut, with a notice).")
@click.option("--max-upload-mb", type=click.IntRange(1), default=50, show_default=True, help="Largest upload.")
@click.option("--max-tune-steps", type=click.IntRange(1), default=400, show_default=True,
              help="Largest tuning step count a user may ask for.")
@click.option("--time-limit", type=click.FloatRange(min=1.0), default=300.0, show_default=True,
              help="Seconds one request may work (detection, inversion, tuning, frames); longer ones are stopped.")
@click.option("--temp-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="LATENTREENACT_DEMO_TMPDIR", show_envvar=True,
              help="Where the demo's temporary folder (uploads, results) is made; it is removed on exit "
                   "(SIGTERM, SIGINT). Default: the system's temporary folder.")
@click.option("--examples/--no-examples", default=True, show_default=True,
              help="Offer the bundled example source and driving clip.")
@model_options
@detector_option()
@device_option
@seed_option
@reports_errors
def demo(host: str, port: int, max_frames: int, max_upload_mb: int, max_tune_steps: int, time_limit: float,
         temp_dir: Optional[Path], examples: bool, model: str, exact: bool, truncation: Optional[float],
         roll_mode: str, calibrate: bool, detector: str, device: str, seed: int) -> None:
    """Serve the Gradio demo (reenact and edit tabs) until SIGTERM or SIGINT (Ctrl+C); then remove its files."""
    if importlib.util.find_spec("gradio") is None:  # checked before the models load
        fail("the demo needs Gradio: pip install 'latentreenact[demo]'", EXIT_MISSING_EXTRA)

    factory = functools.partial(load_reenactor, model, exact=exact, truncation=truncation, device=parse_device(device),
                                seed=seed, detector=detector, roll=roll_mode, calibrate=calibrate)
    session = DemoSession(factory, DemoLimits(max_upload_mb=max_upload_mb, max_frames=max_frames,
                                              max_tune_steps=max_tune_steps, time_limit_s=time_limit),
                          temp_root=temp_dir)
    click.echo("loading the models ...", err=True)
    stopped_by = serve(session, host=host, port=port, examples=examples,
                       ready=lambda url: click.echo(f"latentreenact demo at {url} (Ctrl+C stops it)", err=True))
    click.echo(f"stopped ({stopped_by}); temporary files removed", err=True)
