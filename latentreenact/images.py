"""Conversions between the model world (float NCHW RGB in [-1, 1]) and uint8 HWC images."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from PIL import Image

from .fileio import PathLike, atomic_path
from .output_paths import IMAGE_FORMATS, output_kind


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3] (values clipped)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
    scaled = ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255)
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def from_uint8(images: np.ndarray, device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """uint8 [B, H, W, 3] or [H, W, 3] -> float32 [B, 3, H, W] in [-1, 1]."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected uint8 images [B, H, W, 3], got {array.dtype} {array.shape}")
    array = np.ascontiguousarray(array) if array.flags.writeable else np.array(array)  # torch needs writable memory
    tensor = torch.from_numpy(array).to(device).permute(0, 3, 1, 2).float()
    return tensor / 127.5 - 1


def make_grid(images: np.ndarray, columns: Optional[int] = None, padding: int = 2) -> np.ndarray:
    """Tile uint8 [B, H, W, 3] images into one [rows*H, columns*W, 3] image (black padding); ``columns`` (default:
    a square grid) is at most B, so a short row of images gets no empty tiles."""
    b, h, w, c = images.shape
    columns = min(columns or max(1, math.ceil(math.sqrt(b))), max(b, 1))
    rows = math.ceil(b / columns)
    grid = np.zeros((rows * (h + padding) + padding, columns * (w + padding) + padding, c), dtype=np.uint8)
    for i in range(b):
        r, col = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = images[i]
    return grid


#: Encoder settings of the lossy formats (Pillow's defaults, quality 75 and 4:2:0 chroma, soften faces visibly)
SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}


def save_image(image: np.ndarray, path: PathLike) -> Path:
    """Write a uint8 [H, W, 3] image atomically (format from the suffix, e.g. .png, .jpg; JPEG and WebP at quality
    95, :data:`SAVE_OPTIONS`)."""
    path = Path(path)
    fmt = image_format(path)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format=fmt, **SAVE_OPTIONS.get(fmt, {}))
    return path


def image_format(path: PathLike) -> str:
    """Pillow format name for an output path's suffix (``output_paths.IMAGE_FORMATS``);
    ``UnsupportedOutputError`` (a ``ValueError``) for any other suffix."""
    output_kind(path, "image")
    return IMAGE_FORMATS[Path(path).suffix.lower()]


#: The most two channels of a greyscale photo's pixel may differ (8-bit levels; JPEG's chroma noise stays below it).
GREY_TOLERANCE = 6


def is_greyscale(image: np.ndarray, tolerance: float = GREY_TOLERANCE) -> bool:
    """Whether a uint8 RGB image [..., 3] is grey: on 99 % of its pixels the channels lie within ``tolerance``."""
    pixels = np.asarray(image).reshape(-1, 3).astype(np.int16)
    if not len(pixels):
        return False
    return float(np.percentile(pixels.max(axis=1) - pixels.min(axis=1), 99)) <= tolerance


def to_greyscale(images: np.ndarray) -> np.ndarray:
    """uint8 RGB images [..., 3] in grey: ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) in all three channels."""
    luma = np.asarray(images, dtype=np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.repeat(np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """A uint8 [H, W, 3] image resized to ``size`` x ``size`` (Lanczos); a copy when already that size
    and read-only (so callers may write into the result)."""
    if image.shape[:2] == (size, size):
        return image if image.flags.writeable else image.copy()

    return np.array(Image.fromarray(image).resize((size, size), Image.LANCZOS))


def array_key(image: np.ndarray) -> str:
    """A content key of an array (sha1 of its shape and bytes): the cache key of inverted sources."""
    digest = hashlib.sha1(np.ascontiguousarray(image).tobytes())
    digest.update(repr(image.shape).encode())
    return digest.hexdigest()
