"""Cutting a square out of an image along a (rotated) quad, FFHQ style, with its transform.

The recipe is the one used to build FFHQ (NVlabs ffhq-dataset ``recreate_aligned_images``):
shrink the image when the quad is much larger than the output, crop around the quad with a
border, pad with reflected content blended into a blur of itself and the image median where the
quad leaves the picture, then sample the quad with PIL's QUAD transform (bilinear) and resize.

Without shrinking the output is identical to the original recipe; when the image is shrunk, we map
the quad with the exact per-axis resize factors and pixel-centre convention (the original
divides by the integer shrink factor), so the crop matches the returned transform exactly.

Coordinates are pixel-index coordinates (pixel centres at integers, x right, y down).
Transforms are 3x3 float64 matrices T with ``[x, y, 1]_image = T @ [u, v, 1]_crop``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np
from PIL import Image

from .image_input import as_rgb_uint8

#: Half-width of PIL's Lanczos filter in output pixels (a = 3)
LANCZOS_SUPPORT = 3


class AlignedCrop(NamedTuple):
    """A face crop (uint8 [S, S, 3]) and the 3x3 transform from crop pixels to image pixels."""

    crop: np.ndarray
    transform: np.ndarray


def quad_transform(quad: np.ndarray, size: int) -> np.ndarray:
    """3x3 crop->image transform for a quad (top-left, bottom-left, bottom-right, top-right) and output ``size``."""
    quad = np.asarray(quad, dtype=np.float64)
    ex, ey = (quad[3] - quad[0]) / size, (quad[1] - quad[0]) / size
    origin = quad[0] + 0.5 * (ex + ey)
    return np.array([[ex[0], ey[0], origin[0]], [ex[1], ey[1], origin[1]], [0.0, 0.0, 1.0]])


def rescale_transform(transform: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """The transform of the same crop resampled from ``from_size`` to ``to_size`` pixels."""
    s = from_size / to_size
    scale = np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5], [0.0, 0.0, 1.0]])
    return np.asarray(transform, dtype=np.float64) @ scale


def extract_quad(image: np.ndarray, quad: np.ndarray, size: int, transform_size: Optional[int] = None,
                 padding: bool = True) -> AlignedCrop:
    """Sample the square ``quad`` of ``image`` into a ``size`` x ``size`` crop (FFHQ shrink/crop/pad/warp).

    ``transform_size`` (default ``size``) is the resolution of the warp before the final resize
    (FFHQ itself used 4096 -> 1024). ``padding`` enables the reflect + blur fill outside the image
    (else those pixels are black).
    """
    if size < 1:
        raise ValueError(f"crop size must be >= 1, got {size}")
    rgb = as_rgb_uint8(image)
    tsize = int(transform_size or size)
    quad = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    transform = quad_transform(quad, size)
    qsize = float(np.hypot(*(quad[3] - quad[0])))
    height, width = rgb.shape[:2]
    q = quad.copy()

    shrink = int(np.floor(qsize / size * 0.5))  # FFHQ recipe: relative to the output size
    full = (width, height)  # the size of the (shrunk) image in which the crop below is chosen
    if shrink > 1:
        full = (max(1, int(np.rint(width / shrink))), max(1, int(np.rint(height / shrink))))
        sx, sy = full[0] / width, full[1] / height
        q = (q + 0.5) * np.array([sx, sy]) - 0.5
        qsize *= (sx + sy) / 2

    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = (int(np.floor(q[:, 0].min())), int(np.floor(q[:, 1].min())),
            int(np.ceil(q[:, 0].max())), int(np.ceil(q[:, 1].max())))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0), min(crop[2] + border, full[0]),
            min(crop[3] + border, full[1]))
    if crop[2] <= crop[0] or crop[3] <= crop[1]:  # quad entirely outside the image
        crop = (0, 0, full[0], full[1])
    img = _cut(rgb, crop, shrink, full)
    q = q - np.array(crop[:2], dtype=np.float64)

    pad = (int(np.floor(q[:, 0].min())), int(np.floor(q[:, 1].min())),
           int(np.ceil(q[:, 0].max())), int(np.ceil(q[:, 1].max())))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0),
           max(pad[2] - img.size[0] + border, 0), max(pad[3] - img.size[1] + border, 0))
    if padding and max(pad) > border - 4:
        pad = tuple(int(p) for p in np.maximum(pad, int(np.rint(qsize * 0.3))))
        img = Image.fromarray(_reflect_blur_pad(np.asarray(img, dtype=np.float32), pad, qsize))
        q = q + np.array(pad[:2], dtype=np.float64)

    out = img.transform((tsize, tsize), Image.QUAD, tuple((q + 0.5).flatten()), Image.BILINEAR)
    if tsize != size:
        out = out.resize((size, size), Image.LANCZOS)
    return AlignedCrop(np.asarray(out, dtype=np.uint8).copy(), transform)


def _cut(rgb: np.ndarray, crop: Tuple[int, int, int, int], shrink: int, full: Tuple[int, int]) -> Image.Image:
    """The ``crop`` box of ``rgb`` shrunk ``shrink`` times to ``full`` (width, height) (FFHQ's Lanczos shrink of the
    whole image, then the crop).

    Where the shrink divides both sides, the shrunk image's pixel centres are whole and half input pixels, and
    PIL computes the crop alone from a margin of input pixels around it, bit for bit as from the whole shrunk
    image: only that region is converted and filtered (a 4K driving frame: a tenth of the work). Otherwise the
    whole image is shrunk, as FFHQ does.
    """
    height, width = rgb.shape[:2]
    if shrink <= 1:
        return Image.fromarray(np.ascontiguousarray(rgb[crop[1]:crop[3], crop[0]:crop[2]]))
    if width % shrink or height % shrink:
        return Image.fromarray(rgb).resize(full, Image.LANCZOS).crop(crop)
    margin = LANCZOS_SUPPORT * shrink + 2  # the filter's reach in input pixels, and a pixel for rounding
    x0, y0 = max(crop[0] * shrink - margin, 0), max(crop[1] * shrink - margin, 0)
    x1, y1 = min(crop[2] * shrink + margin, width), min(crop[3] * shrink + margin, height)
    region = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    box = (crop[0] * shrink - x0, crop[1] * shrink - y0, crop[2] * shrink - x0, crop[3] * shrink - y0)
    return region.resize((crop[2] - crop[0], crop[3] - crop[1]), Image.LANCZOS, box=box)


def _reflect_blur_pad(img: np.ndarray, pad: tuple, qsize: float) -> np.ndarray:
    """FFHQ's padding: reflect, then fade towards a blurred copy and the median colour with distance."""
    from scipy.ndimage import gaussian_filter

    img = np.pad(img, ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
    h, w, _ = img.shape
    y, x, _ = np.ogrid[:h, :w, :1]
    mask = np.maximum(1.0 - np.minimum(np.float32(x) / pad[0], np.float32(w - 1 - x) / pad[2]),
                      1.0 - np.minimum(np.float32(y) / pad[1], np.float32(h - 1 - y) / pad[3]))
    blur = qsize * 0.02
    img += (gaussian_filter(img, [blur, blur, 0]) - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    img += (np.median(img, axis=(0, 1)) - img) * np.clip(mask, 0.0, 1.0)
    return np.uint8(np.clip(np.rint(img), 0, 255))
