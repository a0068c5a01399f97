"""dlib's 128-d ResNet face descriptor: an independent, non-differentiable identity metric.

The descriptor (``dlib_face_recognition_resnet_model_v1.dat``, CC0) is computed on dlib's own
150 px face chip aligned with the 5-point predictor. dlib's convention: Euclidean distance
< 0.6 means the same person (99.38% on LFW).
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ..faces.dlib_models import dlib_rectangle, lend_face_descriptor_model, shape_predictor
from ..faces.image_input import as_rgb_uint8
from ..faces.types import Face

SAME_PERSON_DISTANCE = 0.6


def dlib_face_descriptor(image: np.ndarray, face: Union[Face, Sequence[float]], num_jitters: int = 0) -> np.ndarray:
    """The 128-d descriptor (float32) of the face in ``face`` (a ``Face`` or a box x0, y0, x1, y1)."""
    rgb = as_rgb_uint8(image)
    box = face.box if isinstance(face, Face) else face
    shape = shape_predictor(5)(rgb, dlib_rectangle(box))
    with lend_face_descriptor_model() as model:
        descriptor = model.compute_face_descriptor(rgb, shape, int(num_jitters))
    return np.asarray(descriptor, dtype=np.float32)


def dlib_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two dlib descriptors (< 0.6: same person by dlib's threshold)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
