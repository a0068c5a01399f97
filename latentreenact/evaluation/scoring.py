"""Per-frame and per-method scores of reenacted crops (the metric functions live in
``latentreenact.metrics``).

Per frame (``NaN`` where a metric does not apply or a face / pose was not found):

- ``csim_source``: identity cosine between output and source; ``csim_target`` (self): output vs
  ground truth. Embeddings from the ``identity`` extractor (SFace by default).
- ``pose_l1`` (mean of ``yaw_l1``, ``pitch_l1``, ``roll_l1``, degrees) and ``expression_l1``: Net3D
  on the output vs Net3D on the driving frame.
- self only: ``l1`` (mean absolute pixel difference, [0, 1] scale), ``perceptual`` (the offline
  identity-feature distance), ``lpips`` (when a backbone is given) and ``nme`` (68 landmarks of
  output vs ground truth, normalised by the square root of the ground-truth face box area, x 10^3).

Per method and mode: means over frames (NaNs left out, their count kept) and Fréchet distances
between the features of the outputs and of the real frames (ground truth in self mode, driving
frames in cross mode): ``ifd`` on identity embeddings (an identity-embedding Fréchet distance,
**not** FID) and ``fid`` when Inception features are supplied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..faces import NoFaceError, find_face
from ..images import from_uint8
from ..metrics import csim, expression_l1, nme, per_angle_l1
from .data import EvalClip

if TYPE_CHECKING:
    from ..faces.types import Face

FaceFn = Callable[[np.ndarray], Optional["Face"]]
DistanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
FRAME_METRICS = ("csim_source", "csim_target", "l1", "perceptual", "lpips", "nme", "pose_l1", "yaw_l1", "pitch_l1",
                 "roll_l1", "expression_l1")
ANGLES = ("yaw", "pitch", "roll")


@dataclass
class ClipReference:
    """What a clip's scores compare against, measured once for all methods: the real frames' set
    features (ground truth in self mode, driving frames in cross mode), the source's identity
    embedding, the driving frames' raw pose vectors and, in self mode, the ground truth's faces."""

    real_features: Dict[str, np.ndarray]
    source_embedding: np.ndarray
    driving_pose: np.ndarray
    target_faces: Optional[List[Optional["Face"]]] = None


def dlib_face(detector: str = "hog") -> FaceFn:
    """The largest face of a crop with its 68 landmarks, or None."""
    def face(crop: np.ndarray) -> Optional["Face"]:
        try:
            return find_face(crop, detector=detector, name="crop")
        except NoFaceError:
            return None

    return face


def _nan(n: int) -> np.ndarray:
    return np.full(n, math.nan)


class Scorer:
    """Scores outputs with an ``estimator`` (Net3D backend), pose-vector entry ``names``, an identity
    feature extractor, a face/landmark finder, optional distances (offline perceptual, LPIPS) and
    optional Inception features for FID."""

    def __init__(self, estimator: Any, names: Sequence[str], identity: Callable[[np.ndarray], np.ndarray],
                 face: FaceFn, perceptual: Optional[DistanceFn] = None, lpips: Optional[DistanceFn] = None,
                 fid_features: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                 device: Any = "cpu", batch_size: int = 16) -> None:
        if list(names[:3]) != list(ANGLES):
            raise ValueError(f"the pose vector must start with yaw, pitch, roll, got {list(names[:3])}")
        self.estimator, self.names = estimator, list(names)
        self.identity, self.face, self.perceptual, self.lpips = identity, face, perceptual, lpips
        self.fid_features, self.device, self.batch_size = fid_features, device, int(batch_size)

    # ------------------------------------------------------------------ measurements
    def pose(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Raw pose vectors [N, k] (NaN rows where Net3D finds no face)."""
        rows = []
        for start in range(0, len(crops), self.batch_size):
            batch = from_uint8(np.stack(crops[start:start + self.batch_size]), self.device)
            with torch.no_grad():
                params = self.estimator.estimate(batch, missing="mask")
                p = params.to_vector(self.names).float().cpu().numpy().astype(np.float64)
            found = params.found.cpu().numpy().astype(bool)
            p[~found] = math.nan
            rows.append(p)
        return np.concatenate(rows)

    def _distance(self, fn: Optional[DistanceFn], a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> np.ndarray:
        if fn is None:
            return _nan(len(a))
        out = []
        for start in range(0, len(a), self.batch_size):
            x = from_uint8(np.stack(a[start:start + self.batch_size]), self.device)
            y = from_uint8(np.stack(b[start:start + self.batch_size]), self.device)
            with torch.no_grad():
                out.append(fn(x, y).detach().float().cpu().numpy().reshape(-1))
        return np.concatenate(out).astype(np.float64)

    def _nme(self, outputs: Sequence[np.ndarray], target_faces: Sequence[Optional["Face"]]) -> np.ndarray:
        values = _nan(len(outputs))
        for i, (out, b) in enumerate(zip(outputs, target_faces)):
            a = self.face(out)
            if a is None or b is None or a.landmarks is None or b.landmarks is None:
                continue
            values[i] = nme(a.landmarks[None], b.landmarks[None], np.asarray([b.box], np.float64))[0]
        return values

    # ------------------------------------------------------------------ scores
    def reference(self, clip: EvalClip) -> ClipReference:
        """The per-clip measurements every method's scores share (see :class:`ClipReference`). In self
        mode the real frames are the targets, whose identity features also give ``csim_target``."""
        real = clip.targets if clip.targets is not None else clip.driving
        return ClipReference(real_features=self.set_features(real),
                             source_embedding=self.identity(clip.source[None]),
                             driving_pose=self.pose(clip.driving),
                             target_faces=None if clip.targets is None else [self.face(t) for t in clip.targets])

    def frame_scores(self, clip: EvalClip, outputs: Sequence[np.ndarray], ref: Optional[ClipReference] = None,
                     output_embeddings: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """Every per-frame metric of ``outputs`` (one per driving frame): name -> [N]. ``ref`` (from
        :meth:`reference`) and the outputs' identity embeddings are computed here when not given."""
        n = len(outputs)
        if n != len(clip.driving):
            raise ValueError(f"{clip.name}: {n} outputs for {len(clip.driving)} driving frames")
        ref = ref if ref is not None else self.reference(clip)
        emb_out = output_embeddings if output_embeddings is not None else self.identity(np.stack(outputs))
        scores: Dict[str, np.ndarray] = {name: _nan(n) for name in FRAME_METRICS}
        scores["csim_source"] = csim(emb_out, np.repeat(ref.source_embedding, n, axis=0))
        p_out, p_drv = self.pose(outputs), ref.driving_pose
        ok = np.isfinite(p_out).all(1) & np.isfinite(p_drv).all(1)
        if ok.any():
            angles = per_angle_l1(p_out[ok, :3], p_drv[ok, :3])
            for j, name in enumerate(ANGLES):
                scores[f"{name}_l1"][ok] = angles[:, j]
            scores["pose_l1"][ok] = angles.mean(1)
            if p_out.shape[1] > 3:
                scores["expression_l1"][ok] = expression_l1(p_out[ok, 3:], p_drv[ok, 3:])
        if clip.targets is not None:
            targets = clip.targets
            scores["csim_target"] = csim(emb_out, ref.real_features["ifd"])
            scores["l1"] = np.array([np.abs(o.astype(np.float64) - t).mean() / 255.0 for o, t in zip(outputs, targets)])
            scores["perceptual"] = self._distance(self.perceptual, outputs, targets)
            scores["lpips"] = self._distance(self.lpips, outputs, targets)
            faces = ref.target_faces if ref.target_faces is not None else [self.face(t) for t in targets]
            scores["nme"] = self._nme(outputs, faces)
        return scores

    def set_features(self, crops: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
        """Features for the Fréchet distances: ``ifd`` (identity embeddings) and ``fid`` if supplied."""
        feats = {"ifd": self.identity(np.stack(crops))}
        if self.fid_features is not None:
            feats["fid"] = self.fid_features(np.stack(crops))
        return feats
