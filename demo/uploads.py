"""Uploads checked by our code, with our messages: files (present, not empty, not too large), images
(header pixel count before decoding, readable) and in-memory arrays. Messages never name server paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from latentreenact.faces import ImageTooLargeError, as_rgb_uint8, read_image
from latentreenact.fileio import file_digest

from .errors import DemoInputError

#: the image formats we name to users (PIL reads more)
IMAGE_FORMATS = "PNG, JPEG or WebP"


def check_file(path: Path, what: str, max_mb: float) -> None:
    """Refuse a missing, empty or too large upload."""
    if not path.is_file():
        raise DemoInputError(f"the {what} upload is no longer on the server; upload it again")
    size = path.stat().st_size
    if size == 0:
        raise DemoInputError(f"the {what} file is empty (0 bytes)")
    if size / 2**20 > max_mb:
        raise DemoInputError(f"the {what} is {size / 2**20:.0f} MB; this demo accepts at most {max_mb:g} MB")


def file_key(path: Path) -> str:
    """A content key of a file (sha1 of its bytes)."""
    return file_digest(path, "sha1")


def too_many_pixels(what: str, max_pixels: int) -> DemoInputError:
    """The error for an image above the pixel limit."""
    return DemoInputError(f"the {what} has more than {max_pixels / 1e6:g} megapixels, the most this demo "
                          f"accepts; downscale it first")


def read_photo(path: Path, what: str, max_pixels: int) -> np.ndarray:
    """Decode an image file as uint8 RGB; the pixel count is checked from the header, before decoding."""
    try:
        return read_image(path, max_pixels=max_pixels)
    except ImageTooLargeError as exc:
        raise too_many_pixels(what, max_pixels) from exc
    except ValueError as exc:
        if isinstance(exc.__cause__, Image.DecompressionBombError):
            raise too_many_pixels(what, max_pixels) from exc
        raise DemoInputError(f"the {what} is not an image this demo can read; upload a {IMAGE_FORMATS} "
                             f"file") from exc


def check_array(image: np.ndarray, what: str, max_pixels: int) -> np.ndarray:
    """An in-memory picture as uint8 RGB, within the pixel limit."""
    array = np.asarray(image)
    if array.ndim >= 2 and int(array.shape[0]) * int(array.shape[1]) > max_pixels:
        raise too_many_pixels(what, max_pixels)
    try:
        return as_rgb_uint8(array, name=what)
    except ValueError as exc:
        raise DemoInputError(f"the {what} is not an RGB or grayscale picture") from exc
