"""Evaluation metrics of the paper as pure functions, and feature extractors for Fréchet distances.

- ``frechet``: Gaussian statistics of features and the Fréchet distance (FID on Inception features).
- ``landmarks``: NME of 68-point landmarks, normalised by sqrt(box area), x 10^3 by default.
- ``pose``: L1 errors of (yaw, pitch, roll) in degrees (wrapped by default) and of expressions.
- ``similarity``: CSIM, the cosine similarity of identity embeddings.
- ``features``: TorchScript (e.g. Inception) and identity-embedding feature extractors.
"""

from .features import FeatureExtractor, IdentityFeatures, TorchScriptFeatures
from .frechet import frechet_distance, frechet_from_features, gaussian_stats
from .landmarks import box_area_norm, nme, tight_boxes
from .pose import angle_l1, expression_l1, per_angle_l1
from .similarity import csim

__all__ = [
    "FeatureExtractor",
    "IdentityFeatures",
    "TorchScriptFeatures",
    "angle_l1",
    "box_area_norm",
    "csim",
    "expression_l1",
    "frechet_distance",
    "frechet_from_features",
    "gaussian_stats",
    "nme",
    "per_angle_l1",
    "tight_boxes",
]
