"""Warping an aligned crop back into its frame through a soft (feathered) mask."""

from __future__ import annotations

from typing import Optional, Union

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
    t = np.eye(3)
    t[:2] = np.asarray(transform, dtype=np.float64)[:2]
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
    inverse = np.linalg.inv(t)
    warped = warp_affine(crop, inverse, frame.shape[:2]).astype(np.float32)
    alpha = warp_affine(m.astype(np.float32), inverse, frame.shape[:2])[:, :, None]
    out = frame.astype(np.float32) * (1.0 - alpha) + warped * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
