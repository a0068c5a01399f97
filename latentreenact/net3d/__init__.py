"""Net3D: head pose, expression and landmarks from face images (DESIGN §6).

Backends (``get_estimator(name)``): ``bfm-fit`` (dlib landmarks + BFM fit), ``deca`` (DECA's
encoder + FLAME, user-supplied files) and ``bfm-net`` (reserved: the learned regressor is not
trained yet). Each returns :class:`PoseParams`; ``PoseParams.to_vector(layout)`` builds the pose
vector p of ``directions.pose_vector``. Importing this package loads no model.
"""

from .base import ImageBatch, NotTrainedError, PoseEstimator
from .params import MissingEntryError, PoseParams
from .registry import BACKENDS, get_estimator

__all__ = ["BACKENDS", "ImageBatch", "MissingEntryError", "NotTrainedError", "PoseEstimator", "PoseParams",
           "get_estimator"]
