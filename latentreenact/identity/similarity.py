"""Cosine identity similarity and one-call SFace embeddings of faces in photos."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..faces.detection import find_face
from ..faces.landmarks import five_points
from ..faces.types import Face
from ..images import from_uint8
from .arcface_align import arcface_align_numpy
from .sface import _sface_cpu

ArrayOrTensor = Union[np.ndarray, torch.Tensor]


def identity_similarity(a: ArrayOrTensor, b: ArrayOrTensor) -> ArrayOrTensor:
    """Cosine similarity of embeddings [D] or [B, D] (rows paired; broadcasting allowed).

    Tensors in, tensor out (differentiable); numpy in, float / numpy array out.
    """
    if torch.is_tensor(a) or torch.is_tensor(b):
        ta, tb = torch.as_tensor(a), torch.as_tensor(b)
        return F.cosine_similarity(ta, tb.to(ta), dim=-1, eps=1e-12)
    na, nb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na = na / np.maximum(np.linalg.norm(na, axis=-1, keepdims=True), 1e-12)
    nb = nb / np.maximum(np.linalg.norm(nb, axis=-1, keepdims=True), 1e-12)
    cos = (na * nb).sum(-1)
    return float(cos) if np.ndim(cos) == 0 else cos


def face_points5(face: Face) -> np.ndarray:
    """ArcFace 5 points of a face: from its 68 landmarks, else the detector's own key points."""
    if face.landmarks is not None:
        return five_points(face.landmarks)
    if face.keypoints5 is not None:
        return np.asarray(face.keypoints5, dtype=np.float32)
    raise ValueError("the face has neither 68 landmarks nor 5 key points; use find_face() to get landmarks")


def sface_embedding(image: np.ndarray, face: Optional[Face] = None, detector: str = "hog",
                    name: str = "input") -> np.ndarray:
    """Unit-length SFace embedding [128] of the largest face in ``image`` (or of ``face``)."""
    if face is None:
        face = find_face(image, detector=detector, name=name)
    crop, _ = arcface_align_numpy(image, face_points5(face), 112)
    with torch.no_grad():
        return _sface_cpu()(from_uint8(crop))[0].numpy()
