"""W-space controls (latentreenact.latent_controls, directions.latent_fit): the eye measure and the min-norm
direction against closed forms, the file format, the edit API and a model directory's optional part."""

from __future__ import annotations

import json
from typing import Tuple

import numpy as np
import pytest
import torch

from directions.latent_fit import LabelledFaces, fit_latent_controls, min_norm_directions
from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.faces.measures import eye_opening_68, mouth_opening_68, mouth_width_68
from latentreenact.latent_controls import LATENT_CONTROLS, LatentControls
from tiny_reenactor import eye_landmarks, face_landmarks, tiny_controls, tiny_reenactor, write_model_dir


def test_eye_opening_closed_form() -> None:
    batch = eye_landmarks(torch.tensor([0.3, 0.0])).numpy()  # eyes 20 px wide, lids 6 and 0 px apart
    assert eye_opening_68(batch[0]) == pytest.approx(0.3)
    np.testing.assert_allclose(eye_opening_68(batch), [0.3, 0.0])
    with pytest.raises(ValueError, match="68"):
        eye_opening_68(np.zeros((5, 2)))


def test_mouth_measures_closed_form() -> None:
    """Outer eye corners 70 px apart; inner lips 7 and 14 px apart at the three pairs, corners 35 px apart."""
    points = eye_landmarks(torch.tensor([0.3, 0.3])).numpy()
    for (up, low), gap in zip(((61, 67), (62, 66), (63, 65)), (7.0, 14.0, 7.0)):
        points[0, up, 1], points[0, low, 1] = 40.0 - gap / 2, 40.0 + gap / 2
    points[:, 48, 0], points[:, 54, 0] = 17.5, 52.5
    np.testing.assert_allclose(mouth_opening_68(points), [28.0 / 3 / 70, 0.0])
    np.testing.assert_allclose(mouth_width_68(points), [0.5, 0.5])
    assert mouth_opening_68(points[0]) == pytest.approx(28.0 / 3 / 70)
    with pytest.raises(ValueError, match="68"):
        mouth_width_68(np.zeros((3, 67, 2)))


def test_min_norm_direction_closed_form() -> None:
    """Exact linear labels: the direction moves the target by 1, the held labels by 0, and equals the shortest such
    step P a / (a^T P a), P the projection off the held gradients."""
    g = torch.Generator().manual_seed(0)
    n, d = 3000, 12
    w = torch.randn(n, d, generator=g, dtype=torch.float64) * 2 + 1
    a = torch.randn(d, generator=g, dtype=torch.float64)
    held = torch.randn(d, 3, generator=g, dtype=torch.float64)
    directions, corr = min_norm_directions(w, (w @ a)[:, None] + 0.5, w @ held * 7, ridge=1e-9)
    step = directions[0].double()
    assert float(step @ a) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose((step @ held).numpy(), 0.0, atol=1e-4)
    proj = torch.eye(d, dtype=torch.float64) - held @ torch.linalg.solve(held.T @ held, held.T)
    expected = proj @ a / (a @ proj @ a)
    np.testing.assert_allclose(step.numpy(), expected.numpy(), atol=1e-4)
    assert float(corr[0]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="no free direction"):
        min_norm_directions(w, w[:, :6], w[:, 6:])
    with pytest.raises(ValueError, match="NaN"):
        min_norm_directions(w, torch.full((n, 1), float("nan")))


def linear_faces(n: int = 2000) -> Tuple[LabelledFaces, Tuple[torch.Tensor, ...]]:
    """Labels that are exact linear functions of w [n, 40], and the gradients (a, b, c) of the eye opening, the
    inner-lip gap and the mouth width; p = w[:, :13] / 10, the angles w[:, 20:23] and the skin w[:, 25:29]."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(n, 40, generator=g, dtype=torch.float64)
    a, b, c = (torch.randn(40, generator=g, dtype=torch.float64) for _ in range(3))
    landmarks = face_landmarks(0.3 + w @ a * 0.01, 0.1 + w @ b * 0.003, 0.5 + w @ c * 0.01)
    faces = LabelledFaces(w.float(), w[:, :13].float() * 0.1, w[:, 13:15].float(), landmarks.float(),
                          (w[:, 20:23] * 3.0).float(), (w[:, 25:29] * 2.0 + 120.0).float())
    return faces, (a, b, c)


def test_fit_latent_controls_closes_the_eyes_and_parts_the_lips() -> None:
    """Linear labels: the fitted eyes_closed step lowers the eye opening by ``unit`` per value and holds p; the
    lips_apart step raises the inner-lip gap by ``unit`` and holds the angles, the eyes and the mouth width."""
    faces, (a, b, c) = linear_faces()
    w = faces.w.double()
    mouth = 0.1 + w @ b * 0.003
    np.testing.assert_allclose(faces.mouth.numpy(), mouth.numpy(), atol=1e-5)
    fitted = fit_latent_controls(faces, (0, 3), ridge=1e-9)
    assert fitted.names == ("eyes_closed", "lips_apart")
    closes = fitted.offset({"eyes_closed": 1.0}, n_latent=5)
    assert closes[0, 3:].abs().max() == 0 and torch.equal(closes[0, 0], closes[0, 2])
    step = closes[0, 0].double()
    assert float(step @ a) * 0.01 == pytest.approx(-LATENT_CONTROLS["eyes_closed"].unit, rel=1e-3)
    assert float(step[:13].abs().max()) < 1e-3 * abs(float(step @ a))  # p = w[:, :13] / 10 held
    parts = fitted.offset({"lips_apart": 1.0}, n_latent=5)[0, 0].double()
    assert float(parts @ b) * 0.003 == pytest.approx(LATENT_CONTROLS["lips_apart"].unit, rel=1e-3)
    for held in (a, c, *torch.eye(40, dtype=torch.float64)[20:23]):
        assert abs(float(parts @ held)) < 1e-3 * abs(float(parts @ b))
    assert float(step[25:29].abs().max()) < 1e-3 * abs(float(step @ a))  # the skin (w[:, 25:29]) held
    assert fitted.config["samples"] == 2000
    assert min(fitted.config["fit_correlation"].values()) > 0.99
    assert "skin" in fitted.config["held"]["eyes_closed"] and "skin" not in fitted.config["held"]["lips_apart"]
    loose = fit_latent_controls(faces, (0, 3), ridge=1e-9, hold_skin=False)  # the skin free: a shorter step
    loose_step = loose.offset({"eyes_closed": 1.0}, n_latent=5)[0, 0].double()
    assert float(loose_step[25:29].abs().max()) > 0.05 * float(loose_step.abs().max())
    assert float(loose_step.norm()) < float(step.norm())
    assert "skin" not in loose.config["held"]["eyes_closed"]
    assert torch.equal(loose.directions[1], fitted.directions[1])  # lips_apart does not hold the skin


@pytest.mark.parametrize("flag", ["--hold-skin", "--no-hold-skin"])
def test_train_controls_cli_passes_the_skin_hold(tmp_path, monkeypatch, flag) -> None:  # type: ignore[no-untyped-def]
    """The command fits what fit_latent_controls fits from the labels, with the skin held or not as asked."""
    from click.testing import CliRunner

    import latentreenact.cli.train_controls as command
    from latentreenact.cli.main import cli

    faces, _ = linear_faces()
    monkeypatch.setattr(command, "label_faces", lambda *args, **kwargs: faces)
    out = tmp_path / "controls.pt"
    result = CliRunner().invoke(cli, ["train", "controls", "--samples", "200", flag, "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = LatentControls.load(out)
    expected = fit_latent_controls(faces, (0, 12), 1e-2, hold_skin=flag == "--hold-skin")
    assert torch.equal(written.directions, expected.directions)
    assert ("skin" in written.config["held"]["eyes_closed"]) == (flag == "--hold-skin")


def test_file_round_trip_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    controls = tiny_controls()
    path = controls.save(tmp_path / "c.pt")
    loaded = LatentControls.load(path)
    assert loaded.names == ("eyes_closed", "lips_apart") and loaded.layers == (0, 2)
    assert loaded.config == {"generator": "tiny"}
    assert torch.equal(loaded.directions, controls.directions)
    offset = loaded.offset({"eyes_closed": 2.0}, n_latent=4)
    assert torch.allclose(offset[0, 1], 2.0 * LATENT_CONTROLS["eyes_closed"].unit * controls.directions[0])
    assert offset[0, 2:].abs().max() == 0
    both = loaded.offset({"eyes_closed": 2.0, "lips_apart": -1.0}, n_latent=4)
    assert torch.allclose(both[0, 0], offset[0, 0] - LATENT_CONTROLS["lips_apart"].unit * controls.directions[1])
    with pytest.raises(ValueError, match="unknown latent controls"):
        loaded.offset({"brow_raise": 1.0}, 4)
    with pytest.raises(ValueError, match="finite"):
        loaded.offset({"eyes_closed": float("nan")}, 4)
    with pytest.raises(ValueError, match="do not fit"):
        loaded.offset({"eyes_closed": 1.0}, 1)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointFormatError, match="other.pt"):
        LatentControls.load(tmp_path / "other.pt")
    torch.save({"format": "latentreenact.latent-controls", "format_version": 1, "names": ["eyes_closed"],
                "directions": torch.full((1, 8), float("nan")), "layers": [0, 2]}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointFormatError, match="nan.pt.*NaN"):
        LatentControls.load(tmp_path / "nan.pt")
    with pytest.raises(FileNotFoundError):
        LatentControls.load(tmp_path / "missing.pt")


def test_reenactor_edit_with_eyes_closed() -> None:
    r = tiny_reenactor(with_controls=True)
    assert r.control_names() == ("mouth_open", "smile", "eyes_closed", "lips_apart")
    rng = np.random.default_rng(0)
    src = r.invert((rng.random((16, 16, 3)) * 255).astype(np.uint8), align=False, tune="none", check_identity=False)
    assert np.array_equal(r.edit(src, controls={"eyes_closed": 0.0}), r.edit(src))
    assert torch.equal(r.edit_delta(src, controls={"eyes_closed": 1.0}), r.edit_delta(src))  # not part of Δp
    moved = r.edit_latent(src, yaw=5.0, controls={"eyes_closed": 1.0}) - r.edit_latent(src, yaw=5.0)
    assert torch.allclose(moved, r.latent_controls.offset({"eyes_closed": 1.0}, r.generator.n_latent), atol=1e-6)
    assert not np.array_equal(r.edit(src, controls={"eyes_closed": 1.0}), r.edit(src))
    bare = tiny_reenactor()
    assert bare.control_names() == ("mouth_open", "smile")
    with pytest.raises(ValueError, match="no W-space controls file"):
        bare.edit(src, controls={"eyes_closed": 1.0})
    with pytest.raises(ValueError, match="unknown expression controls"):
        r.edit(src, controls={"wink": 1.0})
    with pytest.raises(ValueError, match="does not fit|do not fit"):
        tiny_reenactor().__class__(bare.generator, bare.encoder, bare.estimator, bare.directions,
                                   controls=LatentControls(["eyes_closed"], torch.zeros(1, 4), (0, 1)))


def test_model_directory_controls_are_optional(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.model_parts import load_parts

    with_controls = write_model_dir(tmp_path / "a", tiny_reenactor(with_controls=True))
    assert json.loads((with_controls / "reenactor.json").read_text())["controls"] == "controls.pt"
    assert load_parts(with_controls)["controls"].names == ("eyes_closed", "lips_apart")
    without = write_model_dir(tmp_path / "b", tiny_reenactor())
    assert load_parts(without)["controls"] is None
    spec = json.loads((without / "reenactor.json").read_text())
    (without / "reenactor.json").write_text(json.dumps({**spec, "controls": "nothing.pt"}))
    with pytest.raises(FileNotFoundError, match="controls 'nothing.pt'"):
        load_parts(without)


def test_default_model_ships_eyes_closed_and_lips_apart() -> None:
    from latentreenact import zoo

    controls = LatentControls.load(zoo.model_file("controls-mobilestylegan-ffhq", kind="latent-controls"))
    assert controls.names == ("eyes_closed", "lips_apart") and controls.layers == (0, 12)
    assert controls.style_dim == 512 and controls.config["samples"] >= 3000
    assert min(controls.config["fit_correlation"].values()) > 0.8
    assert "skin" in controls.config["held"]["eyes_closed"]  # fit 3: closing the eyes does not wash the face out


def test_label_faces_reads_the_skin_at_the_detected_landmarks() -> None:
    """Eight faces of the default generator: every kept face gets its skin (luma, Cb, Cr, std per region) read at
    its own detected landmarks, as :func:`skin_regions_68` reads the same render."""
    from directions.latent_fit import label_faces
    from inversion.losses import resolve_loss
    from latentreenact.checkpoints.loading import load_generator
    from latentreenact.faces.skin import SKIN_REGIONS_68, skin_regions_68
    from latentreenact.images import to_uint8
    from latentreenact.net3d import get_estimator
    from latentreenact.sampling import render, truncation_centre, wplus_from_z

    generator = load_generator("mobilestylegan-ffhq-heads")
    faces = label_faces(generator, get_estimator("bfm-net"), get_estimator("bfm-rigid"),
                        resolve_loss("sface", "identity", torch.device("cpu")), 8, seed=3, batch_size=4)
    assert len(faces.w) >= 6 and faces.skin.shape == (len(faces.w), 4 * len(SKIN_REGIONS_68))
    luma, std = faces.skin[:, 0::4], faces.skin[:, 3::4]
    assert bool(((luma > 20) & (luma < 245) & (std > 0)).all())
    z = torch.randn(8, generator.style_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        wplus = wplus_from_z(generator, z, 0.7, truncation_centre(generator, seed=3))
        images = to_uint8(render(generator, wplus, 256).clamp(-1, 1))
    for w, landmarks, skin in zip(faces.w, faces.landmarks, faces.skin):
        index = int((wplus[:, 0] - w).abs().amax(1).argmin())
        assert torch.allclose(wplus[index, 0], w, atol=1e-5)
        expected = skin_regions_68(images[index], landmarks.double().numpy()).ravel()
        np.testing.assert_allclose(skin.numpy(), expected, rtol=0.02, atol=0.5)
