"""Landmark fit on the real test photos (tests/fixtures/face_photos.py) and the ``faces pose`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fixtures.face_photos import PEOPLE, photo
from latentreenact.cli.errors import EXIT_BAD_INPUT, EXIT_NOT_FOUND
from latentreenact.cli.pose import pose
from latentreenact.shape3d import LandmarkFitter, find_bfm_dir


def _faces_api():
    try:
        from latentreenact.faces import find_face  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"latentreenact.faces (find_face) is not importable: {exc}")
    try:
        find_bfm_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return find_face


def _landmarks(name: str) -> np.ndarray:
    find_face = _faces_api()
    image = photo(name)
    try:
        return find_face(image, name=name).landmarks
    except FileNotFoundError as exc:  # dlib model files missing
        pytest.skip(str(exc))


def test_fit_on_real_photos() -> None:
    names = ["obama_portrait", "obama_congress", "biden_blue_room", "obama_blue_room", "astronaut"]
    fit = LandmarkFitter().fit(np.stack([_landmarks(n) for n in names]))
    assert (fit.error < 3.0).all(), fit.error  # px, faces 60-160 px wide
    yaw = dict(zip(names, fit.yaw.tolist()))
    assert abs(yaw["obama_portrait"]) < 8 and abs(yaw["astronaut"]) < 8  # frontal
    assert yaw["obama_congress"] > 8       # turned towards the image's left
    assert yaw["biden_blue_room"] < -3     # turned towards the image's right
    assert (fit.pitch.abs() < 25).all() and (fit.roll.abs() < 20).all()


def test_pose_command_on_photos(face_photos_dir: Path) -> None:
    _faces_api()
    result = CliRunner().invoke(pose, [str(face_photos_dir / "obama_congress.png"), "--json"])
    if isinstance(result.exception, FileNotFoundError):
        pytest.skip(str(result.exception))
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert len(records) >= 1 and records[0]["face"] == 0
    assert records[0]["yaw"] > 8 and len(records[0]["expression"]) == 10 and records[0]["fit_error_px"] < 3
    text = CliRunner().invoke(pose, [str(face_photos_dir), "--index", "0"])
    assert text.exit_code == 0, text.output
    assert text.output.count("yaw") == len(PEOPLE) == len(list(face_photos_dir.glob("*.png")))
    missing_face = CliRunner().invoke(pose, [str(face_photos_dir / "astronaut.png"), "--index", "7"])
    assert missing_face.exit_code == EXIT_BAD_INPUT and "face index 7" in missing_face.output
    negative = CliRunner().invoke(pose, [str(face_photos_dir / "astronaut.png"), "--index", "-1"])
    assert negative.exit_code == 2 and "-1" in negative.output  # was: Python's last face, printed as "face -1"


def test_pose_command_input_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(pose, [str(tmp_path / "missing.jpg")]).exit_code == EXIT_NOT_FOUND
    assert runner.invoke(pose, [str(tmp_path)]).exit_code == EXIT_BAD_INPUT  # empty folder
    (tmp_path / "broken.png").write_bytes(b"not an image")
    _faces_api()
    assert runner.invoke(pose, [str(tmp_path / "broken.png")]).exit_code == EXIT_BAD_INPUT
