"""Building the trainer's frozen networks from names: generator, Net3D, shape model, losses, spec."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import torch

from latentreenact.net3d.pose_vector import PoseVectorSpec, load_ranges_with_names, spec_from_ranges
from .train import Components

__all__ = ["build_components", "spec_from_matrix"]


def spec_from_matrix(matrix: Any) -> PoseVectorSpec:
    """The pose-vector spec stored with a direction matrix: ``config["layout"]`` (a layout name or
    entry names) and ``config["ranges"]`` ([lo, hi] per entry; ignored for angles)."""
    from latentreenact.net3d.pose_vector import ANGLE_SCALES, LAYOUTS

    config = matrix.config
    if "layout" not in config or "ranges" not in config:
        raise ValueError("the direction matrix's config has no 'layout'/'ranges' (e.g. a released A_matrix.pt); "
                         "pass spec=spec_from_ranges(layout, ranges) to the Reenactor")
    layout = config["layout"]
    names = LAYOUTS.get(layout) if isinstance(layout, str) else tuple(layout)
    if names is None:
        raise ValueError(f"unknown pose-vector layout {layout!r} in the direction matrix's config")
    ranges = list(config["ranges"])
    if len(ranges) != len(names) or len(names) != matrix.k:
        raise ValueError(f"the direction matrix (k={matrix.k}) has {len(ranges)} ranges for the {len(names)} entries "
                         f"of layout {layout!r}")
    rows = [(-ANGLE_SCALES[n], ANGLE_SCALES[n]) if n in ANGLE_SCALES else tuple(map(float, r))
            for n, r in zip(names, ranges)]
    return spec_from_ranges(names, np.asarray(rows, dtype=np.float64), names, shift_scale=matrix.shift_scale)


def build_components(generator: Any, ranges: Union[str, np.ndarray], estimator: str = "bfm-net",
                     estimator_weights: Optional[str] = None, identity: Any = "sface", perceptual: Any = "default",
                     dense: bool = True, device: Union[str, torch.device] = "cpu") -> Components:
    """Components for the BFM layout: ``ranges`` is a ranges file (with its ``stats`` sidecar) or an array
    [13, 2] for yaw, pitch, roll, exp_0..exp_9; ``identity`` / ``perceptual``: loss specs
    (:func:`inversion.losses.resolve_loss`), ``"none"`` to switch a loss off."""
    from inversion.losses import resolve_loss
    from latentreenact.net3d import get_estimator
    from latentreenact.shape3d import LinearShapeModel

    from .losses import ShapeLosses
    from latentreenact.net3d.pose_vector import LAYOUTS

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
