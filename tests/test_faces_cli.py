"""``latentreenact faces align`` (tested on the ``faces`` click group directly)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fixtures.face_photos import single_thread
from latentreenact.cli.errors import EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_USAGE
from latentreenact.cli.faces import faces

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


def _run(*args):
    return CliRunner().invoke(faces, ["align", *map(str, args), "--no-progress"])


def test_align_one_image_writes_crop_and_json(tmp_path, face_photos_dir):
    result = _run(face_photos_dir / "astronaut.png", "-o", tmp_path, "--size", 128, "--mode", "vox")
    assert result.exit_code == 0, result.output
    crop = np.asarray(Image.open(tmp_path / "astronaut.png"))
    assert crop.shape == (128, 128, 3)
    record = json.loads((tmp_path / "astronaut.json").read_text())
    assert record["mode"] == "vox" and record["size"] == 128 and len(record["landmarks"]) == 68
    t = np.array(record["crop_to_image"])
    lm_crop = np.array(record["landmarks_crop"])
    back = lm_crop @ t[:2, :2].T + t[:2, 2]
    assert np.allclose(back, record["landmarks"], atol=1e-2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astronaut.json", "astronaut.png"]  # no temp files


def test_align_directory_stops_at_a_faceless_image(tmp_path, face_photos_dir):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(face_photos_dir / "astronaut.png", src / "a.png")
    Image.new("RGB", (64, 64), (90, 90, 90)).save(src / "b_blank.png")
    out = tmp_path / "out"
    result = _run(src, "-o", out)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "b_blank.png" in result.output and result.output.count("\n") == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # nothing, not half a folder
    out.mkdir()
    (out / "old.txt").write_text("kept")
    assert _run(src, "-o", out).exit_code == EXIT_BAD_INPUT
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]  # an existing folder: untouched

    result = CliRunner().invoke(faces, ["align", str(src), "-o", str(tmp_path / "out2"), "--keep-going",
                                        "--no-progress"])
    assert result.exit_code == EXIT_BAD_INPUT and "1 image(s) failed: b_blank.png" in result.output
    assert (tmp_path / "out2" / "a.png").is_file()


def test_align_bad_inputs(tmp_path, face_photos_dir):
    result = _run(tmp_path / "missing.jpg", "-o", tmp_path / "o")
    assert result.exit_code == EXIT_NOT_FOUND and "missing.jpg" in result.output
    (tmp_path / "empty").mkdir()
    result = _run(tmp_path / "empty", "-o", tmp_path / "o")
    assert result.exit_code == EXIT_BAD_INPUT and "no images" in result.output
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    result = _run(tmp_path / "broken.jpg", "-o", tmp_path / "o")
    assert result.exit_code == EXIT_BAD_INPUT and "cannot read image" in result.output
    result = _run(face_photos_dir / "astronaut.png", "-o", tmp_path / "o", "--index", 3)
    assert result.exit_code == EXIT_BAD_INPUT and "face index 3" in result.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_align_never_writes_over_its_photos(tmp_path, face_photos_dir):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(face_photos_dir / "astronaut.png", src / "a.png")
    before = (src / "a.png").read_bytes()
    for args in ((src, "-o", src), (src / "a.png", "-o", src)):  # OUT is the photos' folder: a.png -> a.png
        result = _run(*args)
        assert result.exit_code == EXIT_USAGE and "overwrite" in result.output, result.output
        assert (src / "a.png").read_bytes() == before and sorted(p.name for p in src.iterdir()) == ["a.png"]
