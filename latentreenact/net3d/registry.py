"""Net3D backends by name: ``get_estimator("bfm-fit" | "deca" | "bfm-net", **options)``."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional, Union

from .. import zoo
from .base import PoseEstimator
from .bfm_fit import BFMFitEstimator
from .deca.estimator import DecaEstimator
from .regressor import BFMNetEstimator

__all__ = ["BACKENDS", "get_estimator"]


def _bfm_fit(**kw: Any) -> PoseEstimator:
    return BFMFitEstimator(**kw)


def _bfm_rigid(**kw: Any) -> PoseEstimator:
    return BFMFitEstimator(pose="rigid", **kw)


def _deca(**kw: Any) -> PoseEstimator:
    return DecaEstimator(**kw)


def _bfm_net(weights: Optional[Union[str, "os.PathLike[str]"]] = None, device: Any = None,
             detector: Optional[str] = None, upsample: Optional[int] = None) -> PoseEstimator:
    """``weights``: a regressor file; default: the shipped, checksummed ``net3d-bfm-net`` weights."""
    # detector/upsample: accepted for a uniform call with bfm-fit; aligned crops need no detection

    if weights is None:
        weights = zoo.model_file("net3d-bfm-net")
    return BFMNetEstimator(weights, device=device)


#: name -> (builder, one-line description)
BACKENDS: Dict[str, "tuple[Callable[..., PoseEstimator], str]"] = {
    "bfm-fit": (_bfm_fit, "dlib faces + 68 landmarks + batched BFM fit (offline; not differentiable)"),
    "bfm-rigid": (_bfm_rigid, "bfm-fit with the head pose from the nose and eye landmarks alone, held while the "
                              "expression is fitted (offline; not differentiable)"),
    "deca": (_deca, "DECA coarse encoder + FLAME (user-supplied files; differentiable)"),
    "bfm-net": (_bfm_net, "learned BFM regressor on FFHQ-aligned crops (shipped weights or weights=PATH; "
                          "differentiable)"),
}


def get_estimator(name: str, **options: Any) -> PoseEstimator:
    """Build the backend ``name`` with its options (e.g. ``device``, ``detector``, DECA's ``data_dir``,
    ``bfm-net``'s ``weights``)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown Net3D backend {name!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name][0](**options)
