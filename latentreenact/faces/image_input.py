"""The one rule for turning an input picture into uint8 RGB [H, W, 3].

- uint8 [H, W, 3]: used as is (assumed RGB).
- grayscale [H, W] or [H, W, 1]: the channel is repeated three times.
- RGBA [H, W, 4]: the alpha channel is dropped (colour kept as stored, not composited).
- uint16: divided by 257 and rounded (65535 -> 255).
- float: values in [0, 1] scaled by 255 and rounded (values a little outside are clipped; an image reaching past
  1.5 or below -0.5, on the 0-255 or the [-1, 1] scale, raises ``ValueError`` rather than turning white or black).
- bool: False -> 0, True -> 255.
- a PIL image: by its mode, as a file of that mode is read (16-bit modes as uint16, ``F`` as float, palette and
  other modes converted to RGB or RGBA).
Anything else raises ``ValueError`` naming the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .types import ImageTooLargeError

ImageLike = Union[np.ndarray, str, Path]
#: the values a float image may reach (beyond [0, 1] by rounding or resampling overshoot, clipped); past them it is on
#: another scale (0-255, or [-1, 1]) and refused
FLOAT_RANGE = (-0.5, 1.5)
#: the largest image ``read_image`` decodes by default (50 megapixels: an 8K photo, 7680 x 6400)
DEFAULT_MAX_PIXELS = 50_000_000


def as_rgb_uint8(image: np.ndarray, name: str = "input") -> np.ndarray:
    """Convert ``image`` to a contiguous uint8 RGB [H, W, 3] array by the rule above."""
    array = _pil_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"{name}: expected an image [H, W], [H, W, 3] or [H, W, 4], got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: the image is empty (shape {array.shape})")
    array = array[:, :, :3]
    if array.dtype == np.uint8:
        pass
    elif array.dtype == np.uint16:
        array = np.round(array.astype(np.float32) / 257.0).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{name}: the image contains NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if high > FLOAT_RANGE[1] or low < FLOAT_RANGE[0]:
            raise ValueError(f"{name}: a float image is read in [0, 1], but its values run from {low:g} to {high:g}; "
                             "scale it (e.g. image / 255 for 0-255 values, (image + 1) / 2 for [-1, 1]) or pass uint8")
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise ValueError(f"{name}: unsupported image dtype {array.dtype} (use uint8, uint16, float in [0, 1] or bool)")
    return np.ascontiguousarray(array)


def _pil_array(image: Image.Image) -> np.ndarray:
    """A PIL image's pixels for the rule above: 16-bit and 32-bit integer modes as uint16, float mode ``F`` as
    float32 (read in [0, 1]), RGB, L and RGBA as they are, other modes (palette, CMYK, LA, ...) converted to RGB(A)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        return array.astype(np.uint16) if array.dtype != np.uint16 else array
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode in ("RGB", "L", "RGBA"):
        return np.asarray(image)
    return np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))


def _image_file(path: Union[str, Path]) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    return path


def _check_pixels(path: Path, size: Tuple[int, int], max_pixels: Optional[int]) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path}: {width} x {height} is {width * height / 1e6:.1f} megapixels, more than the limit of "
            f"{max_pixels / 1e6:.0f}; downscale the picture first")


def probe_image(path: Union[str, Path], max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> Tuple[int, int]:
    """(width, height) of an image file, read from its header without decoding any pixel: a cheap
    check before long work. Raises as :func:`read_image` does for a missing file, a directory, a
    file that is not an image and one above ``max_pixels`` (damage further in the file shows only
    when it is decoded)."""
    path = _image_file(path)
    try:
        with Image.open(path) as image:
            _check_pixels(path, image.size, max_pixels)
            return image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def read_image(path: Union[str, Path], max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3] (EXIF orientation applied; 16-bit and alpha by the rule above).

    Raises ``FileNotFoundError`` for a missing file, ``ImageTooLargeError`` (a ``ValueError``) when
    the header claims more than ``max_pixels`` pixels (``None``: PIL's own decompression-bomb limit
    only) and ``ValueError`` naming the file for a directory or one that is not an image, is corrupt or
    truncated. Both size limits are checked before any pixel is decoded."""
    path = _image_file(path)
    try:
        with Image.open(path) as image:
            _check_pixels(path, image.size, max_pixels)
            array = _pil_array(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    return as_rgb_uint8(array, name=str(path))
