"""The skin's tone and texture at points given by landmarks: mean luma (Rec. 601, 0-255), mean chroma (Cb, Cr
offsets from grey) and the luma's standard deviation inside small square patches.

A latent direction that closes the eyes can also wash the face out (paler, smoother skin); these numbers let a
fit hold the skin still (:mod:`directions.latent_fit`) and let a judge see whether it moved. The patch sampler is
shared; which points are skin depends on the landmark model (:data:`SKIN_REGIONS_68` for dlib's 68 points, read
region by region by :func:`skin_regions_68`; the judge picks its own points from its mesh).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SKIN_REGIONS_68", "patch_pixels", "skin_points_68", "skin_regions_68", "skin_tone"]

#: skin sample points by region, as blends of two of dlib's 68 landmarks (iBUG order, 0-based): (a, b, t) is
#: (1 - t) * a + t * b; t < 0 extrapolates beyond a (the forehead, above the brows). On a roughly frontal face the
#: cheeks, nose bridge, chin and the skin under the eyes hold no eyes, brows or lips; the forehead points can
#: fall on a fringe of hair.
SKIN_REGIONS_68 = {
    "left_cheek": ((1, 31, 0.5), (2, 31, 0.5), (3, 48, 0.5), (2, 40, 0.5)),  # image left
    "right_cheek": ((15, 35, 0.5), (14, 35, 0.5), (13, 54, 0.5), (14, 47, 0.5)),
    "nose_bridge": ((27, 28, 0.5), (28, 29, 0.5)),
    "forehead": ((27, 30, -0.6), (21, 39, -0.8), (22, 42, -0.8)),
    "chin": ((8, 57, 0.5), (7, 58, 0.5), (9, 56, 0.5)),
    "under_eyes": ((40, 2, 0.35), (47, 14, 0.35)),
}


def skin_points_68(landmarks: np.ndarray, region: str = "left_cheek") -> np.ndarray:
    """The points of one :data:`SKIN_REGIONS_68` region of 68 landmarks [..., 68, 2] -> [..., P, 2] (x, y in
    pixels)."""
    if region not in SKIN_REGIONS_68:
        raise ValueError(f"unknown skin region {region!r}; one of {', '.join(SKIN_REGIONS_68)}")
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[-2:] != (68, 2):
        raise ValueError(f"expected landmarks [..., 68, 2], got {points.shape}")
    blends = SKIN_REGIONS_68[region]
    a = points[..., [i for i, _, _ in blends], :]
    b = points[..., [j for _, j, _ in blends], :]
    t = np.array([t for _, _, t in blends])[:, None]
    return (1 - t) * a + t * b


def skin_regions_68(image: np.ndarray, landmarks: np.ndarray, radius: int = 3) -> np.ndarray:
    """:func:`skin_tone` of each :data:`SKIN_REGIONS_68` region of an RGB image ([H, W, 3], 0-255) with its 68
    landmarks [68, 2]: [regions, 4] in the table's order."""
    return np.stack([skin_tone(image, skin_points_68(landmarks, region), radius) for region in SKIN_REGIONS_68])


def patch_pixels(image: np.ndarray, points: np.ndarray, radius: int) -> np.ndarray:
    """The pixels of the (2 radius + 1)-square patches centred on ``points`` [P, 2] (x, y; rounded) of an
    [H, W, C] image, as [M, C] float64; patch parts outside the image are left out (a point fully outside gives
    nothing)."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an [H, W, C] image, got {image.shape}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    height, width = image.shape[:2]
    out = []
    for x, y in np.rint(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int64):
        x0, x1 = max(x - radius, 0), min(x + radius + 1, width)
        y0, y1 = max(y - radius, 0), min(y + radius + 1, height)
        if x0 < x1 and y0 < y1:
            out.append(image[y0:y1, x0:x1].reshape(-1, image.shape[2]))
    if not out:
        return np.zeros((0, image.shape[2]))
    return np.concatenate(out).astype(np.float64)


def skin_tone(image: np.ndarray, points: np.ndarray, radius: int = 3) -> np.ndarray:
    """(luma, Cb, Cr, luma std) [4] of an RGB image ([H, W, 3], 0-255) over the patches at ``points`` [P, 2]:
    Rec. 601 luma ``0.299 R + 0.587 G + 0.114 B``, chroma ``0.564 (B - Y)`` and ``0.713 (R - Y)``, and the luma's
    standard deviation over all patch pixels (texture: it falls when the skin smooths out). NaN when no patch
    pixel lies inside the image."""
    pixels = patch_pixels(image, points, radius)
    if pixels.shape[1] != 3:
        raise ValueError(f"expected an RGB image, got {pixels.shape[1]} channels")
    if not len(pixels):
        return np.full(4, np.nan)
    luma = pixels @ np.array([0.299, 0.587, 0.114])
    cb = 0.564 * (pixels[:, 2] - luma)
    cr = 0.713 * (pixels[:, 0] - luma)
    return np.array([luma.mean(), cb.mean(), cr.mean(), luma.std()])
