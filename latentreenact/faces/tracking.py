"""Following one face through a video: landmarks from the previous frame's landmarks instead of a
detection on every frame.

dlib's 68-point predictor starts from a face box. :class:`FaceTracker` detects the face on the
first frame (and after a loss, and every ``redetect_every`` frames); on the frames between it
derives the box from the previous frame's landmarks (:func:`box_from_landmarks`, the relation
between the two boxes measured on dlib's own HOG detections) and only runs the predictor: about
1.5 ms instead of 17 ms for a 256 px frame. A tracked face whose landmark box jumps in size or
leaves the frame is detected again on the same frame. The predictor answers on any box, so a face
that vanishes between detections is noticed only by the caller (the live reenactor detects the face
in the aligned crop of every tracked frame and resets the tracker when it is gone) or by the next
detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .detection import find_face
from .image_input import as_rgb_uint8
from .landmarks import landmarks_68
from .types import NoFaceError

#: dlib's HOG box from the box around its 68 landmarks: (left, top, right, bottom) offsets in units of
#: the landmark box's width (left, right) and height (top, bottom). Measured on the 72 frames of the
#: bundled driving clip (standard deviation 0.04-0.05 of the box per side).
HOG_BOX_FROM_LANDMARKS = (-0.026, -0.103, 0.028, -0.143)


def box_from_landmarks(landmarks: np.ndarray) -> Tuple[float, float, float, float]:
    """The face box (x0, y0, x1, y1) that dlib's HOG detector would give for these 68 landmarks."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise ValueError(f"expected 68 finite landmarks [68, 2], got {lm.shape}")
    (x0, y0), (x1, y1) = lm.min(0), lm.max(0)
    w, h = x1 - x0, y1 - y0
    left, top, right, bottom = HOG_BOX_FROM_LANDMARKS
    return (float(x0 + left * w), float(y0 + top * h), float(x1 + right * w), float(y1 + bottom * h))


@dataclass
class TrackedFace:
    """The 68 landmarks found in a frame (float32 [68, 2]) and whether the detector ran for them."""

    landmarks: np.ndarray
    detected: bool


class FaceTracker:
    """Landmarks of one face through consecutive frames (see the module docstring).

    ``detector`` / ``upsample``: as :func:`~latentreenact.faces.find_face` (the largest face is
    taken). ``redetect_every``: detect at least every this many frames (1: on every frame, i.e. no
    tracking); ``max_scale_jump``: a tracked landmark box whose size changes by more than this
    factor from the previous frame counts as lost and is detected again.
    """

    def __init__(self, detector: str = "hog", upsample: int = 1, redetect_every: int = 30,
                 max_scale_jump: float = 1.5) -> None:
        if redetect_every < 1:
            raise ValueError(f"redetect_every must be >= 1, got {redetect_every}")
        if max_scale_jump <= 1.0:
            raise ValueError(f"max_scale_jump must be > 1, got {max_scale_jump}")
        self.detector, self.upsample = detector, int(upsample)
        self.redetect_every, self.max_scale_jump = int(redetect_every), float(max_scale_jump)
        self._landmarks: Optional[np.ndarray] = None
        self._since_detection = 0
        self._shape: Tuple[int, ...] = ()

    def reset(self) -> None:
        """Forget the face: the next frame is searched by the detector."""
        self._landmarks, self._since_detection = None, 0

    def __call__(self, frame: np.ndarray, name: str = "frame") -> Optional[TrackedFace]:
        """The face's landmarks in ``frame`` (uint8 RGB), or None when no face is found."""
        rgb = as_rgb_uint8(frame, name=name)
        if self._landmarks is not None and rgb.shape[:2] != self._shape:
            self.reset()  # another frame size: the last landmarks say nothing about where the face is
        self._shape = rgb.shape[:2]
        if self._landmarks is not None and self._since_detection < self.redetect_every:
            landmarks = landmarks_68(rgb, box_from_landmarks(self._landmarks))
            if self._plausible(landmarks, rgb.shape[:2]):
                self._landmarks = landmarks
                self._since_detection += 1
                return TrackedFace(landmarks, detected=False)
        try:
            face = find_face(rgb, detector=self.detector, name=name, upsample=self.upsample)
        except NoFaceError:
            self.reset()
            return None
        assert face.landmarks is not None
        self._landmarks, self._since_detection = face.landmarks, 1
        return TrackedFace(face.landmarks, detected=True)

    def _plausible(self, landmarks: np.ndarray, shape: Tuple[int, int]) -> bool:
        """The tracked landmarks' box keeps its size (within ``max_scale_jump``) and its centre in the frame."""
        assert self._landmarks is not None
        size_now = float(np.ptp(landmarks, axis=0).max())
        size_before = float(np.ptp(self._landmarks, axis=0).max())
        if size_now <= 1.0 or not 1.0 / self.max_scale_jump <= size_now / max(size_before, 1.0) <= self.max_scale_jump:
            return False
        cx, cy = landmarks.mean(0)
        return 0.0 <= cx < shape[1] and 0.0 <= cy < shape[0]
