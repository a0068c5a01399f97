"""Warping an aligned crop back into its frame through a soft (feathered) mask."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image

from .image_input import as_rgb_uint8
from .quad_crop import rescale_transform
from .warp import warp_affine


def soft_mask(size: int, kind: str = "ellipse", feather: float = 0.1) -> np.ndarray:
    """A float32 [size, size] mask in [0, 1] that falls smoothly to 0 before the crop's edge.

    ``ellipse``: the face region of an aligned crop (semi-axes 0.42 and 0.48 of the size);
    ``full``: the whole crop. ``feather`` is the width of the soft ramp as a fraction of the size.
    """
    if not 0 < feather <= 0.5:
        raise ValueError(f"feather must be in (0, 0.5], got {feather}")
    c = (np.arange(size, dtype=np.float64) + 0.5) / size - 0.5  # pixel centres in [-0.5, 0.5]
    yy, xx = np.meshgrid(c, c, indexing="ij")
    if kind == "ellipse":
        ax, ay = 0.42, 0.48
        r = np.sqrt((xx / ax) ** 2 + (yy / ay) ** 2)
        ramp = (1.0 - r) * min(ax, ay) / feather
    elif kind == "full":
        ramp = (0.5 - np.maximum(np.abs(xx), np.abs(yy))) / feather
    else:
        raise ValueError(f"unknown mask kind {kind!r}; choose ellipse or full")
    t = np.clip(ramp, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep


def paste_back(frame: np.ndarray, crop: np.ndarray, transform: np.ndarray,
               mask: Union[str, np.ndarray, None] = "ellipse", feather: float = 0.1,
               transform_size: Optional[int] = None) -> np.ndarray:
    """Blend ``crop`` into ``frame`` where ``transform`` (crop->frame, 3x3 or 2x3) puts it.

    ``mask``: ``ellipse`` / ``full`` (see ``soft_mask``) or a float array [h, w] in [0, 1] in crop
    coordinates (``None`` = ``full``). ``transform_size``: the crop size the transform was made for,
    when ``crop`` has another size (e.g. a 1024 px alignment pasting a 256 px render).
    Returns a new uint8 frame; the frame is unchanged outside the mask.
    """
    frame = as_rgb_uint8(frame, name="frame")
    crop = as_rgb_uint8(crop, name="crop")
    if crop.shape[0] != crop.shape[1]:
        raise ValueError(f"crop must be square, got {crop.shape[:2]}")
    t = _homogeneous(transform)
    size = crop.shape[0]
    if transform_size is not None and transform_size != size:
        t = rescale_transform(t, transform_size, size)
    if isinstance(mask, np.ndarray):
        m = np.asarray(mask, dtype=np.float32)
        if m.shape != crop.shape[:2]:
            raise ValueError(f"mask shape {m.shape} does not match the crop {crop.shape[:2]}")
        m = np.clip(m, 0.0, 1.0)
    else:
        m = soft_mask(size, mask or "full", feather)

    # Crop pixels per frame pixel: downscale first (antialiased) when the crop is much finer.
    scale = float(np.sqrt(abs(np.linalg.det(t[:2, :2]))))
    if scale < 0.75:
        new = max(8, int(round(size * scale)))
        crop = np.asarray(Image.fromarray(crop).resize((new, new), Image.LANCZOS))
        m = np.asarray(Image.fromarray(m, mode="F").resize((new, new), Image.BILINEAR))
        t = rescale_transform(t, size, new)
    out = frame.copy()
    box = landing_box(t, crop.shape[0], frame.shape[:2])
    if box is None:
        return out
    top, bottom, left, right = box
    # Only the frame pixels that can sample the crop are warped and blended; everywhere else the blend
    # leaves the frame as it is (alpha 0), so the result equals a whole-frame blend.
    inverse = np.linalg.inv(t) @ np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
    region = (bottom - top, right - left)
    warped = warp_affine(crop, inverse, region).astype(np.float32)
    alpha = warp_affine(m.astype(np.float32), inverse, region)[:, :, None]
    blend = out[top:bottom, left:right].astype(np.float32) * (1.0 - alpha) + warped * alpha
    out[top:bottom, left:right] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    return out


def fit_canvas(image: np.ndarray, transform: np.ndarray,
               max_side: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    """The photo to paste into, scaled down (Lanczos) so that its longer side is at most ``max_side`` pixels, and
    the crop -> photo ``transform`` (2x3 or 3x3) for it as 3x3; the photo as it is when it is small enough or
    ``max_side`` is ``None``. Raises ``ValueError`` for a ``max_side`` under 16."""
    if max_side is not None and max_side < 16:
        raise ValueError(f"max_side must be at least 16 pixels (or None for the photo's size), got {max_side}")
    height, width = image.shape[:2]
    new_h, new_w = canvas_size(height, width, max_side)
    if (new_h, new_w) == (height, width):
        return image, _homogeneous(transform)
    small = np.asarray(Image.fromarray(as_rgb_uint8(image, name="photo")).resize((new_w, new_h), Image.LANCZOS))
    sx, sy = new_w / width, new_h / height  # pixel centres at integers: x' = (x + 0.5) * sx - 0.5
    scale = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return small, scale @ _homogeneous(transform)


def canvas_size(height: int, width: int, max_side: Optional[int]) -> Tuple[int, int]:
    """``(height, width)`` of a ``height`` x ``width`` photo scaled down (aspect kept, rounded) so that its longer side
    is at most ``max_side``; unchanged when it already fits or ``max_side`` is ``None``."""
    if max_side is None or max(height, width) <= max_side:
        return height, width
    factor = max_side / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


def _homogeneous(transform: np.ndarray) -> np.ndarray:
    """A 2x3 or 3x3 affine transform as a new float64 3x3 matrix."""
    t = np.eye(3)
    t[:2] = np.asarray(transform, dtype=np.float64)[:2]
    return t


def landing_box(transform: np.ndarray, size: int, frame_hw: Tuple[int, int]) -> Optional[Tuple[int, int, int, int]]:
    """``(top, bottom, left, right)``: the frame pixels (a half-open box, clipped to the frame) whose centres
    may sample a ``size`` px crop placed by ``transform`` (crop -> frame, 3x3), with a pixel of margin;
    ``None`` when the crop lands outside the frame."""
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
    placed = corners @ np.asarray(transform, dtype=np.float64)[:2].T
    left, top = np.floor(placed.min(axis=0)) - 1
    right, bottom = np.ceil(placed.max(axis=0)) + 1
    top, left = int(max(top, 0)), int(max(left, 0))
    bottom, right = int(min(bottom, frame_hw[0])), int(min(right, frame_hw[1]))
    if top >= bottom or left >= right:
        return None
    return top, bottom, left, right
