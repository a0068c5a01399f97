"""Net3D backends by name: ``get_estimator("bfm-fit" | "deca" | "bfm-net", **options)``."""

from __future__ import annotations

from typing import Any, Callable, Dict

from .base import NotTrainedError, PoseEstimator

__all__ = ["BACKENDS", "get_estimator"]


def _bfm_fit(**kw: Any) -> PoseEstimator:
    from .bfm_fit import BFMFitEstimator

    return BFMFitEstimator(**kw)


def _deca(**kw: Any) -> PoseEstimator:
    from .deca.estimator import DecaEstimator

    return DecaEstimator(**kw)


def _bfm_net(**kw: Any) -> PoseEstimator:
    raise NotTrainedError("the 'bfm-net' backend (a learned, differentiable BFM regressor) is not trained yet; "
                          "it will come with a later issue. Use 'bfm-fit' (landmark fit, not differentiable) "
                          "or 'deca' (differentiable, needs DECA's files) for now")


#: name -> (builder, one-line description)
BACKENDS: Dict[str, "tuple[Callable[..., PoseEstimator], str]"] = {
    "bfm-fit": (_bfm_fit, "dlib faces + 68 landmarks + batched BFM fit (offline; not differentiable)"),
    "deca": (_deca, "DECA coarse encoder + FLAME (user-supplied files; differentiable)"),
    "bfm-net": (_bfm_net, "learned BFM regressor (not trained yet)"),
}


def get_estimator(name: str, **options: Any) -> PoseEstimator:
    """Build the backend ``name`` with its options (e.g. ``device``, ``detector``, DECA's ``data_dir``)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown Net3D backend {name!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[name][0](**options)
