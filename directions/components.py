"""Building the trainer's frozen networks from names: generator, Net3D, shape model, losses, spec.
(``spec_from_matrix`` is :func:`directions.matrix.spec_from_matrix`, re-exported.)"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import torch

from inversion.losses import resolve_loss
from latentreenact.net3d import get_estimator
from latentreenact.net3d.pose_vector import LAYOUTS, load_ranges_with_names, spec_from_ranges
from latentreenact.shape3d import LinearShapeModel

from .losses import ShapeLosses
from .matrix import spec_from_matrix
from .train import Components

__all__ = ["build_components", "spec_from_matrix"]


def build_components(generator: Any, ranges: Union[str, np.ndarray], estimator: str = "bfm-net",
                     estimator_weights: Optional[str] = None, identity: Any = "sface", perceptual: Any = "default",
                     dense: bool = True, device: Union[str, torch.device] = "cpu") -> Components:
    """Components for the BFM layout: ``ranges`` is a ranges file (with its ``stats`` sidecar) or an array
    [13, 2] for yaw, pitch, roll, exp_0..exp_9; ``identity`` / ``perceptual``: loss specs
    (:func:`inversion.losses.resolve_loss`), ``"none"`` to switch a loss off."""
    if isinstance(ranges, np.ndarray):
        spec = spec_from_ranges("bfm", ranges, LAYOUTS["bfm"])
    else:
        array, names = load_ranges_with_names(ranges)
        spec = spec_from_ranges("bfm", array, names)
    options = {"device": device}
    if estimator_weights is not None:
        options["weights"] = estimator_weights
    est = get_estimator(estimator, **options)
    if not getattr(est, "differentiable", False):
        raise ValueError(f"the Net3D backend {estimator!r} is not differentiable; the A trainer needs one (bfm-net)")
    shape = ShapeLosses(LinearShapeModel.load(dense=dense, device=device), dense=dense)
    return Components(generator, est, shape, spec, "bfm", resolve_loss(identity, "identity", device),
                      resolve_loss(perceptual, "perceptual", device))
