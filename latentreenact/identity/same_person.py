"""Is a rendered face the same person as the source? dlib's descriptor distance between two face images.

dlib's ResNet descriptor (Euclidean distance; < 0.6 is the same person by dlib's convention) is not a
loss of any trainer here (inversion and tuning optimise SFace), so it also serves the independent
judge (``latentreenact.judge``) and the reenactor's check that an inversion kept the person.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..faces.detection import detect_faces
from ..faces.image_input import as_rgb_uint8
from ..faces.landmarks import landmarks_68
from ..faces.types import Face
from .dlib_descriptor import SAME_PERSON_DISTANCE, dlib_distance, dlib_face_descriptor

__all__ = ["SAME_PERSON_DISTANCE", "face_distance", "identity_descriptor", "largest_face"]


def largest_face(image: np.ndarray, detector: str = "hog") -> Optional[Face]:
    """The largest face with its 68 landmarks (``detector``, then dlib's MMOD CNN if it finds none), or None."""
    rgb = as_rgb_uint8(image)
    faces = detect_faces(rgb, detector=detector, upsample=1)
    if not faces and detector != "mmod":
        faces = detect_faces(rgb, detector="mmod", upsample=1)
    if not faces:
        return None
    face = faces[0]
    face.landmarks = landmarks_68(rgb, face.box)
    return face


def identity_descriptor(image: np.ndarray, face: Optional[Face] = None, detector: str = "hog") -> Optional[np.ndarray]:
    """dlib's 128-d descriptor of ``face`` (default: :func:`largest_face`) in ``image``, or None without a face."""
    rgb = as_rgb_uint8(image)
    face = face if face is not None else largest_face(rgb, detector)
    return dlib_face_descriptor(rgb, face) if face is not None else None


def face_distance(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    """dlib distance between the largest faces of two images (None when either has no face)."""
    da, db = identity_descriptor(a), identity_descriptor(b)
    return None if da is None or db is None else float(dlib_distance(da, db))
