"""Head pose and expression of every face in image files by the 3D landmark fit
(``latentreenact faces pose``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..faces import NoFaceError, detect_faces, find_face, read_image
from ..shape3d import LandmarkFitter

log = logging.getLogger(__name__)

#: the image files :func:`image_files` lists in a folder
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: the fitted values each record gets
POSE_KEYS = ("yaw", "pitch", "roll", "expression", "fit_error_px")


def image_files(path: Path) -> List[Path]:
    """``[path]`` for a file, the sorted images of a folder (ValueError if none), FileNotFoundError otherwise."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    return [path]


def face_poses(files: Sequence[Path], path: Path, detector: str = "hog", face_index: Optional[int] = None,
               noise: float = 0.02, warn: Callable[[str], None] = log.warning) -> List[Dict[str, Any]]:
    """One record per face (``image``, ``face``, ``box`` and :data:`POSE_KEYS`) in ``files`` (listed from ``path``).

    ``face_index``: only that face of each image (0 = largest); default every face. Images
    without a face, and faces whose fit fails, are skipped with a ``warn`` message (a single
    image without a face, or no face or fit at all, raises NoFaceError / ValueError).
    """
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
                warn(f"no face found in {name}")
                continue
            faces = [(i, find_face(image, index=i, detector=detector, name=name)) for i in range(count)]
        for i, face in faces:
            records.append({"image": name, "face": i, "box": [float(v) for v in face.box]})
            landmarks.append(np.asarray(face.landmarks, dtype=np.float64))
    if not records:
        raise NoFaceError(f"no face found in any image of {path}")
    items = _fit_all(LandmarkFitter(noise=noise), landmarks, records, warn)
    records = [dict(r, **{key: item[key] for key in POSE_KEYS}) for r, item in zip(records, items) if item is not None]
    if not records:
        raise ValueError(f"the landmark fit failed for every face in {path}")
    return records


def _fit_all(fitter: LandmarkFitter, landmarks: List[np.ndarray], records: List[dict],
             warn: Callable[[str], None]) -> List[Optional[dict]]:
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
                warn(f"landmark fit failed for {record['image']} face {record['face']}: {exc}")
                items.append(None)
        return items
