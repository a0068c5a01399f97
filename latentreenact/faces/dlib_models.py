"""dlib model objects, loaded on first use and cached for the life of the process."""

from __future__ import annotations

import functools
import logging
from typing import Any

from .model_files import dlib_model_path, import_dlib

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def hog_detector() -> Any:
    """dlib's HOG + linear SVM frontal face detector (built into dlib)."""
    return import_dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=None)
def mmod_detector() -> Any:
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``)."""
    path = dlib_model_path("mmod")
    log.debug("loading %s", path)
    return import_dlib().cnn_face_detection_model_v1(str(path))


@functools.lru_cache(maxsize=None)
def shape_predictor(points: int = 68) -> Any:
    """dlib's 68-point (iBUG) or 5-point shape predictor."""
    if points not in (5, 68):
        raise ValueError(f"dlib ships 5- and 68-point predictors, not {points}")
    path = dlib_model_path("landmarks68" if points == 68 else "landmarks5")
    log.debug("loading %s", path)
    return import_dlib().shape_predictor(str(path))


@functools.lru_cache(maxsize=None)
def face_descriptor_model() -> Any:
    """dlib's ResNet-29 128-d face descriptor (``dlib_face_recognition_resnet_model_v1.dat``)."""
    path = dlib_model_path("descriptor")
    log.debug("loading %s", path)
    return import_dlib().face_recognition_model_v1(str(path))


def dlib_rectangle(box: Any) -> Any:
    """A ``dlib.rectangle`` from (x0, y0, x1, y1) floats (rounded to whole pixels)."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return import_dlib().rectangle(x0, y0, x1, y1)
