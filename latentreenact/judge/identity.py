"""Identity by dlib's ResNet descriptor (Euclidean distance; < 0.6 is the same person by dlib's convention).

No trainer of the project uses it as a loss, so it is independent of SFace / IR-SE50, which the method's
inversion and tuning optimise against. The code lives in :mod:`latentreenact.identity.same_person`.
"""

from __future__ import annotations

from ..identity.dlib_descriptor import dlib_distance
from ..identity.same_person import SAME_PERSON_DISTANCE, face_distance, identity_descriptor, largest_face

__all__ = ["SAME_PERSON_DISTANCE", "dlib_distance", "face_distance", "identity_descriptor", "largest_face"]
