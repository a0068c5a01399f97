"""Directions: the pose vector p, its rescaling, and the matrix A (Δw = A Δp)."""

from .matrix import DirectionMatrix
from .pose_vector import (LAYOUTS, PoseVectorSpec, load_ranges, load_ranges_with_names, save_ranges,
                          spec_from_ranges)

__all__ = ["DirectionMatrix", "PoseVectorSpec", "LAYOUTS", "spec_from_ranges", "load_ranges", "load_ranges_with_names",
           "save_ranges"]
