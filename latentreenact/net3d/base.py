"""The Net3D backend interface and the two accepted image inputs.

A backend maps images to :class:`~latentreenact.net3d.params.PoseParams`. Images are either a
list of uint8 RGB arrays [H, W, 3] (sizes may differ) or a float tensor [B, 3, H, W] in [-1, 1]
(the model world, e.g. generator output). Differentiable backends keep the autograd graph of a
tensor input; the others detach it.
"""

from __future__ import annotations

import abc
import logging
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

from ..faces import NoFaceError, as_rgb_uint8, find_face, landmarks_68
from ..images import to_uint8
from ..shape3d import check_landmarks
from .params import PoseParams

__all__ = ["ImageBatch", "PoseEstimator", "as_uint8_list", "check_missing", "check_tensor_images",
           "detect_landmarks"]

log = logging.getLogger(__name__)

ImageBatch = Union[Sequence[np.ndarray], torch.Tensor]


class PoseEstimator(abc.ABC):
    """A Net3D backend: ``estimate(images) -> PoseParams``.

    ``missing``: what to do when a face is not found: ``"raise"`` (``NoFaceError`` naming the
    images) or ``"mask"`` (the rows get NaN and ``found`` False).
    """

    name: str = "?"
    differentiable: bool = False

    @abc.abstractmethod
    def estimate(self, images: ImageBatch, missing: str = "raise") -> PoseParams:
        """Pose, expression and landmarks of the (largest) face in every image."""

    def __call__(self, images: ImageBatch, missing: str = "raise") -> PoseParams:
        return self.estimate(images, missing=missing)


def check_missing(missing: str) -> None:
    """Validate the ``missing`` option."""
    if missing not in ("raise", "mask"):
        raise ValueError(f"missing must be 'raise' or 'mask', got {missing!r}")


def check_tensor_images(images: torch.Tensor) -> torch.Tensor:
    """Validate a float [B, 3, H, W] batch (values expected in [-1, 1])."""
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"image tensors must be float [B, 3, H, W] in [-1, 1], got {images.dtype} "
                         f"{tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("no images given (batch of 0)")
    return images


def as_uint8_list(images: ImageBatch) -> List[np.ndarray]:
    """Either input form as a list of uint8 RGB [H, W, 3] arrays (tensors are detached)."""
    if torch.is_tensor(images):
        return list(to_uint8(check_tensor_images(images)))
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if len(images) == 0:
        raise ValueError("no images given (empty list)")
    return [as_rgb_uint8(im, name=f"image[{i}]") for i, im in enumerate(images)]


def detect_landmarks(images: Sequence[np.ndarray], detector: str = "hog", upsample: int = 1,
                     boxes: Optional[Sequence[Sequence[float]]] = None) -> List[Optional[np.ndarray]]:
    """68 landmarks (float64 [68, 2]) of the largest face per uint8 RGB image; None where none is usable.
    ``boxes``: each image's face box (x0, y0, x1, y1), given instead of detected (a tracked face): the
    landmark predictor starts from it."""
    if boxes is not None and len(boxes) != len(images):
        raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
    found: List[Optional[np.ndarray]] = []
    for i, image in enumerate(images):
        try:
            if boxes is None:
                points = find_face(image, detector=detector, upsample=upsample, name=f"image[{i}]").landmarks
            else:
                points = landmarks_68(image, boxes[i])
            check_landmarks(points)
            found.append(np.asarray(points, dtype=np.float64))
        except (NoFaceError, ValueError) as exc:
            log.debug("image[%d]: %s", i, exc)
            found.append(None)
    return found
