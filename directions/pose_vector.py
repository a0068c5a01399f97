"""Deprecated location: the pose vector p is :mod:`latentreenact.net3d.pose_vector`."""

import warnings

from latentreenact.net3d.pose_vector import (ANGLE_SCALES, LAYOUTS, RELEASED_RANGE_NAMES, SHIFT_SCALE, PoseVectorSpec,
                                             load_ranges, load_ranges_with_names, save_ranges, spec_from_ranges)

__all__ = ["ANGLE_SCALES", "LAYOUTS", "RELEASED_RANGE_NAMES", "SHIFT_SCALE", "PoseVectorSpec", "load_ranges",
           "load_ranges_with_names", "save_ranges", "spec_from_ranges"]

warnings.warn("directions.pose_vector moved to latentreenact.net3d.pose_vector", DeprecationWarning, stacklevel=2)
