"""Faces in, pose vectors out: ``FaceMeter`` crops faces and measures them with a Net3D estimator.

What the reenactor measures of a source photo or a driving frame (docs/architecture.md §2): the largest face is
cut out as an FFHQ-aligned ``align_size`` crop (its crop->image transform kept for paste-back), and Net3D turns
crops into pose vectors p in the layout of the direction matrix. With ``align=True`` the roll is the head's roll
in the frame (the alignment levels the eyes, so the crop's own in-plane rotation is subtracted from the roll
measured on the crop, docs/driving.md). Estimators that report the 68 landmarks they detected also give each
face's eye and mouth opening (:func:`latentreenact.driving_landmarks.landmark_openings`).
"""

from __future__ import annotations

import logging
import math
from contextlib import closing
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from .driving_landmarks import DrivingMeasurement, landmark_openings
from .faces import (DETECTORS, THREAD_SAFE_DETECTORS, NoFaceError, as_rgb_uint8, box_from_landmarks, face_crop,
                    transform_points)
from .images import from_uint8
from .net3d.pose_vector import PoseVectorSpec
from .ordered_map import ordered_map

log = logging.getLogger(__name__)

#: FFHQ alignment size of source and driving crops (the Net3D input size)
ALIGN_SIZE = 256

Aligned = Tuple[np.ndarray, np.ndarray]

#: Default cap on the threads that detect and align driving frames: each holds a few frames in flight (a 4K frame
#: is 25 MB) and a HOG detector of its own, and the estimator's batches take the frames one pass at a time.
MAX_DEFAULT_WORKERS = 8


class FaceMeter:
    """Crops the largest face of an image and measures it with ``estimator`` (a Net3D backend taking aligned
    crops) in the layout ``spec``. ``align_size``: the crop size; ``detector``: the face detector for
    ``align=True`` inputs; ``device``: where the crops go for the estimator; ``workers``: threads that detect
    and align driving frames in :meth:`measure_driving` (``None``: ``torch.get_num_threads()`` when called, at
    most :data:`MAX_DEFAULT_WORKERS`; the results are the same for any number)."""

    def __init__(self, estimator: Any, spec: PoseVectorSpec, align_size: int = ALIGN_SIZE, detector: str = "hog",
                 device: Union[str, torch.device] = "cpu", workers: Optional[int] = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1 (or None), got {workers}")
        if detector not in DETECTORS:  # here, not per frame, where a failing frame reads as "no face"
            raise ValueError(f"unknown face detector {detector!r}; choose from {', '.join(DETECTORS)}")
        self.estimator, self.spec = estimator, spec
        self.align_size, self.detector, self.device = int(align_size), detector, torch.device(device)
        self.workers = workers

    def align_workers(self, align: bool) -> int:
        """Threads for detecting and aligning frames: 1 without alignment (only a resize) or with a detector
        that runs one image at a time (MMOD), else ``workers`` (default ``torch.get_num_threads()``, at most
        :data:`MAX_DEFAULT_WORKERS`)."""
        if not align or self.detector not in THREAD_SAFE_DETECTORS:
            return 1
        if self.workers is not None:
            return self.workers
        return min(max(1, torch.get_num_threads()), MAX_DEFAULT_WORKERS)

    # ------------------------------------------------------------------ crops
    def crop(self, image: np.ndarray, align: bool = True, name: str = "input", *,
             warn_several: bool = False, landmarks: Optional[np.ndarray] = None) -> Aligned:
        """The ``align_size`` crop of the largest face and its crop->image transform (``NoFaceError`` if
        none; given its 68 ``landmarks`` the face is not detected again); ``align=False``: the image is
        already an aligned square crop and is only resized. ``warn_several``: log a warning when the image
        has several faces."""
        aligned = face_crop(image, self.align_size, align, detector=self.detector, landmarks=landmarks, name=name,
                            warn_several=warn_several)
        return aligned.crop, aligned.transform

    def aligned(self, frame: np.ndarray, align: bool = True, name: str = "frame") -> Optional[Aligned]:
        """:meth:`crop` of a driving frame (crop, transform), or None when it has no usable face."""
        frame = as_rgb_uint8(frame, name=name)
        if not align:
            return self.crop(frame, False, name)
        try:
            return self.crop(frame, True, name)
        except (NoFaceError, ValueError) as exc:  # no face, or landmarks too degenerate to align
            log.debug("%s: %s", name, exc)
            return None

    def driving_crop(self, frame: np.ndarray, align: bool = True, name: str = "frame") -> Optional[np.ndarray]:
        """:meth:`crop` of a driving frame, or None when it has no usable face."""
        aligned = self.aligned(frame, align, name)
        return None if aligned is None else aligned[0]

    # ------------------------------------------------------------------ pose vectors
    def estimate(self, crops: Sequence[np.ndarray], boxes: Optional[Sequence[Sequence[float]]] = None) -> Any:
        """The estimator's PoseParams of aligned crops (``boxes``: face boxes for estimators that take them)."""
        with torch.no_grad():
            if boxes is not None:
                return self.estimator.estimate_boxes(list(crops), boxes, missing="mask")
            return self.estimator.estimate(from_uint8(np.stack(list(crops)), self.device), missing="mask")

    def vectors(self, params: Any) -> Tuple[torch.Tensor, torch.Tensor]:
        """(p [N, k] on CPU, found [N] bool) of the estimator's PoseParams; rows not found hold NaN."""
        p = params.to_vector(self.spec.names).detach().float().cpu()
        found = params.found.detach().cpu().bool() & torch.isfinite(p).all(1)
        return torch.where(found[:, None], p, torch.full_like(p, math.nan)), found

    def frame_roll(self, p: torch.Tensor, transforms: Sequence[np.ndarray]) -> torch.Tensor:
        """Roll measured on crops, in the frame: the FFHQ alignment levels the eyes, so the crop's
        own in-plane rotation (``transforms``: crop->frame) is subtracted from it (docs/driving.md)."""
        if "roll" not in self.spec.names:
            return p
        column = list(self.spec.names).index("roll")
        theta = torch.tensor([math.degrees(math.atan2(t[1, 0], t[0, 0])) for t in transforms], dtype=p.dtype)
        p = p.clone()
        p[:, column] = p[:, column] - theta
        return p

    def pose(self, crops: Sequence[np.ndarray]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raw pose vectors of aligned crops: (p [N, k] on CPU, found [N] bool); rows not found hold NaN."""
        return self.vectors(self.estimate(crops))

    def measure_in_frame(self, crops: Sequence[np.ndarray], transforms: Sequence[np.ndarray],
                         landmarks: Optional[Sequence[np.ndarray]] = None) -> DrivingMeasurement:
        """Pose vectors of aligned crops cut from frames (``transforms``: crop->frame), with roll in the frame,
        and each crop's eye and mouth opening. ``landmarks``: the faces' 68 landmarks in the frames (a tracked
        face); an estimator that takes face boxes (``estimate_boxes``: ``bfm-fit``, ``bfm-rigid``) then starts
        its landmarks from them instead of detecting the face in the crop again (others ignore them)."""
        boxes = None
        if landmarks is not None and hasattr(self.estimator, "estimate_boxes"):
            boxes = [box_from_landmarks(transform_points(np.linalg.inv(t), lm)) for t, lm in zip(transforms, landmarks)]
        params = self.estimate(crops, boxes)
        p, found = self.vectors(params)
        return DrivingMeasurement(self.frame_roll(p, transforms), found, *landmark_openings(params))

    def measure_driving(self, frames: Iterable[np.ndarray], align: bool = True, batch_size: int = 8,
                        progress: bool = False, total: Optional[int] = None) -> DrivingMeasurement:
        """Pose vectors of driving frames, streamed (one Net3D pass per ``batch_size`` crops), and each frame's eye
        and mouth opening (dlib 68-landmark eye aspect ratio and inner-lip gap; NaN without a face or with an
        estimator that reports no detected landmarks). Frames without a face get NaN rows and ``found`` False.
        With ``align``, roll is the head's roll in the frame (see :meth:`frame_roll`). Frames are detected and
        aligned by :meth:`align_workers` threads, a few frames ahead of the estimator."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        rows: List[torch.Tensor] = []
        found: List[torch.Tensor] = []
        eyes: List[float] = []
        mouths: List[float] = []
        pending: List[Tuple[int, Aligned]] = []

        def flush() -> None:
            crops = [c for _, (c, _) in pending]
            if align:
                measured = self.measure_in_frame(crops, [t for _, (_, t) in pending])
            else:
                params = self.estimate(crops)
                measured = DrivingMeasurement(*self.vectors(params), *landmark_openings(params))
            for (index, _), row, hit, e, m in zip(pending, measured.p, measured.found, measured.eye.tolist(),
                                                  measured.mouth.tolist()):
                rows[index], found[index], eyes[index], mouths[index] = row, hit, e, m
            pending.clear()

        workers = self.align_workers(align)
        aligned_frames = ordered_map(lambda item: self.aligned(item[1], align, name=f"frame {item[0]}"),
                                     enumerate(frames), workers, ahead=batch_size + 2 * workers)
        with closing(aligned_frames):  # an error here stops the threads' work at once
            for i, aligned in enumerate(tqdm(aligned_frames, desc="measuring", unit="frame", total=total,
                                             disable=not progress)):
                rows.append(torch.full((self.spec.k,), math.nan))
                found.append(torch.tensor(False))
                eyes.append(math.nan)
                mouths.append(math.nan)
                if aligned is not None:
                    pending.append((i, aligned))
                if len(pending) == batch_size:
                    flush()
        if pending:
            flush()
        if not rows:
            raise ValueError("no driving frames given")
        return DrivingMeasurement(torch.stack(rows), torch.stack(found), torch.tensor(eyes, dtype=torch.float32),
                                  torch.tensor(mouths, dtype=torch.float32))


__all__ = ["ALIGN_SIZE", "FaceMeter", "MAX_DEFAULT_WORKERS"]
