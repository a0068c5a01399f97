"""Prepared source files (latentreenact.source_file, Reenactor.save_source / load_source): a saved and loaded
source renders exactly what the original does; files of another format, version or model are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures.face_photos import single_thread
from latentreenact.fileio import CheckpointFormatError
from latentreenact.source_file import SOURCE_FORMAT_VERSION, is_source_file
from tiny_reenactor import tiny_controls, face, tiny_directions, tiny_reenactor

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


@pytest.fixture(scope="module")
def tuned():  # type: ignore[no-untyped-def]
    r = tiny_reenactor()
    return r, r.invert(face(r.generator, 3), align=False, tune="pti", tune_steps=3, check_identity=False)


def driving(r) -> torch.Tensor:  # type: ignore[no-untyped-def]
    dp = torch.randn(3, r.spec.k, generator=torch.Generator().manual_seed(1))
    dp[:, list(r.spec.names).index("roll")] = 0.0
    return dp


def test_a_loaded_source_renders_exactly_what_the_saved_one_does(  # type: ignore[no-untyped-def]
        tuned, tmp_path) -> None:
    r, src = tuned
    src.pose_gains, src.pose_leaks = {"pitch": 0.8, "yaw": 1.25}, {"yaw": {"exp_0": 0.1, "exp_3": -0.2}}
    src.info.update(pose_gains=dict(src.pose_gains), note=np.float32(0.5))  # numpy scalars are written as numbers
    assert src.generator is not r.generator  # tuned
    path = r.save_source(src, tmp_path / "face.lrsource")
    assert is_source_file(path) and not is_source_file(tmp_path / "face.png")
    assert [p.name for p in tmp_path.iterdir()] == ["face.lrsource"]  # written atomically, nothing beside it
    loaded = r.load_source(path)
    assert loaded.generator is not r.generator and loaded.name == src.name
    assert loaded.pose_gains == pytest.approx(src.pose_gains) and loaded.pose_leaks == src.pose_leaks
    assert loaded.info["note"] == 0.5 and loaded.info["recipe"] == "pti"
    assert loaded.info["pose_leaks"] == src.info["pose_leaks"]
    np.testing.assert_array_equal(loaded.crop, src.crop)
    np.testing.assert_array_equal(loaded.image, src.image)
    np.testing.assert_array_equal(loaded.transform, src.transform)
    np.testing.assert_array_equal(r.faces(loaded, driving(r)), r.faces(src, driving(r)))
    # only the tuned tensors are stored: an untuned source keeps the reenactor's generator
    untuned = r.invert(face(r.generator, 4), align=False, tune="none", check_identity=False)
    again = r.load_source(r.save_source(untuned, tmp_path / "plain.lrsource"))
    assert again.generator is r.generator
    assert (tmp_path / "plain.lrsource").stat().st_size < path.stat().st_size


def test_calibration_follows_the_loading_reenactor(tuned, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, src = tuned
    src.pose_gains, src.pose_leaks = {"pitch": 0.8}, {"yaw": {"exp_0": 0.1}}
    src.info["pose_gains"] = dict(src.pose_gains)
    path = r.save_source(src, tmp_path / "face.lrsource")
    off = tiny_reenactor(calibrate=False)
    bare = off.load_source(path)  # same models, no calibration: the gains and leaks are not used
    assert bare.pose_gains == {} and bare.pose_leaks == {}
    src.info.pop("pose_gains")
    path = r.save_source(src, tmp_path / "uncalibrated.lrsource")
    calls = []
    r._calibrate_source, original = (lambda s: calls.append(s.name)), r._calibrate_source  # type: ignore[method-assign]
    try:
        r.load_source(path)  # saved without a calibration, loaded by a calibrating reenactor: calibrated now
    finally:
        r._calibrate_source = original  # type: ignore[method-assign]
    assert calls == [src.name]


def test_files_that_are_not_this_models_source_are_refused_by_name(  # type: ignore[no-untyped-def]
        tuned, tmp_path) -> None:
    r, src = tuned
    path = r.save_source(src, tmp_path / "face.lrsource")
    with pytest.raises(FileNotFoundError, match="prepared source not found"):
        r.load_source(tmp_path / "missing.lrsource")
    other = tiny_reenactor()
    other.directions = tiny_directions(0.5)  # another direction matrix (a bias)
    with pytest.raises(CheckpointFormatError, match="face.lrsource: the source was prepared with other models"):
        other.load_source(path)
    for controls in (tiny_controls(), tiny_controls(names=("eyes_closed",))):  # the follower gains depend on them
        with_controls = tiny_reenactor()
        with_controls.latent_controls = controls
        with pytest.raises(CheckpointFormatError, match="other models .*W-space controls"):
            with_controls.load_source(path)
    controlled = tiny_reenactor(with_controls=True)
    assert controlled.fingerprint() != tiny_reenactor().fingerprint()
    saved = controlled.save_source(src, tmp_path / "controlled.lrsource")
    assert tiny_reenactor(with_controls=True).load_source(saved).name == src.name  # the same controls: accepted
    payload = torch.load(path, weights_only=True)
    for name, change, message in (
            ("version", {"format_version": SOURCE_FORMAT_VERSION + 1}, "format version 2 is not supported"),
            ("format", {"format": "something else"}, "not a prepared source file"),
            ("crop", {"crop": torch.zeros(4, 4)}, "crop is not a uint8 RGB image"),
            ("wplus", {"wplus": torch.full_like(payload["wplus"], float("nan"))}, "does not hold a usable source"),
            ("tensor", {"generator": {"no.such.tensor": torch.zeros(1)}}, "does not fit")):
        bad = tmp_path / f"{name}.lrsource"
        torch.save({**payload, **change}, bad)
        with pytest.raises(CheckpointFormatError, match=message):
            r.load_source(bad)
    truncated = tmp_path / "truncated.lrsource"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointFormatError, match="truncated.lrsource"):
        r.load_source(truncated)
    (tmp_path / "folder.lrsource").mkdir()
    with pytest.raises(OSError):
        r.save_source(src, tmp_path / "folder.lrsource")  # a directory in the way: nothing is left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
