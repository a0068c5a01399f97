"""The ``Face`` record and the errors of the face stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np


class NoFaceError(ValueError):
    """No face was found in an input image (the message names the input)."""


class ImageTooLargeError(ValueError):
    """An input image has more pixels than the limit (found from its header, before decoding)."""


class FaceIndexError(IndexError):
    """A face index was asked for that the image does not have."""


class ModelFileError(FileNotFoundError):
    """A model file shipped by a registry package is missing (the message says what to install)."""


@dataclass
class Face:
    """One detected face.

    ``box`` is (x0, y0, x1, y1) in pixels (x right, y down, pixel centres at integers);
    ``score`` the detector's confidence (scale depends on the detector); ``landmarks`` the 68
    iBUG points as float32 [68, 2] (x, y), or ``None`` when not computed; ``keypoints5`` the
    detector's own 5 points in ArcFace order (YuNet only), else ``None``.
    """

    box: Tuple[float, float, float, float]
    score: float
    landmarks: Optional[np.ndarray] = field(default=None, repr=False)
    keypoints5: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return max(self.width, 0.0) * max(self.height, 0.0)
