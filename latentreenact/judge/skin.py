"""The judge's reading of the skin: tone and texture at cheek and nose-bridge points of MediaPipe's face mesh
(:func:`latentreenact.faces.skin.skin_tone`), to see whether an edit washes the face out. The method samples its
skin at dlib's landmarks instead; the judge's points come from its own mesh."""

from __future__ import annotations

import numpy as np

from ..faces.skin import skin_tone

__all__ = ["SKIN_MESH_POINTS", "skin_reading"]

#: cheeks (symmetric pairs 50/280, 101/330, 118/347, 119/348, 205/425, 36/266) and the nose bridge (6, 197, 195)
SKIN_MESH_POINTS = (50, 101, 118, 119, 205, 36, 280, 330, 347, 348, 425, 266, 6, 197, 195)


def skin_reading(image: np.ndarray, mesh: np.ndarray, radius: int = 3) -> np.ndarray:
    """(luma, Cb, Cr, luma std) [4] of an RGB uint8 image at the mesh's :data:`SKIN_MESH_POINTS` (mesh [468+, 2 or
    3] in image pixels)."""
    points = np.asarray(mesh, dtype=np.float64)[list(SKIN_MESH_POINTS), :2]
    return skin_tone(image, points, radius)
