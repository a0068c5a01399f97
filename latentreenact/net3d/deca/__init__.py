"""DECA backend: ``E_flame`` encoder (ResNet-50 + MLP), FLAME with LBS, DECA's crop and camera.

Nothing is loaded at import; the files are user-supplied (``deca_model.tar``,
``generic_model.pkl``, ``landmark_embedding.npy``) and read without chumpy or code execution.
"""

from .crop import apply_transform, crop_from_boxes, crop_from_landmarks, warp_to_crop
from .encoder import CODE_SPLIT, DecaEncoder, load_deca_encoder, split_code
from .estimator import DecaEstimator, deca_files, orthographic_projection
from .flame import FLAME
from .flame_files import read_flame_model, read_landmark_embedding
from .lbs import lbs, rodrigues

__all__ = ["CODE_SPLIT", "DecaEncoder", "DecaEstimator", "FLAME", "apply_transform", "crop_from_boxes",
           "crop_from_landmarks", "deca_files", "lbs", "load_deca_encoder", "orthographic_projection",
           "read_flame_model", "read_landmark_embedding", "rodrigues", "split_code", "warp_to_crop"]
