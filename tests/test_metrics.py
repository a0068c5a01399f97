"""The evaluation metrics against closed forms and independent computations."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from latentreenact.metrics import (
    FeatureExtractor,
    IdentityFeatures,
    TorchScriptFeatures,
    angle_l1,
    box_area_norm,
    csim,
    expression_l1,
    frechet_distance,
    frechet_from_features,
    gaussian_stats,
    nme,
    per_angle_l1,
)


def random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.1 * np.eye(d)


# ---------------------------------------------------------------------------------- Fréchet


def test_gaussian_stats_matches_hand_computation():
    x = np.array([[1.0, 2.0], [3.0, 0.0], [5.0, 4.0]])
    mu, sigma = gaussian_stats(x)
    np.testing.assert_allclose(mu, [3.0, 2.0])
    # deviations (-2, 0), (0, -2), (2, 2): sums of products / (3 - 1)
    np.testing.assert_allclose(sigma, [[4.0, 2.0], [2.0, 4.0]])
    assert mu.dtype == np.float64 and sigma.dtype == np.float64


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 3)), "at least 2"),
    (np.zeros((0, 3)), "empty"),
    (np.zeros(3), "2 dimensions"),
    (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
])
def test_gaussian_stats_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        gaussian_stats(bad)


def test_frechet_identical_stats_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.standard_normal(5), random_spd(rng, 5)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_frechet_one_dimensional_closed_form():
    m1, s1, m2, s2 = 1.5, 2.0, -0.5, 0.5
    d = frechet_distance(np.array([m1]), np.array([[s1 ** 2]]), np.array([m2]), np.array([[s2 ** 2]]))
    assert d == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-10)


def test_frechet_diagonal_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_commuting_full_covariances_closed_form():
    rng = np.random.default_rng(2)
    q = random_rotation(rng, 5)
    a, b = rng.uniform(0.2, 4.0, 5), rng.uniform(0.2, 4.0, 5)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_is_symmetric():
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    s1, s2 = random_spd(rng, 4), random_spd(rng, 4)
    d12, d21 = frechet_distance(mu1, s1, mu2, s2), frechet_distance(mu2, s2, mu1, s1)
    assert d12 > 0
    assert d12 == pytest.approx(d21, rel=1e-9)


def test_frechet_from_large_samples_approaches_closed_form():
    rng = np.random.default_rng(4)
    q = random_rotation(rng, 3)
    a, b = np.array([1.0, 2.0, 0.5]), np.array([3.0, 0.5, 1.0])
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.0, 0.5])
    x = mu1 + (rng.standard_normal((20000, 3)) * np.sqrt(a)) @ q.T
    y = mu2 + (rng.standard_normal((20000, 3)) * np.sqrt(b)) @ q.T
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    assert frechet_from_features(x, y) == pytest.approx(expected, rel=0.03)


def test_frechet_singular_covariances_stay_finite():
    rng = np.random.default_rng(5)
    basis = rng.standard_normal((2, 6))
    x = rng.standard_normal((50, 2)) @ basis   # rank-2 features in 6 dimensions
    y = rng.standard_normal((40, 2)) @ basis + 0.5
    d = frechet_from_features(x, y)
    assert math.isfinite(d) and d >= 0
    # orthogonal rank-1 covariances: the product is 0, so d = tr S1 + tr S2 = 2 (up to eps)
    s1, s2 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(2.0, abs=1e-2)


def test_frechet_retries_with_eps_when_sqrtm_fails(monkeypatch):
    import scipy.linalg

    real_sqrtm = scipy.linalg.sqrtm
    products = []

    def failing_once(matrix):
        products.append(matrix)
        return np.full_like(matrix, np.nan) if len(products) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(scipy.linalg, "sqrtm", failing_once)
    a, b = np.array([1.0, 4.0]), np.array([9.0, 0.25])
    d = frechet_distance(np.zeros(2), np.diag(a), np.zeros(2), np.diag(b), eps=1e-3)
    assert len(products) == 2
    np.testing.assert_allclose(products[1], np.diag((a + 1e-3) * (b + 1e-3)))
    expected = np.sum(a + b - 2 * np.sqrt((a + 1e-3) * (b + 1e-3)))
    assert d == pytest.approx(expected, rel=1e-9)


def test_frechet_rejects_bad_stats():
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(mu, sigma, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"\[D, D\]"):
        frechet_distance(mu, np.eye(2), mu, sigma)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.array([0.0, np.nan, 0.0]), sigma, mu, sigma)
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance(mu, np.triu(np.ones((3, 3))), mu, sigma)
    with pytest.raises(ValueError, match="feature dimensions"):
        frechet_from_features(np.zeros((4, 3)), np.zeros((4, 2)))


def test_frechet_rejects_indefinite_covariance():
    # sqrtm(diag(-1, 1)) is diag(i, 1): a large imaginary part that eps cannot fix
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(np.zeros(2), np.diag([-1.0, 1.0]), np.zeros(2), np.eye(2))


# ---------------------------------------------------------------------------------- landmarks


def test_box_area_norm():
    boxes = np.array([[0.0, 0.0, 100.0, 100.0], [10.0, 20.0, 14.0, 29.0]])
    np.testing.assert_allclose(box_area_norm(boxes), [100.0, 6.0])
    with pytest.raises(ValueError, match="positive area"):
        box_area_norm(np.array([[0.0, 0.0, 0.0, 10.0]]))
    with pytest.raises(ValueError, match="last axis"):
        box_area_norm(np.zeros((2, 3)))


def test_nme_hand_computed():
    rng = np.random.default_rng(6)
    target = rng.uniform(0, 100, (2, 68, 2))
    pred = target + np.array([3.0, 4.0])
    boxes = np.array([[0.0, 0.0, 100.0, 100.0], [0.0, 0.0, 50.0, 200.0]])
    np.testing.assert_allclose(nme(pred, target, boxes), [50.0, 50.0])
    np.testing.assert_allclose(nme(pred, target, boxes, scale=1.0), [0.05, 0.05])


def test_nme_default_box_is_tight_box_of_target():
    target = np.array([[[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]]])  # 40 x 10 box: norm 20
    pred = target.copy()
    pred[0, 0] += [6.0, 8.0]   # one point off by 10, mean error 2.5
    np.testing.assert_allclose(nme(pred, target), [2.5 / 20.0 * 1e3])


def test_nme_scale_and_translation_invariant():
    rng = np.random.default_rng(7)
    target = rng.uniform(0, 1, (3, 68, 2))
    pred = target + rng.normal(0, 0.02, target.shape)
    boxes = np.concatenate([target.min(1) - 0.1, target.max(1) + 0.1], axis=1)
    base = nme(pred, target, boxes)
    s, shift = 7.5, np.array([13.0, -4.0])
    moved = nme(pred * s + shift, target * s + shift, boxes * s + np.tile(shift, 2))
    np.testing.assert_allclose(moved, base, rtol=1e-10)
    np.testing.assert_allclose(nme(pred * s, target * s), nme(pred, target), rtol=1e-10)


def test_nme_zero_for_identical_and_errors():
    target = np.random.default_rng(8).uniform(0, 1, (2, 5, 2))
    np.testing.assert_array_equal(nme(target, target), [0.0, 0.0])
    with pytest.raises(ValueError, match="shape mismatch"):
        nme(target[:, :4], target)
    with pytest.raises(ValueError, match="last axis"):
        nme(np.zeros((2, 5, 3)), np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="one row per sample"):
        nme(target, target, np.array([[0.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        nme(np.full((2, 5, 2), np.nan), target)


# ---------------------------------------------------------------------------------- pose


def test_angle_l1_closed_form():
    pred = np.array([[10.0, -5.0, 2.0], [0.0, 0.0, 0.0]])
    target = np.array([[7.0, -2.0, 8.0], [1.0, 2.0, -3.0]])
    np.testing.assert_allclose(per_angle_l1(pred, target), [[3.0, 3.0, 6.0], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(angle_l1(pred, target), [4.0, 2.0])


def test_angle_l1_wraps_around():
    pred = np.array([[179.0, 10.0, 180.0]])
    target = np.array([[-179.0, 350.0, -180.0]])
    np.testing.assert_allclose(per_angle_l1(pred, target), [[2.0, 20.0, 0.0]])
    np.testing.assert_allclose(per_angle_l1(pred, target, wrap=False), [[358.0, 340.0, 360.0]])
    # opposite directions are 180 degrees apart either way
    np.testing.assert_allclose(per_angle_l1(np.array([[90.0, -90.0, 0.0]]), np.array([[-90.0, 90.0, 180.0]])),
                               [[180.0, 180.0, 180.0]])


def test_expression_l1_closed_form():
    pred = np.array([[1.0, 2.0, 3.0, 4.0]])
    target = np.array([[0.0, 2.0, 5.0, 3.0]])
    np.testing.assert_allclose(expression_l1(pred, target), [1.0])


def test_pose_errors():
    good = np.zeros((2, 3))
    with pytest.raises(ValueError, match="NaN"):
        angle_l1(np.array([[np.nan, 0.0, 0.0], [0.0, 0.0, 0.0]]), good)
    with pytest.raises(ValueError, match="last axis"):
        per_angle_l1(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape mismatch"):
        angle_l1(np.zeros((3, 3)), good)
    with pytest.raises(ValueError, match="NaN"):
        expression_l1(good, np.array([[0.0, np.inf, 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="empty"):
        expression_l1(np.zeros((0, 3)), np.zeros((0, 3)))


# ---------------------------------------------------------------------------------- CSIM


def test_csim_closed_forms():
    a = np.array([[1.0, 0.0], [2.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    b = np.array([[0.0, 3.0], [4.0, 2.0], [-2.0, -2.0], [0.5, math.sqrt(3) / 2]])
    np.testing.assert_allclose(csim(a, b), [0.0, 1.0, -1.0, 0.5], atol=1e-12)


def test_csim_scale_invariant_and_matches_independent_angle():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((5, 16)), rng.standard_normal((5, 16))
    scales = rng.uniform(0.1, 10.0, (5, 1))
    np.testing.assert_allclose(csim(a * scales, b * 3.0), csim(a, b), rtol=1e-12)
    angle = [math.acos(np.dot(x, y) / math.sqrt(np.dot(x, x) * np.dot(y, y))) for x, y in zip(a, b)]
    np.testing.assert_allclose(csim(a, b), np.cos(angle), atol=1e-12)


def test_csim_errors():
    with pytest.raises(ValueError, match="zero embedding"):
        csim(np.array([[0.0, 0.0], [1.0, 0.0]]), np.ones((2, 2)))
    with pytest.raises(ValueError, match="shape mismatch"):
        csim(np.ones((2, 3)), np.ones((3, 3)))


# ---------------------------------------------------------------------------------- features


@pytest.fixture()
def scripted_stats_net(tmp_path, one_thread):
    """A TorchScript file whose features are the per-channel means and standard deviations."""
    import torch
    from torch import nn

    class ChannelStats(nn.Module):
        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            if return_features:
                return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)
            return x.mean(dim=(1, 2, 3))   # 1-D: not features

    path = tmp_path / "stats.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # torch marks TorchScript deprecated
        torch.jit.script(ChannelStats()).save(str(path))
    return path


def test_torchscript_features_closed_form(scripted_stats_net):
    rng = np.random.default_rng(10)
    images = rng.integers(0, 256, (5, 9, 7, 3), dtype=np.uint8)
    extractor = TorchScriptFeatures(scripted_stats_net, batch_size=2)
    assert isinstance(extractor, FeatureExtractor) and extractor.name == "inception"
    features = extractor(images)
    pixels = images.astype(np.float64)
    expected = np.concatenate([pixels.mean(axis=(1, 2)), pixels.std(axis=(1, 2), ddof=1)], axis=1)
    assert features.shape == (5, 6) and features.dtype == np.float64
    np.testing.assert_allclose(features, expected, rtol=1e-5)


def test_torchscript_features_errors(scripted_stats_net, tmp_path):
    import torch

    from latentreenact.checkpoints.errors import CheckpointFormatError

    with pytest.raises(FileNotFoundError, match="user-supplied"):
        TorchScriptFeatures(tmp_path / "inception-2015-12-05.pt")
    state = tmp_path / "state.pt"
    torch.save({"weight": torch.zeros(3)}, state)
    with pytest.raises(CheckpointFormatError, match="not a TorchScript file"):
        TorchScriptFeatures(state)
    text = tmp_path / "notes.pt"
    text.write_text("not a network")
    with pytest.raises(CheckpointFormatError, match="not a TorchScript file"):
        TorchScriptFeatures(text)
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="2-D"):
        TorchScriptFeatures(scripted_stats_net, call_kwargs={})(images)
    with pytest.raises(ValueError, match="uint8"):
        TorchScriptFeatures(scripted_stats_net)(images.astype(np.float32))
    with pytest.raises(ValueError, match="no images"):
        TorchScriptFeatures(scripted_stats_net)(images[:0])


def pool_linear(weight: np.ndarray):
    """A tiny embedding network: global average pool, then the fixed linear map ``weight`` [D, 3]."""
    import torch
    from torch import nn

    net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, weight.shape[0], bias=False))
    with torch.no_grad():
        net[2].weight.copy_(torch.from_numpy(weight).float())
    return net


def test_identity_features_tiny_network(one_thread):
    weight = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, -1.0]])
    colours = np.array([[255, 0, 0], [10, 200, 30], [128, 64, 250]], dtype=np.uint8)
    images = np.broadcast_to(colours[:, None, None, :], (3, 40, 40, 3)).copy()
    extractor = IdentityFeatures(pool_linear(weight), batch_size=2)
    features = extractor(images)
    assert isinstance(extractor, FeatureExtractor)
    assert extractor.name.startswith("identity-embedding")
    assert features.shape == (3, 4) and features.dtype == np.float64
    # a flat colour stays flat through the border-padded ArcFace warp: pool gives the colour in [-1, 1]
    raw = (colours / 127.5 - 1.0) @ weight.T
    np.testing.assert_allclose(features, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)
    raw_features = IdentityFeatures(pool_linear(weight), normalize=False)(images)
    np.testing.assert_allclose(raw_features, raw, atol=1e-5)


def test_identity_features_sface_shape(one_thread):
    images = np.random.default_rng(11).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    extractor = IdentityFeatures()
    assert extractor.name == "identity-embedding (sface)"
    features = extractor(images)
    assert features.shape == (2, 128) and features.dtype == np.float64
    assert np.isfinite(features).all()
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
