"""Identity networks: SFace (ONNX imported into PyTorch), IR-SE50 (``model_ir_se50.pth``), dlib's
descriptor, ArcFace alignment, cosine similarity and the identity loss. Nothing is loaded at import."""

from .arcface_align import (ARCFACE_TEMPLATE, arcface_align, arcface_align_numpy, arcface_align_torch,
                            similarity_transform)
from .dlib_descriptor import dlib_distance, dlib_face_descriptor
from .irse50 import IRSE50, load_irse50
from .loss import IdentityLoss, e4e_crop
from ..checkpoints.onnx_import import OnnxGraphModule, UnsupportedOnnxError, import_onnx
from .sface import SFace, load_sface
from .similarity import identity_similarity, sface_embedding

__all__ = [
    "ARCFACE_TEMPLATE", "IRSE50", "IdentityLoss", "OnnxGraphModule", "SFace", "UnsupportedOnnxError",
    "arcface_align", "arcface_align_numpy", "arcface_align_torch", "dlib_distance", "dlib_face_descriptor",
    "e4e_crop", "identity_similarity", "import_onnx", "load_irse50", "load_sface", "sface_embedding",
    "similarity_transform",
]
