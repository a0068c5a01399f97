"""An output frame: the rendered face alone or pasted back into the source photo, and beside it, on request, the
driving frame, the whole bounded by a longest side (``max_side``)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from .faces import canvas_size, fit_canvas
from .faces import paste_back as paste
from .source import Source

__all__ = ["beside", "beside_width", "canvas_source", "compose", "roll_region_for", "side_by_side_cap"]


def roll_region_for(paste_back: bool) -> str:
    """What the roll rotates (:func:`~latentreenact.faces.roll.roll_faces`): the face's ellipse when the face is
    pasted back (the photo stays still around it), the whole crop for face-only output (no seam on a strong roll)."""
    return "face" if paste_back else "crop"


def canvas_source(src: Source, max_side: Optional[int]) -> Source:
    """``src`` with its photo scaled down for pasting into (:func:`~latentreenact.faces.fit_canvas`: longer side at
    most ``max_side``; ``None``: as it is); ``src`` itself when the photo is small enough."""
    image, transform = fit_canvas(src.image, src.transform, max_side)
    return src if image is src.image else replace(src, image=image, transform=transform)


def beside_width(height: int, driving_hw: Tuple[int, int]) -> int:
    """The width of a driving frame of ``driving_hw`` (height, width) resized to ``height`` (aspect kept)."""
    return max(1, round(driving_hw[1] * height / driving_hw[0]))


def side_by_side_cap(photo_hw: Tuple[int, int], driving_hw: Tuple[int, int], max_side: Optional[int]) -> Optional[int]:
    """The longer side to scale the source photo of ``photo_hw`` to (``fit_canvas``'s ``max_side``) so that the
    side-by-side frame, the driving frame of ``driving_hw`` at the photo's height beside it, is at most ``max_side``
    pixels wide and high (at least 16: narrower bounds are left to :func:`compose`); ``None`` when ``max_side`` is ``None``."""
    if max_side is None:
        return None
    height, width = photo_hw

    def fits(cap: int) -> bool:
        h, w = canvas_size(height, width, cap)
        return h <= max_side and w + beside_width(h, driving_hw) <= max_side

    longest = max(height, width)
    cap = min(longest, math.floor(max_side * longest / max(width + height * driving_hw[1] / driving_hw[0], height)))
    while cap < longest and fits(cap + 1):  # the sizes' rounding moves the exact cap by a pixel or two either way
        cap += 1
    while cap > 16 and not fits(cap):
        cap -= 1
    return max(cap, 16)


def _resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def compose(src: Source, face: np.ndarray, paste_back: bool = False, driving: Optional[np.ndarray] = None,
            side_by_side: bool = False, max_side: Optional[int] = None) -> np.ndarray:
    """An output frame: the rendered face, or it pasted back into the source photo; with ``side_by_side``,
    ``[driving frame resized to the same height | output]``, both scaled down when needed so that the frame's
    longer side is at most ``max_side`` (``None``: no bound)."""
    out = paste(src.image, face, src.transform, transform_size=src.crop.shape[0]) if paste_back else face
    if side_by_side and driving is not None:
        out = beside(driving, out, max_side)
    return out


def beside(driving: np.ndarray, out: np.ndarray, max_side: Optional[int] = None) -> np.ndarray:
    """``[driving frame resized to the output's height | output]``, both scaled down when needed so that the frame's
    longer side is at most ``max_side`` (``None``: no bound)."""
    height, width = out.shape[:2]
    longest = max(width + beside_width(height, driving.shape[:2]), height)
    if max_side is not None and longest > max_side:
        height = max(1, math.floor(height * max_side / longest))
        out = _resized(out, max(1, round(width * height / out.shape[0])), height)
    left_width = beside_width(height, driving.shape[:2])
    if max_side is not None:
        left_width = max(1, min(left_width, max_side - out.shape[1]))
    return np.concatenate([_resized(driving, left_width, height), out], axis=1)
