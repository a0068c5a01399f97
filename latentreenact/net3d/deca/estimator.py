"""Net3D backend ``deca``: DECA's coarse encoder + FLAME, differentiable for tensor input.

Pipeline: crop (DECA's landmark box x 1.1 x 1.25, or the whole image) -> 224 px RGB in [0, 1] ->
``E_flame`` -> code (shape, tex, exp, pose, cam, light) -> FLAME vertices and 68 landmarks ->
DECA's orthographic camera (``s * (X_xy + [tx, ty])``, y flipped) -> crop pixels -> input-image
pixels through the inverse crop transform. Angles come from the global rotation (docs/architecture.md §6
formulas); ``jaw`` is the x-component of the jaw axis-angle (docs/architecture.md §7).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from ...faces import NoFaceError
from ...shape3d.rotations import euler_from_rotation
from ..base import ImageBatch, PoseEstimator, as_uint8_list, check_missing, check_tensor_images, detect_landmarks
from ..params import PoseParams
from .crop import apply_transform, crop_from_landmarks, crop_full_image, normalized_to_crop_pixels, warp_to_crop
from .encoder import DecaEncoder, load_deca_encoder, split_code
from .flame import FLAME
from .lbs import rodrigues

__all__ = ["DecaEstimator", "deca_files", "orthographic_projection"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
DECA_FILES = {"model": "deca_model.tar", "flame": "generic_model.pkl", "landmarks": "landmark_embedding.npy"}
DIR_ENV = "LATENTREENACT_DECA_DIR"


def deca_files(data_dir: Optional[PathLike] = None) -> Dict[str, Path]:
    """Paths of DECA's three files in ``data_dir`` (default: ``$LATENTREENACT_DECA_DIR``)."""
    folder = data_dir if data_dir is not None else os.environ.get(DIR_ENV)
    if folder is None:
        raise FileNotFoundError(f"DECA's files are user-supplied: pass data_dir or set ${DIR_ENV} to a folder "
                                f"holding {', '.join(DECA_FILES.values())} (DECA's data folder, "
                                "https://github.com/yfeng95/DECA; FLAME 2020 from https://flame.is.tue.mpg.de)")
    return {key: Path(folder) / name for key, name in DECA_FILES.items()}


def orthographic_projection(points: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """DECA's ``batch_orth_proj`` then its y flip: [B, N, 3] -> image-plane [B, N, 2] in [-1, 1] units.

    ``cam`` [B, 3] = (s, tx, ty): ``x' = s (x + tx)``, ``y' = -s (y + ty)`` (image y points down).
    """
    xy = cam[:, None, :1] * (points[..., :2] + cam[:, None, 1:])
    return xy * xy.new_tensor([1.0, -1.0])


class DecaEstimator(PoseEstimator):
    """DECA coarse reconstruction as a Net3D backend.

    Files: ``model_path`` (``deca_model.tar``, key ``E_flame``), ``flame_path``
    (``generic_model.pkl``), ``landmark_path`` (``landmark_embedding.npy``), or ``data_dir``
    holding all three. ``crop``: ``"detect"`` (dlib face + 68 landmarks on a uint8 copy, DECA's
    crop; the crop placement is not differentiated) or ``"full"`` (the whole image, for images
    that are already face crops). ``estimate(..., landmarks=...)`` places the crop from given
    landmarks instead of detecting.
    """

    name = "deca"
    differentiable = True

    def __init__(self, model_path: Optional[PathLike] = None, flame_path: Optional[PathLike] = None,
                 landmark_path: Optional[PathLike] = None, data_dir: Optional[PathLike] = None,
                 device: Union[str, torch.device] = "cpu", crop: str = "detect", detector: str = "hog",
                 upsample: int = 1) -> None:
        if crop not in ("detect", "full"):
            raise ValueError(f"crop must be 'detect' or 'full', got {crop!r}")
        if None in (model_path, flame_path, landmark_path):
            found = deca_files(data_dir)
            model_path = model_path or found["model"]
            flame_path = flame_path or found["flame"]
            landmark_path = landmark_path or found["landmarks"]
        self.device = torch.device(device)
        self.encoder: DecaEncoder = load_deca_encoder(model_path, self.device).requires_grad_(False)
        self.flame = FLAME.load(flame_path, landmark_path).to(self.device)
        self.crop, self.detector, self.upsample = crop, detector, upsample

    # ------------------------------------------------------------------ pieces

    def _transforms(self, sizes: List[Tuple[int, int]], rgb: Optional[List[np.ndarray]],
                    landmarks: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Crop transforms [B, 3, 3] (NaN rows where no face) and the found mask [B]."""
        batch = len(sizes)
        if landmarks is not None:
            points = torch.as_tensor(landmarks, dtype=torch.float64)
            if points.shape != (batch, 68, 2):
                raise ValueError(f"landmarks must be [{batch}, 68, 2], got {tuple(points.shape)}")
            return crop_from_landmarks(points), torch.ones(batch, dtype=torch.bool)
        if self.crop == "full":
            return torch.cat([crop_full_image(h, w) for h, w in sizes]), torch.ones(batch, dtype=torch.bool)
        found = detect_landmarks(rgb, self.detector, self.upsample)
        transforms = torch.full((batch, 3, 3), float("nan"), dtype=torch.float64)
        for i, points in enumerate(found):
            if points is not None:
                transforms[i] = crop_from_landmarks(torch.as_tensor(points)[None])[0]
        return transforms, torch.tensor([p is not None for p in found], dtype=torch.bool)

    def encode(self, crops: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Crops [B, 3, 224, 224] RGB in [0, 1] -> DECA's code parts (see ``split_code``)."""
        return split_code(self.encoder(crops))

    def decode(self, code: Dict[str, torch.Tensor], transforms: torch.Tensor) -> Dict[str, torch.Tensor]:
        """FLAME + camera for a code: vertices, 3D/2D landmarks (crop and image pixels), rotation."""
        vertices, lmk3d, _ = self.flame(code["shape"], code["exp"], code["pose"])
        lmk_crop = normalized_to_crop_pixels(orthographic_projection(lmk3d, code["cam"].to(lmk3d.dtype)))
        inverse = torch.linalg.inv(transforms.to(torch.float64)).to(lmk_crop.device)
        return {"vertices": vertices, "landmarks3d": lmk3d, "landmarks_crop": lmk_crop,
                "landmarks": apply_transform(inverse, lmk_crop), "rotation": rodrigues(code["pose"][:, :3])}

    # ------------------------------------------------------------------ estimate

    def estimate(self, images: ImageBatch, missing: str = "raise",
                 landmarks: Optional[torch.Tensor] = None) -> PoseParams:
        """See :class:`~latentreenact.net3d.base.PoseEstimator`; ``landmarks`` [B, 68, 2] place the crops."""
        check_missing(missing)
        if torch.is_tensor(images):
            tensor = (check_tensor_images(images).to(self.device) + 1) / 2
            batch_images: List[torch.Tensor] = [tensor]
            sizes = [tuple(images.shape[2:])] * images.shape[0]
            rgb = as_uint8_list(images) if (self.crop == "detect" and landmarks is None) else None
        else:
            rgb = as_uint8_list(images)
            batch_images = [torch.from_numpy(im).to(self.device).permute(2, 0, 1)[None].float() / 255 for im in rgb]
            sizes = [im.shape[:2] for im in rgb]
        transforms, found = self._transforms(sizes, rgb, landmarks)
        if missing == "raise" and not bool(found.all()):
            raise NoFaceError(f"no usable face in image(s) {torch.nonzero(~found).flatten().tolist()} "
                              f"(detector {self.detector})")
        idx = torch.nonzero(found).flatten()
        if idx.numel() == 0:
            return self._empty(len(sizes))
        crops = []
        if len(batch_images) == 1:
            crops.append(warp_to_crop(batch_images[0][idx.to(self.device)], transforms[idx].to(self.device)))
        else:
            crops = [warp_to_crop(batch_images[i], transforms[i:i + 1].to(self.device)) for i in idx.tolist()]
        crops_t = torch.cat(crops)
        code = self.encode(crops_t)
        out = self.decode(code, transforms[idx])
        angles = _euler(out["rotation"])
        values = {"angles": angles, "expression": code["exp"], "jaw": code["pose"][:, 3], "identity": code["shape"],
                  "landmarks": out["landmarks"].float(), "vertices": out["vertices"]}
        extras = {"shape": code["shape"], "tex": code["tex"], "exp": code["exp"], "pose": code["pose"],
                  "cam": code["cam"], "light": code["light"], "landmarks3d": out["landmarks3d"],
                  "landmarks_crop": out["landmarks_crop"], "rotation": out["rotation"],
                  "crop_transform": transforms[idx].to(self.device)}
        if idx.numel() != len(sizes):
            values = {k: _scatter(v, idx, len(sizes)) for k, v in values.items()}
            extras = {k: _scatter(v, idx, len(sizes)) for k, v in extras.items()}
        return PoseParams(angles=values["angles"], expression=values["expression"], landmarks=values["landmarks"],
                          backend=self.name, jaw=values["jaw"], identity=values["identity"],
                          vertices=values["vertices"], found=found.to(self.device), extras=extras)

    def _empty(self, batch: int) -> PoseParams:
        nan = lambda *s: torch.full(s, float("nan"), device=self.device)  # noqa: E731
        return PoseParams(angles=nan(batch, 3), expression=nan(batch, self.flame.n_exp), landmarks=nan(batch, 68, 2),
                          backend=self.name, jaw=nan(batch), identity=nan(batch, self.flame.n_shape),
                          vertices=None, found=torch.zeros(batch, dtype=torch.bool, device=self.device))


def _euler(rotation: torch.Tensor) -> torch.Tensor:
    return euler_from_rotation(rotation)


def _scatter(values: torch.Tensor, idx: torch.Tensor, batch: int) -> torch.Tensor:
    """Rows ``idx`` of a [batch, ...] tensor filled from ``values``; NaN elsewhere (differentiable)."""
    out = values.new_full((batch, *values.shape[1:]), float("nan"))
    return out.index_copy(0, idx.to(values.device), values)
