"""Align the face of one image file into a crop and its record (``latentreenact faces align``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..fileio import atomic_path
from ..images import save_image
from .alignment import align_face, transform_points
from .detection import find_face
from .image_input import read_image
from .types import FaceIndexError, NoFaceError


def align_image_file(path: Path, output: Path, size: int, mode: str, detector: str, upsample: int,
                     index: Optional[int]) -> Dict[str, Any]:
    """Align the face in one image file; write ``<stem>.png`` and ``<stem>.json`` together (atomically).

    Returns the JSON record (source, box, score, landmarks in the image and the crop, the
    crop-to-image transform). A ``FaceIndexError`` becomes a ``ValueError``.
    """
    image = read_image(path)
    try:
        face = find_face(image, index=index, detector=detector, upsample=upsample, name=str(path),
                         warn_several=index is None)
    except FaceIndexError as exc:
        raise ValueError(str(exc)) from exc
    except NoFaceError as exc:
        if detector == "yunet" or upsample >= 4:  # YuNet ignores upsample; 4 is the command's largest
            raise
        raise NoFaceError(f"{exc}; a larger --upsample (now {upsample}) finds smaller faces") from exc
    crop, transform = align_face(image, face.landmarks, size=size, mode=mode)
    record = {
        "source": str(path), "image_size": [int(image.shape[1]), int(image.shape[0])],
        "mode": mode, "size": size, "detector": detector, "upsample": upsample,
        "box": [float(v) for v in face.box], "score": float(face.score),
        "landmarks": np.asarray(face.landmarks, dtype=float).round(3).tolist(),
        "landmarks_crop": transform_points(np.linalg.inv(transform), face.landmarks).round(3).tolist(),
        "crop_to_image": np.asarray(transform, dtype=float).tolist(),
    }
    png, js = output / f"{path.stem}.png", output / f"{path.stem}.json"
    # Both files appear together or not at all: the JSON is renamed first, the PNG last.
    with atomic_path(png) as tmp_png:
        save_image(crop, tmp_png)
        with atomic_path(js) as tmp_js:
            tmp_js.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return record
