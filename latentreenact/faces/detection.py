"""Face detection (dlib HOG, dlib MMOD CNN, YuNet) and choosing one face with its 68 landmarks."""

from __future__ import annotations

import logging
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .dlib_models import lend_hog_detector, lend_mmod_detector
from .image_input import as_rgb_uint8
from .landmarks import landmarks_68
from .types import Face, FaceIndexError, NoFaceError
from .yunet import detect_yunet

log = logging.getLogger(__name__)

DETECTORS = ("hog", "mmod", "yunet")
#: detectors that may run in several threads at once (HOG and the landmark predictor are read-only models;
#: YuNet is a PyTorch module run without gradients). dlib's MMOD network keeps its activations in the
#: model object, so it runs one image at a time.
THREAD_SAFE_DETECTORS = frozenset({"hog", "yunet"})
#: dlib's MMOD network fails (or corrupts memory) on images whose shorter side, after upsampling,
#: is below about 10 px; no face it can detect fits in less than this many pixels anyway
MMOD_MIN_SIDE = 32
#: detectors look at a copy whose longer side is at most this many pixels (boxes are mapped back):
#: the cost of detecting in a 36-megapixel photo is then that of a 1-megapixel one
DETECT_MAX_SIDE = 1024


def _sorted(faces: List[Face]) -> List[Face]:
    """Largest box first (ties: left to right, then top to bottom)."""
    return sorted(faces, key=lambda f: (-f.area, f.box[0], f.box[1]))


def detection_copy(rgb: np.ndarray, max_side: Optional[int]) -> Tuple[np.ndarray, Tuple[float, float]]:
    """``(image the detector sees, (x scale, y scale))``: ``rgb`` itself, or a copy shrunk
    (area-averaged) so that its longer side is ``max_side``."""
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb, (1.0, 1.0)
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))
    return small, (size[0] / width, size[1] / height)


def detect_faces(image: np.ndarray, detector: str = "hog", upsample: int = 1, *, name: str = "input",
                 max_side: Optional[int] = DETECT_MAX_SIDE) -> List[Face]:
    """All faces in an image, largest first, without landmarks.

    ``image`` is uint8 RGB [H, W, 3] (other layouts are converted, see ``image_input``).
    ``detector``: ``hog`` (dlib HOG+SVM, fast, frontal), ``mmod`` (dlib CNN, slower, more
    robust to pose) or ``yunet`` (OpenCV Zoo CNN run in PyTorch; sets ``keypoints5``).
    ``upsample``: times to double the image before the dlib detectors look (finds smaller faces;
    ignored by YuNet). Scores: HOG SVM margin, MMOD confidence, YuNet probability.
    ``max_side``: images larger than this are searched on a shrunk copy (``None``: full size);
    boxes (and YuNet's keypoints) are in the input's pixels either way.
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; choose from {', '.join(DETECTORS)}")
    if upsample < 0:
        raise ValueError(f"upsample must be >= 0, got {upsample}")
    full = as_rgb_uint8(image, name=name)
    rgb, scale = detection_copy(full, max_side)
    if detector == "hog":
        with lend_hog_detector() as hog:
            rects, scores, _ = hog.run(rgb, int(upsample), 0.0)
        faces = [Face((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), float(s))
                 for r, s in zip(rects, scores)]
    elif detector == "mmod":
        if min(rgb.shape[:2]) * 2 ** int(upsample) < MMOD_MIN_SIDE:
            faces = []  # too small to hold a face (and too small for dlib's network)
        else:
            with lend_mmod_detector() as mmod:
                found = mmod(rgb, int(upsample))
            faces = [Face((float(d.rect.left()), float(d.rect.top()), float(d.rect.right()), float(d.rect.bottom())),
                          float(d.confidence)) for d in found]
    else:
        faces = detect_yunet(rgb)
    if scale != (1.0, 1.0):
        faces = [_to_full(face, scale) for face in faces]
    log.debug("%s: %d face(s) with %s (searched at scale %.3f)", name, len(faces), detector, scale[0])
    return _sorted(faces)


def _to_full(face: Face, scale: Tuple[float, float]) -> Face:
    """``face`` found in the shrunk copy, in the input's pixels (pixel centres at integers: a shrunk
    pixel i covers input pixels [i / s, (i + 1) / s), so its centre is (i + 0.5) / s - 0.5)."""
    sx, sy = scale
    x0, y0, x1, y1 = face.box
    box = ((x0 + 0.5) / sx - 0.5, (y0 + 0.5) / sy - 0.5, (x1 + 0.5) / sx - 0.5, (y1 + 0.5) / sy - 0.5)
    points = None
    if face.keypoints5 is not None:
        points = ((face.keypoints5 + 0.5) / np.array([sx, sy]) - 0.5).astype(face.keypoints5.dtype)
    return Face(tuple(float(v) for v in box), face.score, None, points)


def find_face(image: np.ndarray, index: Optional[int] = None, detector: str = "hog", name: str = "input", *,
              upsample: int = 1, warn_several: bool = False) -> Face:
    """One face with its 68 landmarks: the largest, or ``index`` into the largest-first order.

    Raises ``NoFaceError`` (a ``ValueError``) naming ``name`` when there is no face, and
    ``FaceIndexError`` (an ``IndexError``) when ``index`` is out of range. ``warn_several``: log a
    warning ("N faces found in NAME; using the largest") when the largest of several is taken.
    """
    face, count = find_face_counted(image, index, detector, name, upsample=upsample)
    if warn_several and index is None and count > 1:
        log.warning("%d faces found in %s; using the largest", count, name)
    return face


def find_face_counted(image: np.ndarray, index: Optional[int] = None, detector: str = "hog", name: str = "input", *,
                      upsample: int = 1) -> Tuple[Face, int]:
    """:func:`find_face` and the number of faces in the image (for callers that tell the user about the others)."""
    rgb = as_rgb_uint8(image, name=name)
    faces = detect_faces(rgb, detector=detector, upsample=upsample, name=name)
    if not faces:
        raise NoFaceError(f"no face found in {name} (detector {detector}); try another detector (--detector "
                          "mmod finds smaller and turned faces) or a picture with a larger, clearer face")
    if index is None:
        face = faces[0]
    elif -len(faces) <= index < len(faces):
        face = faces[index]
    else:
        raise FaceIndexError(f"{name} has {len(faces)} face(s) (largest first, indices 0..{len(faces) - 1}); "
                             f"face index {index} does not exist")
    face.landmarks = landmarks_68(rgb, face.box)
    return face, len(faces)


def detect_faces_batch(images: Sequence[np.ndarray], detector: str = "hog", upsample: int = 1, *,
                       names: Optional[Sequence[str]] = None) -> List[List[Face]]:
    """``detect_faces`` over a list of images (names default to ``input[i]``)."""
    names = list(names) if names is not None else [f"input[{i}]" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"got {len(images)} images but {len(names)} names")
    return [detect_faces(im, detector, upsample, name=n) for im, n in zip(images, names)]


def find_faces(images: Sequence[np.ndarray], index: Optional[int] = None, detector: str = "hog",
               names: Optional[Sequence[str]] = None, *, upsample: int = 1) -> List[Face]:
    """``find_face`` over a list of images; the first image without a face raises ``NoFaceError``."""
    names = list(names) if names is not None else [f"input[{i}]" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"got {len(images)} images but {len(names)} names")
    return [find_face(im, index, detector, n, upsample=upsample) for im, n in zip(images, names)]
