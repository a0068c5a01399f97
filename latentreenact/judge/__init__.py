"""The independent judge: measures head pose change, mouth and eye opening with MediaPipe's face mesh (in a
helper environment, ``make judge-env``) and identity with dlib's descriptor, none of which the method uses.

The measuring modules import only ``latentreenact.faces`` and ``latentreenact.identity``. The judge's ground truth for
out-of-plane turns (:mod:`~latentreenact.judge.turned_face`, not imported here) also uses the 3D face model's landmark
fit (``latentreenact.shape3d``) to shape the surface it turns; the rotation it applies is exact whatever that fit
finds. Nothing is loaded at import; the MediaPipe helper process starts on the first measurement.
"""

from .errors import INSTALL_HINT, JudgeNoFaceError, JudgeUnavailableError, JudgeWorkerError
from .geometry import euler_from_rotation, gain, mirror_points, pearson, procrustes, rotation_from_euler
from .identity import SAME_PERSON_DISTANCE, dlib_distance, face_distance, identity_descriptor, largest_face
from .mesh import JUDGE_PYTHON_ENV, FaceMeshClient, judge_available, judge_python
from .skin import SKIN_MESH_POINTS, skin_reading
from .signals import (RIGID, SIGNALS, UNITS, FaceJudge, MotionSeries, eye_opening, model_frame, motion_series,
                      mouth_opening, mouth_width, relative_pose)

__all__ = [
    "INSTALL_HINT", "JUDGE_PYTHON_ENV", "RIGID", "SAME_PERSON_DISTANCE", "SIGNALS", "SKIN_MESH_POINTS", "UNITS",
    "FaceJudge", "FaceMeshClient", "JudgeNoFaceError", "JudgeUnavailableError", "JudgeWorkerError", "MotionSeries",
    "dlib_distance", "euler_from_rotation", "face_distance", "eye_opening", "gain", "identity_descriptor",
    "judge_available", "judge_python", "largest_face", "mirror_points", "model_frame", "motion_series",
    "mouth_opening", "mouth_width", "pearson", "procrustes", "relative_pose", "rotation_from_euler", "skin_reading",
]
