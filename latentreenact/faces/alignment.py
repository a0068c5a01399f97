"""FFHQ alignment (eye/mouth quad) and the VoxCeleb landmark-box crop, both with their transforms."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..images import resize_square
from .detection import find_face
from .landmarks import LEFT_EYE, MOUTH_LEFT, MOUTH_RIGHT, RIGHT_EYE
from .quad_crop import AlignedCrop, extract_quad, rescale_transform


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 landmarks [68, 2], got {lm.shape}")
    if not np.isfinite(lm).all():
        raise ValueError("landmarks contain NaN or infinite values")
    return lm


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop quad [4, 2] (top-left, bottom-left, bottom-right, top-right) from 68 landmarks."""
    lm = _check_landmarks(landmarks)
    eye_left, eye_right = lm[LEFT_EYE].mean(0), lm[RIGHT_EYE].mean(0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[MOUTH_LEFT] + lm[MOUTH_RIGHT]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def vox_quad(landmarks: np.ndarray) -> np.ndarray:
    """The VoxCeleb-style square: landmark-box centre raised by side/6, side = 2 * max(w, h)."""
    lm = _check_landmarks(landmarks)
    (x0, y0), (x1, y1) = lm.min(0), lm.max(0)
    side = 2.0 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - side / 6
    h = side / 2
    return np.array([[cx - h, cy - h], [cx - h, cy + h], [cx + h, cy + h], [cx + h, cy - h]])


def align_ffhq(image: np.ndarray, landmarks: np.ndarray, size: int = 256, transform_size: Optional[int] = None,
               padding: bool = True) -> AlignedCrop:
    """FFHQ-aligned ``size`` px crop of the face with these 68 landmarks, and its crop->image transform."""
    return extract_quad(image, ffhq_quad(landmarks), size, transform_size, padding)


def align_vox(image: np.ndarray, landmarks: np.ndarray, size: int = 256, padding: bool = True) -> AlignedCrop:
    """VoxCeleb-style ``size`` px crop (reflect-pad + blur fill) and its crop->image transform."""
    return extract_quad(image, vox_quad(landmarks), size, None, padding)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 256, mode: str = "ffhq") -> AlignedCrop:
    """``align_ffhq`` or ``align_vox`` by name (``mode`` = ``ffhq`` | ``vox``)."""
    if mode == "ffhq":
        return align_ffhq(image, landmarks, size)
    if mode == "vox":
        return align_vox(image, landmarks, size)
    raise ValueError(f"unknown alignment mode {mode!r}; choose ffhq or vox")


def face_crop(image: np.ndarray, size: int, align: bool = True, *, detector: str = "hog",
              landmarks: Optional[np.ndarray] = None, name: str = "input", warn_several: bool = False) -> AlignedCrop:
    """The FFHQ-aligned ``size`` px crop of the largest face in ``image`` with its crop->image
    transform (``NoFaceError`` if there is none; given ``landmarks`` skip the detection). With
    ``align=False`` the image is already an aligned square crop and is only resized.
    ``warn_several``: log a warning when the image has several faces (see ``find_face``)."""
    if not align:
        h, w = image.shape[:2]
        if h != w:
            raise ValueError(f"{name}: align=False needs a square, already aligned face crop, got {w}x{h}")
        return AlignedCrop(resize_square(image, size), rescale_transform(np.eye(3), h, size))
    if landmarks is None:
        landmarks = find_face(image, detector=detector, name=name, warn_several=warn_several).landmarks
    return align_ffhq(image, landmarks, size=size)


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 (or 2x3) affine transform to points [..., 2]."""
    t = np.asarray(transform, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    return p @ t[:2, :2].T + t[:2, 2]
