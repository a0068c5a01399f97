"""Net3D: head pose, expression and landmarks from face images (docs/architecture.md §6).

Backends (``get_estimator(name)``): ``bfm-fit`` (dlib landmarks + BFM fit), ``deca`` (DECA's
encoder + FLAME, user-supplied files) and ``bfm-net`` (the learned regressor of
:mod:`.regressor` on aligned crops; needs ``weights=PATH``: no default weights ship yet). Each
returns :class:`PoseParams`; ``PoseParams.to_vector(layout)`` builds the pose vector p of
``latentreenact.net3d.pose_vector``. Importing this package loads no model.
"""

from .base import ImageBatch, PoseEstimator
from .params import MissingEntryError, PoseParams
from .registry import BACKENDS, get_estimator
from .regressor import BFMNetEstimator, Net3DRegressor

__all__ = ["BACKENDS", "BFMNetEstimator", "ImageBatch", "MissingEntryError", "Net3DRegressor",
           "PoseEstimator", "PoseParams", "get_estimator"]
