"""Fréchet distance between two Gaussians fitted to feature sets (the distance behind FID).

``d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``. What the distance is called depends
on the features: it is "FID" only on the Inception-v3 pool features; on identity embeddings it
is an identity-embedding Fréchet distance (see ``features``).
"""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

from ._checks import finite_array

# Largest imaginary part of sqrtm(S1 S2), relative to max(1, its largest real entry), dropped
# as round-off; a larger one means the covariances are not positive semi-definite.
IMAG_TOLERANCE = 1e-3
# sqrtm results whose square misses S1 S2 by more than this (relative) are retried with eps.
SQRTM_RESIDUAL_TOLERANCE = 1e-5
# Negative distances down to -NEGATIVE_TOLERANCE * (scale of the terms) are round-off -> 0.
NEGATIVE_TOLERANCE = 1e-6


def gaussian_stats(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] (float64) of ``features`` [N, D], N >= 2."""
    x = finite_array(features, "features", 2)
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {x.shape[0]}")
    mu = x.mean(axis=0)
    centred = x - mu
    sigma = centred.T @ centred / (x.shape[0] - 1)
    return mu, sigma


def _check_stats(mu: np.ndarray, sigma: np.ndarray, index: int) -> Tuple[np.ndarray, np.ndarray]:
    m = finite_array(mu, f"mu{index}", 1)
    s = finite_array(sigma, f"sigma{index}", 2)
    if s.shape != (m.shape[0], m.shape[0]):
        raise ValueError(f"sigma{index} must be [D, D] with D = len(mu{index}) = {m.shape[0]}, got {s.shape}")
    scale = max(float(np.abs(s).max()), np.finfo(np.float64).tiny)
    if not np.allclose(s, s.T, rtol=0.0, atol=1e-8 * scale):
        raise ValueError(f"sigma{index} is not symmetric")
    return m, s


def _sqrtm_product(s1: np.ndarray, s2: np.ndarray) -> Tuple[np.ndarray, bool]:
    """sqrtm(s1 @ s2) and whether it is usable (finite, small imaginary part, accurate)."""
    from scipy.linalg import sqrtm

    product = s1 @ s2
    with warnings.catch_warnings():
        # scipy warns about singular products; the checks below decide what to do with them
        warnings.simplefilter("ignore")
        root = np.asarray(sqrtm(product))
    if not np.isfinite(root).all():
        return root, False
    real_scale = max(float(np.abs(root.real).max()), 1.0)
    if np.iscomplexobj(root) and float(np.abs(root.imag).max()) > IMAG_TOLERANCE * real_scale:
        return root, False
    residual = float(np.abs(root @ root - product).max())
    product_scale = max(float(np.abs(product).max()), np.finfo(np.float64).tiny)
    return root, residual <= SQRTM_RESIDUAL_TOLERANCE * max(product_scale, 1.0)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (means [D], covariances [D, D]).

    The matrix square root is scipy's ``sqrtm``. If the root is non-finite, inaccurate or has a
    large imaginary part (typically because ``sigma1 @ sigma2`` is singular), ``eps * I`` is added
    to both covariances and it is retried, as the usual FID code does. A negligible imaginary part
    is then dropped; a large one (above 1e-3 times max(1, largest real entry)) raises
    ``ValueError``, as does a clearly negative result; tiny negative round-off is clamped to 0.
    """
    m1, s1 = _check_stats(mu1, sigma1, 1)
    m2, s2 = _check_stats(mu2, sigma2, 2)
    if m1.shape != m2.shape:
        raise ValueError(f"the two Gaussians have different dimensions: {m1.shape[0]} and {m2.shape[0]}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps}")

    root, ok = _sqrtm_product(s1, s2)
    if not ok:
        offset = np.eye(s1.shape[0]) * eps
        root, ok = _sqrtm_product(s1 + offset, s2 + offset)
    if not np.isfinite(root).all():
        raise ValueError("the matrix square root of sigma1 @ sigma2 is not finite, even with eps added")
    imag: Optional[float] = float(np.abs(root.imag).max()) if np.iscomplexobj(root) else None
    if imag is not None and imag > IMAG_TOLERANCE * max(float(np.abs(root.real).max()), 1.0):
        raise ValueError(f"sqrtm(sigma1 @ sigma2) has a large imaginary part ({imag:.3g}); "
                         "are both covariances positive semi-definite?")
    diff = m1 - m2
    mean_term = float(diff @ diff)
    trace_term = float(np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root.real))
    distance = mean_term + trace_term
    if distance < 0:
        scale = max(mean_term + float(np.trace(s1) + np.trace(s2)), 1.0)
        if distance < -NEGATIVE_TOLERANCE * scale:
            raise ValueError(f"the Fréchet distance came out negative ({distance:.6g}); "
                             "are both covariances positive semi-definite?")
        distance = 0.0
    return distance


def frechet_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to features ``a`` [N, D] and ``b`` [M, D]."""
    mu1, sigma1 = gaussian_stats(a)
    mu2, sigma2 = gaussian_stats(b)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape[0]} and {mu2.shape[0]}")
    return frechet_distance(mu1, sigma1, mu2, sigma2)
