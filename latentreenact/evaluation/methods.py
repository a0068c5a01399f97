"""The methods compared by the evaluation: ours (the :class:`Reenactor`), and two clearly labelled
baselines: identity (output = source) and a landmark-driven warp of the source (X2Face-style).

A method maps an :class:`~latentreenact.evaluation.data.EvalClip` to one output crop per driving
frame, at the clip's crop size, uint8 RGB. Motion is relative to the clip's reference frame
(which is the source itself in self-reenactment and in image pairs).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import numpy as np

from ..images import array_key, resize_square
from ..reenact_video import pose_track
from .data import EvalClip
from .scoring import dlib_face
from .warp import warp_baseline

if TYPE_CHECKING:
    from ..reenactor import Reenactor

log = logging.getLogger(__name__)

LandmarkFn = Callable[[np.ndarray], Optional[np.ndarray]]


def dlib_landmarks(detector: str = "hog") -> LandmarkFn:
    """68 landmarks [68, 2] of the largest face in a crop, or None when no face is found."""
    face = dlib_face(detector)

    def landmarks(crop: np.ndarray) -> Optional[np.ndarray]:
        found = face(crop)
        return None if found is None else found.landmarks

    return landmarks


class IdentityBaseline:
    """Output = the source crop for every driving frame (no motion at all)."""

    name = "identity baseline (output = source)"

    def __call__(self, clip: EvalClip) -> List[np.ndarray]:
        return [clip.source.copy() for _ in clip.driving]


class WarpBaseline:
    """Piecewise-affine warp of the source crop by the driving landmarks' motion relative to the
    reference frame. Frames whose landmarks are not found get the unwarped source (counted in
    ``self.fallbacks``)."""

    name = "landmark warp baseline (X2Face-style)"

    def __init__(self, landmarks: LandmarkFn) -> None:
        self.landmarks = landmarks
        self.fallbacks = 0

    def __call__(self, clip: EvalClip) -> List[np.ndarray]:
        source_points, reference_points = self.landmarks(clip.source), self.landmarks(clip.reference)
        outputs = []
        for frame in clip.driving:
            points = self.landmarks(frame) if source_points is not None and reference_points is not None else None
            if points is None:
                self.fallbacks += 1
                outputs.append(clip.source.copy())
                continue
            outputs.append(warp_baseline(clip.source, source_points, reference_points, points)[0])
        return outputs


class ReenactorMethod:
    """Ours: invert the source crop (no re-alignment; each distinct source once, so the self and cross
    clips of a video share one inversion and tuning), Net3D on the reference and driving crops, Δp
    relative to the reference, one generator pass per frame (``batch_size`` at a time)."""

    def __init__(self, reenactor: "Reenactor", name: str = "ours (latentreenact)", batch_size: int = 8,
                 tune: Optional[str] = None, tune_steps: Optional[int] = None) -> None:
        self.reenactor, self.name, self.batch_size = reenactor, name, int(batch_size)
        self.tune, self.tune_steps = tune, tune_steps
        self._sources: Dict[str, Any] = {}

    def source(self, crop: np.ndarray, name: str) -> Any:
        """The inverted (and tuned) source crop, cached by its pixels."""
        key = array_key(crop)
        if key not in self._sources:
            self._sources[key] = self.reenactor.invert(crop, align=False, tune=self.tune, tune_steps=self.tune_steps,
                                                       name=name)
        return self._sources[key]

    def __call__(self, clip: EvalClip) -> List[np.ndarray]:
        r = self.reenactor
        src = self.source(clip.source, clip.name)
        p, found = r.pose([clip.reference] + list(clip.driving))
        track = pose_track(r, src, p, found, relative=True, sequence=True, smoothing=0.0,
                           what=f"the frames of {clip.name}")
        dp = track.dp[1:]  # row 0 is the reference itself
        size = clip.source.shape[0]
        outputs: List[np.ndarray] = []
        for start in range(0, len(dp), self.batch_size):
            faces = r.faces(src, dp[start:start + self.batch_size])
            outputs += [resize_square(face, size) for face in faces]
        return outputs
