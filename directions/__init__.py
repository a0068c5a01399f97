"""Directions: the matrix A (Δw = A Δp), its training and evaluation. The pose vector p and its
rescaling live with Net3D (:mod:`latentreenact.net3d.pose_vector`) and are re-exported here."""

from latentreenact.net3d.pose_vector import (LAYOUTS, PoseVectorSpec, load_ranges, load_ranges_with_names, save_ranges,
                                             spec_from_ranges)

from .matrix import DirectionMatrix

__all__ = ["DirectionMatrix", "PoseVectorSpec", "LAYOUTS", "spec_from_ranges", "load_ranges", "load_ranges_with_names",
           "save_ranges"]
