"""L1 errors of head pose angles (degrees) and of expression coefficients."""

from __future__ import annotations

import numpy as np

from ._checks import finite_array, same_shape


def per_angle_l1(pred: np.ndarray, target: np.ndarray, wrap: bool = True) -> np.ndarray:
    """Absolute angle differences [N, 3] of (yaw, pitch, roll) in degrees, ``pred`` vs ``target`` [N, 3].

    With ``wrap`` the difference is taken modulo 360 into [-180, 180) first, so 179 vs -179
    is 2 degrees (and the largest possible error is 180); without it, it is the plain difference.
    """
    p = finite_array(pred, "pred", 2, last=3)
    t = finite_array(target, "target", 2, last=3)
    same_shape([p, t], ["pred", "target"])
    diff = p - t
    if wrap:
        diff = np.mod(diff + 180.0, 360.0) - 180.0
    return np.abs(diff)


def angle_l1(pred: np.ndarray, target: np.ndarray, wrap: bool = True) -> np.ndarray:
    """Per-sample mean [N] of ``per_angle_l1`` over yaw, pitch and roll (degrees)."""
    return per_angle_l1(pred, target, wrap=wrap).mean(axis=1)


def expression_l1(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-sample mean absolute difference [N] of expression coefficients [N, k]."""
    p = finite_array(pred, "pred", 2)
    t = finite_array(target, "target", 2)
    same_shape([p, t], ["pred", "target"])
    return np.abs(p - t).mean(axis=1)
