"""Net3D backend ``bfm-fit``: dlib faces + 68 landmarks, then the batched BFM landmark fit.

Not differentiable (detection and the fit run on uint8 copies of the images).
"""

from __future__ import annotations

import logging
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..faces import NoFaceError
from ..shape3d import LandmarkFitter, LinearShapeModel
from .base import ImageBatch, PoseEstimator, as_uint8_list, check_missing, detect_landmarks
from .params import PoseParams

__all__ = ["BFMFitEstimator"]

log = logging.getLogger(__name__)


class BFMFitEstimator(PoseEstimator):
    """Largest face per image (``detector``: hog, mmod, yunet), 68 landmarks, BFM fit.

    ``noise``: the fit's assumed landmark noise (regularisation, see
    :class:`~latentreenact.shape3d.LandmarkFitter`); ``vertices``: also return the full BFM
    vertices [B, 53215, 3] (needs the dense model files; large). ``pose``: ``"joint"`` fits pose
    and coefficients together; ``"rigid"`` takes the pose from the nose and eye landmarks alone and
    holds it while the coefficients are solved (backend ``bfm-rigid``: a laughing mouth does not
    read as head pitch; docs/driving.md).
    """

    name = "bfm-fit"
    differentiable = False

    def __init__(self, detector: str = "hog", noise: float = 0.02, upsample: int = 1,
                 vertices: bool = False, device: str = "cpu", pose: str = "joint") -> None:
        if pose not in ("joint", "rigid"):
            raise ValueError(f"pose must be 'joint' or 'rigid', got {pose!r}")
        self.pose_mode = pose
        if pose == "rigid":
            self.name = "bfm-rigid"
        self.detector = detector
        self.upsample = upsample
        self.with_vertices = vertices
        model = LinearShapeModel.load(dense=vertices, device=torch.device(device))
        self.fitter = LandmarkFitter(model, noise=noise)

    def _fit(self, points: np.ndarray):
        fit = self.fitter.fit_rigid if self.pose_mode == "rigid" else self.fitter.fit
        try:
            return [fit(points)]
        except ValueError:  # one bad face fails the batch: fit one by one
            log.debug("batched fit failed; fitting faces one by one")
            out = []
            for p in points:
                try:
                    out.append(fit(p[None]))
                except ValueError:
                    out.append(None)
            return out

    def estimate(self, images: ImageBatch, missing: str = "raise") -> PoseParams:
        """See :class:`~latentreenact.net3d.base.PoseEstimator`."""
        check_missing(missing)
        rgb = as_uint8_list(images)
        return self._from_landmarks(detect_landmarks(rgb, self.detector, self.upsample), missing)

    def estimate_boxes(self, images: ImageBatch, boxes: Sequence[Sequence[float]], missing: str = "raise") -> PoseParams:
        """:meth:`estimate` with each image's face box (x0, y0, x1, y1) given: the 68-landmark predictor
        starts from it and no detector runs (a face tracked from the previous frame)."""
        check_missing(missing)
        return self._from_landmarks(detect_landmarks(as_uint8_list(images), boxes=boxes), missing)

    def _from_landmarks(self, lmk: List[Optional[np.ndarray]], missing: str) -> PoseParams:
        """The BFM fit of each image's 68 landmarks (None: no usable face)."""
        batch = len(lmk)
        if missing == "raise" and any(p is None for p in lmk):
            bad = [i for i, p in enumerate(lmk) if p is None]
            raise NoFaceError(f"no usable face in image(s) {bad} (detector {self.detector})")
        idx = [i for i, p in enumerate(lmk) if p is not None]
        device = self.fitter.device
        nan = lambda *shape: torch.full(shape, float("nan"), device=device)  # noqa: E731
        model = self.fitter.model
        angles, expression, identity = nan(batch, 3), nan(batch, model.num_exp), nan(batch, model.num_id)
        landmarks, detected = nan(batch, 68, 2), nan(batch, 68, 2)
        rotation, scale, translation, error = nan(batch, 3, 3), nan(batch), nan(batch, 2), nan(batch)
        found = torch.zeros(batch, dtype=torch.bool, device=device)
        if idx:
            points = np.stack([lmk[i] for i in idx])
            fits = self._fit(points)
            rows = [[k] for k in range(len(idx))] if len(fits) > 1 else [list(range(len(idx)))]
            for fit, local in zip(fits, rows):
                if fit is None:
                    continue
                target = torch.tensor([idx[k] for k in local], device=device)
                angles[target] = fit.angles
                expression[target], identity[target] = fit.expression, fit.identity
                landmarks[target], rotation[target] = fit.landmarks, fit.rotation
                scale[target], translation[target], error[target] = fit.scale, fit.translation, fit.error
                detected[target] = torch.as_tensor(points[local], dtype=torch.float32, device=device)
                found[target] = True
        if missing == "raise" and not bool(found.all()):
            raise ValueError(f"the landmark fit failed for image(s) {torch.nonzero(~found).flatten().tolist()}")
        vertices = None
        if self.with_vertices:
            vertices = model.vertices(identity.nan_to_num(), expression.nan_to_num())
            vertices[~found] = float("nan")
        return PoseParams(angles=angles, expression=expression, landmarks=landmarks, backend=self.name,
                          identity=identity, vertices=vertices, found=found,
                          extras={"rotation": rotation, "scale": scale, "translation": translation,
                                  "fit_error": error, "detected_landmarks": detected})
