"""dlib model objects, loaded on first use and cached for the life of the process.

dlib's object detectors keep scratch buffers in the detector object, so one instance must not run in two
threads at once (dlib's documentation of ``object_detector``; it corrupts memory). The detectors are
therefore lent: HOG detectors from a pool that grows to the number of threads detecting at the same time,
and the MMOD and descriptor networks (which keep their activations in the object too) under a lock. The shape
predictors are read-only and shared.
"""

from __future__ import annotations

import functools
import logging
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List

from .model_files import dlib_model_path, import_dlib

log = logging.getLogger(__name__)


_hog_idle: List[Any] = []
_hog_lock = threading.Lock()
_mmod_lock = threading.Lock()


@contextmanager
def lend_hog_detector() -> Iterator[Any]:
    """A dlib HOG + linear SVM frontal face detector (built into dlib) for this thread's exclusive use
    while the ``with`` block runs: an idle one from the pool, or a new one (about 0.2 s to build)."""
    with _hog_lock:
        detector = _hog_idle.pop() if _hog_idle else None
    if detector is None:
        detector = import_dlib().get_frontal_face_detector()
    try:
        yield detector
    finally:
        with _hog_lock:
            _hog_idle.append(detector)


@functools.lru_cache(maxsize=None)
def _mmod_network() -> Any:
    path = dlib_model_path("mmod")
    log.debug("loading %s", path)
    return import_dlib().cnn_face_detection_model_v1(str(path))


@contextmanager
def lend_mmod_detector() -> Iterator[Any]:
    """dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``), held by this thread while the
    ``with`` block runs (other threads wait)."""
    with _mmod_lock:
        yield _mmod_network()


@functools.lru_cache(maxsize=None)
def shape_predictor(points: int = 68) -> Any:
    """dlib's 68-point (iBUG) or 5-point shape predictor."""
    if points not in (5, 68):
        raise ValueError(f"dlib ships 5- and 68-point predictors, not {points}")
    path = dlib_model_path("landmarks68" if points == 68 else "landmarks5")
    log.debug("loading %s", path)
    return import_dlib().shape_predictor(str(path))


@functools.lru_cache(maxsize=None)
def _descriptor_network() -> Any:
    path = dlib_model_path("descriptor")
    log.debug("loading %s", path)
    return import_dlib().face_recognition_model_v1(str(path))


_descriptor_lock = threading.Lock()


@contextmanager
def lend_face_descriptor_model() -> Iterator[Any]:
    """dlib's ResNet-29 128-d face descriptor (``dlib_face_recognition_resnet_model_v1.dat``), held by this
    thread while the ``with`` block runs (a network, like MMOD's: other threads wait)."""
    with _descriptor_lock:
        yield _descriptor_network()


def dlib_rectangle(box: Any) -> Any:
    """A ``dlib.rectangle`` from (x0, y0, x1, y1) floats (rounded to whole pixels)."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return import_dlib().rectangle(x0, y0, x1, y1)
