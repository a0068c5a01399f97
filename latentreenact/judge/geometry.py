"""Closed-form geometry and statistics of the judge (numpy only).

Rotations follow docs/architecture.md §6 (as :mod:`latentreenact.shape3d.rotations`, re-implemented here in numpy so
that the judge's measurements share no code with the method they judge): points in the model frame (x towards the
image's right, y up, z towards the viewer), ``R = Rz(roll) Ry(-yaw) Rx(pitch)``, so positive yaw turns
the face towards the image's left, positive pitch turns it down, positive roll turns it
counter-clockwise as seen in the image.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``R = Rz(roll) Ry(-yaw) Rx(pitch)`` [3, 3] from angles in degrees."""
    y, p, r = np.deg2rad([-yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def euler_from_rotation(rotation: np.ndarray) -> Tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation matrix [3, 3] (inverse of :func:`rotation_from_euler`)."""
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3):
        raise ValueError(f"expected a rotation matrix [3, 3], got {r.shape}")
    yaw = np.degrees(np.arcsin(np.clip(r[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(yaw), float(pitch), float(roll)


def procrustes(source: np.ndarray, target: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
    """Scaled orthogonal Procrustes (Umeyama 1991): (s, R, t) minimising ``|target - (s R source + t)|²``
    over points [N, 3] (rows are points), with ``R`` a proper rotation (det +1)."""
    a = np.asarray(source, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 3 or len(a) < 3:
        raise ValueError(f"expected two point sets [N >= 3, 3] of one shape, got {a.shape} and {b.shape}")
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    var_a = (a0 ** 2).sum() / len(a)
    if var_a <= 0:
        raise ValueError("the source points are all the same point")
    u, d, vt = np.linalg.svd(b0.T @ a0 / len(a))
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((d * sign).sum() / var_a)
    return scale, rotation, mb - scale * rotation @ ma


def mirror_points(points: np.ndarray) -> np.ndarray:
    """Points [..., 3] in the model frame reflected left-right (x -> -x)."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 0] *= -1.0
    return out


def _pairs(driving: np.ndarray, output: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    x = np.asarray(driving, dtype=np.float64).ravel()
    y = np.asarray(output, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"series of different lengths: {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def pearson(driving: np.ndarray, output: np.ndarray) -> float:
    """Pearson correlation of two series over the indices where both are finite (NaN if either is constant
    there or fewer than 2 pairs remain)."""
    x, y = _pairs(driving, output)
    if x.size < 2:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def gain(driving: np.ndarray, output: np.ndarray) -> float:
    """Least-squares slope of ``output`` against ``driving`` (with an intercept) over the finite pairs: 1 means
    the output moves as much as the driving face (NaN if ``driving`` is constant or fewer than 2 pairs)."""
    x, y = _pairs(driving, output)
    if x.size < 2:
        return float("nan")
    x0 = x - x.mean()
    var = (x0 * x0).sum()
    return float((x0 * (y - y.mean())).sum() / var) if var > 0 else float("nan")
