"""Head pose change, mouth and eye opening from face-mesh points, and the judge that measures them.

- Head pose: the rotation of frame t relative to a reference frame, by scaled Procrustes
  (:func:`~.geometry.procrustes`) on ``RIGID`` (the mesh points above the nose base, lips, eyes, brows and
  irises left out), as (pitch, yaw, roll) in degrees (docs/architecture.md §6 signs). With ``mirror=True`` (default) each
  frame is also measured mirrored and the two are averaged (pitch + pitch', yaw - yaw', roll - roll'), which
  cancels the mesh's left-right bias; a mirrored input therefore gives exactly the opposite yaw and roll.
- Mouth opening: inner-lip gap (points 13-14) / distance of the outer eye corners (33-263), both in 3D.
- Eye opening: lid gap / eye width (159-145 over 33-133, 386-374 over 362-263), both eyes averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from tqdm.auto import tqdm

from ..faces.image_input import as_rgb_uint8
from .errors import JudgeNoFaceError
from .geometry import euler_from_rotation, procrustes
from .mesh import FaceMeshClient

SIGNALS = ("pitch", "yaw", "roll", "mouth", "eye")
UNITS = {"pitch": "deg", "yaw": "deg", "roll": "deg", "mouth": "ratio", "eye": "ratio"}

_RIGID_RANGES = (
    (1, 1), (3, 6), (8, 10), (19, 31), (34, 36), (44, 45), (47, 51), (54, 54), (56, 56), (59, 60), (64, 64),
    (67, 69), (71, 71), (75, 75), (79, 79), (93, 94), (97, 104), (108, 131), (134, 134), (137, 137), (139, 139),
    (141, 143), (147, 147), (151, 151), (156, 156), (162, 162), (166, 166), (168, 168), (174, 174), (187, 190),
    (193, 193), (195, 198), (203, 203), (205, 206), (209, 209), (217, 245), (247, 248), (250, 261), (264, 266),
    (274, 275), (277, 281), (284, 284), (286, 286), (289, 290), (294, 294), (297, 299), (301, 301), (305, 305),
    (309, 309), (323, 323), (326, 333), (337, 360), (363, 363), (366, 366), (368, 368), (370, 372), (376, 376),
    (383, 383), (389, 389), (392, 392), (399, 399), (412, 414), (417, 417), (419, 420), (423, 423), (425, 425),
    (429, 429), (437, 465), (467, 467),
)
#: the 249 mesh points used for head pose: above the nose base (point 2) on the frontal bundled photo, minus
#: MediaPipe's FACEMESH_LIPS, _LEFT/RIGHT_EYE, _LEFT/RIGHT_EYEBROW and _IRISES points
RIGID = np.array([i for lo, hi in _RIGID_RANGES for i in range(lo, hi + 1)], dtype=np.int64)
MOUTH_INNER = (13, 14)
MOUTH_CORNERS = (61, 291)
EYE_OUTER_CORNERS = (33, 263)
EYES = (((159, 145), (33, 133)), ((386, 374), (362, 263)))  # ((upper lid, lower lid), (corner, corner))

MeshFunction = Callable[[np.ndarray], Optional[np.ndarray]]


def model_frame(mesh: np.ndarray) -> np.ndarray:
    """Mesh points in image coordinates (x right, y down, z away) -> model frame (x right, y up, z to the viewer)."""
    points = np.asarray(mesh, dtype=np.float64)
    return points * np.array([1.0, -1.0, -1.0])


def relative_pose(reference: np.ndarray, mesh: np.ndarray) -> Tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees of ``mesh`` relative to ``reference`` (both image-coordinate meshes)."""
    _, rotation, _ = procrustes(model_frame(reference)[RIGID], model_frame(mesh)[RIGID])
    yaw, pitch, roll = euler_from_rotation(rotation)
    return pitch, yaw, roll


def _dist(points: np.ndarray, pair: Tuple[int, int]) -> float:
    return float(np.linalg.norm(points[pair[0]] - points[pair[1]]))


def mouth_opening(mesh: np.ndarray) -> float:
    """Inner-lip gap over the outer-eye-corner distance (3D)."""
    points = np.asarray(mesh, dtype=np.float64)
    return _dist(points, MOUTH_INNER) / max(_dist(points, EYE_OUTER_CORNERS), 1e-9)


def mouth_width(mesh: np.ndarray) -> float:
    """Mouth-corner distance over the outer-eye-corner distance (3D): rises with a smile."""
    points = np.asarray(mesh, dtype=np.float64)
    return _dist(points, MOUTH_CORNERS) / max(_dist(points, EYE_OUTER_CORNERS), 1e-9)


def eye_opening(mesh: np.ndarray) -> float:
    """Lid gap over eye width (3D), the mean of both eyes."""
    points = np.asarray(mesh, dtype=np.float64)
    return float(np.mean([_dist(points, lids) / max(_dist(points, corners), 1e-9) for lids, corners in EYES]))


def flip_image(image: np.ndarray) -> np.ndarray:
    """The image mirrored left-right."""
    return np.ascontiguousarray(np.asarray(image)[:, ::-1])


@dataclass
class MotionSeries:
    """Per-frame signals (``SIGNALS``) as float64 [N] arrays, NaN where the judge found no face; the angles are
    relative to frame ``reference`` (the first frame with a face)."""

    pitch: np.ndarray
    yaw: np.ndarray
    roll: np.ndarray
    mouth: np.ndarray
    eye: np.ndarray
    found: np.ndarray
    reference: int

    def __len__(self) -> int:
        return len(self.found)

    def signal(self, name: str) -> np.ndarray:
        """One signal by name (``pitch``, ``yaw``, ``roll``, ``mouth``, ``eye``)."""
        if name not in SIGNALS:
            raise ValueError(f"unknown signal {name!r}; choose from {', '.join(SIGNALS)}")
        return getattr(self, name)

    def as_dict(self) -> Dict[str, List[Optional[float]]]:
        """JSON-ready lists (None for missing frames), with ``found``."""
        out: Dict[str, List[Optional[float]]] = {
            name: [None if not np.isfinite(v) else round(float(v), 5) for v in self.signal(name)] for name in SIGNALS}
        out["found"] = [bool(f) for f in self.found]  # type: ignore[misc]
        return out


def motion_series(meshes: Sequence[Optional[np.ndarray]],
                  mirrored: Optional[Sequence[Optional[np.ndarray]]] = None) -> MotionSeries:
    """Signals of a sequence of meshes (None: no face); ``mirrored``: the meshes of the mirrored frames,
    averaged in as described in the module docstring. ``JudgeNoFaceError`` when no mesh is given at all."""
    n = len(meshes)
    if mirrored is not None and len(mirrored) != n:
        raise ValueError(f"{n} meshes but {len(mirrored)} mirrored meshes")
    found = np.array([m is not None for m in meshes], dtype=bool)
    if not found.any():
        raise JudgeNoFaceError(f"the judge found no face in any of the {n} frame(s)")
    ref = int(np.flatnonzero(found)[0])
    use_mirror = mirrored is not None and mirrored[ref] is not None
    values = np.full((5, n), np.nan)
    for i, mesh in enumerate(meshes):
        if mesh is None:
            continue
        pitch, yaw, roll = relative_pose(meshes[ref], mesh)
        mouth, eye = mouth_opening(mesh), eye_opening(mesh)
        if use_mirror and mirrored[i] is not None:  # type: ignore[index]
            mesh_m = mirrored[i]  # type: ignore[index]
            pitch_m, yaw_m, roll_m = relative_pose(mirrored[ref], mesh_m)  # type: ignore[index,arg-type]
            pitch, yaw, roll = (pitch + pitch_m) / 2, (yaw - yaw_m) / 2, (roll - roll_m) / 2
            mouth, eye = (mouth + mouth_opening(mesh_m)) / 2, (eye + eye_opening(mesh_m)) / 2
        values[:, i] = pitch, yaw, roll, mouth, eye
    return MotionSeries(*values, found=found, reference=ref)


class FaceJudge:
    """The independent judge of motion: MediaPipe face mesh (or any ``mesh`` callable image -> [478, 3] or
    None) measured on each frame and, with ``mirror=True``, on its mirror image."""

    def __init__(self, mesh: Optional[MeshFunction] = None, mirror: bool = True) -> None:
        if mesh is None:
            mesh = FaceMeshClient()
        self.mesh = mesh
        self.mirror = mirror

    def __enter__(self) -> "FaceJudge":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the mesh's helper process, if it has one."""
        close = getattr(self.mesh, "close", None)
        if close is not None:
            close()

    def meshes(self, image: np.ndarray) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """The mesh of the image and of its mirror image (None when not mirroring or not found)."""
        rgb = as_rgb_uint8(image)
        return self.mesh(rgb), (self.mesh(flip_image(rgb)) if self.mirror else None)

    def measure(self, frames: Iterable[np.ndarray], progress: bool = False, total: Optional[int] = None,
                desc: str = "judging") -> MotionSeries:
        """Signals of a sequence of frames (pose relative to the first frame with a face)."""
        pairs = [self.meshes(f) for f in tqdm(frames, desc=desc, unit="frame", total=total, disable=not progress)]
        if not pairs:
            raise ValueError("no frames given to the judge")
        return motion_series([p[0] for p in pairs], [p[1] for p in pairs] if self.mirror else None)

    def pose(self, reference: np.ndarray, image: np.ndarray) -> Tuple[float, float, float]:
        """(pitch, yaw, roll) of ``image`` relative to ``reference`` (``JudgeNoFaceError`` if either has no face)."""
        series = self.measure([reference, image])
        if not series.found.all():
            which = "the reference" if not series.found[0] else "the image"
            raise JudgeNoFaceError(f"the judge found no face in {which}")
        return float(series.pitch[1]), float(series.yaw[1]), float(series.roll[1])
