"""``latentreenact reenact`` and ``latentreenact edit`` (click commands, tested directly) on a tiny model
directory (16 px generator, tiny light encoder, tiny bfm-net regressor, small direction matrix)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fixtures.face_photos import single_thread
from latentreenact.cli.edit import edit, parse_sweep
from latentreenact.cli.errors import EXIT_BAD_CHECKPOINT, EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_USAGE
from latentreenact.cli.reenact import reenact
from tiny_reenactor import SIZE, face, model_files

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


@pytest.fixture(scope="module")
def files(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A model directory, a source image and a folder of three driving images."""
    root = tmp_path_factory.mktemp("cli")
    r, model = model_files(root)
    (root / "driving").mkdir()
    for i in range(3):
        Image.fromarray(face(r.generator, 40 + i)).save(root / "driving" / f"d{i}.png")
    return root, model


def run(command, args):  # type: ignore[no-untyped-def]
    """Invoke a command; ``reenact``, ``edit`` and ``invert`` get ``--tune none`` unless the test names a recipe
    (the tiny test generators have no 32-256 px layers for the default recipe's tuning; test_recipes.py covers it)."""
    args = [str(a) for a in args]
    if command.name in ("reenact", "edit", "invert") and "--tune" not in args:
        args += ["--tune", "none"]
    return CliRunner().invoke(command, args)


def test_missing_source_exits_3(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, _ = files
    result = run(reenact, ["--source", tmp_path / "nope.png", "--driving", root / "driving", "-o", tmp_path / "out"])
    assert result.exit_code == EXIT_NOT_FOUND and "source image not found" in result.output
    result = run(edit, ["--source", tmp_path / "nope.png", "--yaw", "10", "-o", tmp_path / "e.png"])
    assert result.exit_code == EXIT_NOT_FOUND
    result = run(reenact, ["--source", root / "source.png", "--driving", tmp_path / "none.mp4", "-o",
                           tmp_path / "o.mp4"])
    assert result.exit_code == EXIT_NOT_FOUND and "driving input not found" in result.output
    assert list(tmp_path.iterdir()) == []


def test_empty_driving_folder_exits_5(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    (tmp_path / "empty").mkdir()
    result = run(reenact, ["--source", root / "source.png", "--driving", tmp_path / "empty", "--model", model,
                           "--no-align", "-o", tmp_path / "out"])
    assert result.exit_code == EXIT_BAD_INPUT and "no images" in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "out").exists()


def test_missing_default_model_and_bad_checkpoint(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact import zoo

    root, model = files
    args = ["--source", root / "source.png", "--driving", root / "driving" / "d0.png", "-o", tmp_path / "o.png"]
    if not zoo.is_registered("encoder-mobilestylegan-ffhq"):
        result = run(reenact, args)
        assert result.exit_code == EXIT_NOT_FOUND and "encoder-mobilestylegan-ffhq" in result.output
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("generator.pt", "encoder.pt", "net3d.pt", "controls.pt", "reenactor.json"):
        (broken / name).write_bytes((model / name).read_bytes())
    (broken / "directions.pt").write_bytes(b"not a checkpoint")
    result = run(reenact, args[:-2] + ["--model", broken, "--no-align", "-o", tmp_path / "o.png"])
    assert result.exit_code == EXIT_BAD_CHECKPOINT and "directions.pt" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


def test_reenact_folder_image_and_video(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.video import probe_video, write_video

    root, model = files
    common = ["--source", root / "source.png", "--model", model, "--no-align", "--no-progress"]
    result = run(reenact, common + ["--driving", root / "driving", "-o", tmp_path / "frames"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["d0.png", "d1.png", "d2.png"]
    assert "3 frame(s), 0 without a face" in result.output and "s/frame" in result.output
    # --expression absolute: the expression entries against the source, so the frames change; with --absolute
    # everything is already against the source and the option changes nothing
    def frames(folder):  # type: ignore[no-untyped-def]
        return [np.asarray(Image.open(folder / f"d{i}.png")) for i in range(3)]

    for name, extra in [("expr", ["--expression", "absolute"]), ("abs", ["--absolute"]),
                        ("abs_expr", ["--absolute", "--expression", "absolute"])]:
        result = run(reenact, common + ["--driving", root / "driving", "-o", tmp_path / name] + extra)
        assert result.exit_code == 0, result.output
    assert any(not np.array_equal(a, b) for a, b in zip(frames(tmp_path / "expr"), frames(tmp_path / "frames")))
    assert all(np.array_equal(a, b) for a, b in zip(frames(tmp_path / "abs_expr"), frames(tmp_path / "abs")))
    result = run(reenact, common + ["--driving", root / "driving" / "d1.png", "--no-paste-back", "--side-by-side",
                                    "-o", tmp_path / "one.png"])
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(tmp_path / "one.png")).shape == (SIZE, 2 * SIZE, 3)
    clip = tmp_path / "clip.mp4"
    write_video(clip, [np.asarray(Image.open(root / "driving" / f"d{i % 3}.png")) for i in range(5)], 12)
    result = run(reenact, common + ["--driving", clip, "--batch-size", "2", "-o", tmp_path / "out.mp4"])
    assert result.exit_code == 0, result.output
    info = probe_video(tmp_path / "out.mp4")
    assert info.n_frames == 5 and info.fps == pytest.approx(12)
    result = run(reenact, common + ["--driving", clip, "--max-frames", "3", "-o", tmp_path / "cut.mp4"])
    assert result.exit_code == 0 and "3 frame(s)" in result.output, result.output
    assert probe_video(tmp_path / "cut.mp4").n_frames == 3
    result = run(reenact, common + ["--driving", clip, "-o", tmp_path / "bad.png"])
    assert result.exit_code == EXIT_USAGE and not (tmp_path / "bad.png").exists()


def test_edit_single_and_sweeps(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    common = ["--source", root / "source.png", "--model", model, "--no-align", "--no-progress"]
    result = run(edit, common + ["--yaw", "20", "--exp", "0=1.5", "-o", tmp_path / "e.png"])
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(tmp_path / "e.png")).shape == (SIZE, SIZE, 3)
    result = run(edit, common + ["--sweep", "yaw:-30:30:3", "--sweep", "exp_1:-1:1:2", "-o", tmp_path / "grid.png"])
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(tmp_path / "grid.png")).shape == (2 * SIZE + 6, 3 * SIZE + 8, 3)
    result = run(edit, common + ["--sweep", "pitch:-10:10:4", "-o", tmp_path / "s.gif"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "s.gif").n_frames == 6  # forwards and back
    base = np.asarray(Image.open(tmp_path / "e.png"))
    result = run(edit, common + ["--yaw", "20", "--exp", "0=1.5", "--eyes-closed", "1", "-o", tmp_path / "eyes.png"])
    assert result.exit_code == 0, result.output
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "eyes.png")), base)  # the model dir names controls.pt
    result = run(edit, common + ["--sweep", "eyes_closed:0:1:2", "-o", tmp_path / "eyes_grid.png"])
    assert result.exit_code == 0, result.output
    result = run(edit, common + ["--jaw", "1", "-o", tmp_path / "jaw.png"])
    assert result.exit_code == EXIT_BAD_INPUT and "jaw" in result.output
    result = run(edit, common + ["--yaw", "1e6", "-o", tmp_path / "far.png"])
    assert result.exit_code == EXIT_BAD_INPUT and "limited to ±90 degrees" in result.output, result.output
    from latentreenact.reenactor import Reenactor

    rendered = []
    edit_one = Reenactor.edit
    with pytest.MonkeyPatch.context() as patch:  # a sweep whose last value is out of range fails before any render
        patch.setattr(Reenactor, "edit", lambda *a, **k: rendered.append(1) or edit_one(*a, **k))
        result = run(edit, common + ["--sweep", "yaw:0:120:7", "-o", tmp_path / "far.png"])
    assert result.exit_code == EXIT_BAD_INPUT and "limited to ±90 degrees" in result.output, result.output
    assert rendered == []  # was: 0-80 degrees rendered first (found by the code review)
    for bad in (["--sweep", "yaw:1:2"], ["--exp", "x"], ["-o", tmp_path / "nosweep.gif"],
                ["--yaw", "25", "--sweep", "yaw:-10:10:2"], ["--exp", "1=2", "--sweep", "exp_1:0:1:2"],
                ["--smile", "1", "--sweep", "smile:0:1:2"]):
        result = run(edit, common + (bad if "-o" in bad else bad + ["-o", tmp_path / "x.png"]))
        assert result.exit_code == EXIT_USAGE, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.png", "eyes.png", "eyes_grid.png", "grid.png", "s.gif"]


def test_parse_sweep() -> None:
    assert parse_sweep("yaw:-30:30:7") == ("yaw", [-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0])
    assert parse_sweep("exp3:0:1:2") == ("exp_3", [0.0, 1.0])


def test_bad_inputs_exit_5(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01 not a video" * 50)
    result = run(reenact, ["--source", root / "source.png", "--driving", corrupt, "--model", model, "--no-align",
                           "--no-progress", "-o", tmp_path / "out.mp4"])
    assert result.exit_code == EXIT_BAD_INPUT and "corrupt.mp4" in result.output
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "blank.png")
    result = run(edit, ["--source", tmp_path / "blank.png", "--model", model, "--yaw", "5", "--no-progress",
                        "-o", tmp_path / "e.png"])
    assert result.exit_code == EXIT_BAD_INPUT and "no face" in result.output
    # --follow-eyes with an estimator that detects no landmarks (the tiny bfm-net): a clear error, no output
    result = run(reenact, ["--source", root / "source.png", "--driving", root / "driving", "--model", model,
                           "--no-align", "--no-progress", "--follow-eyes", "-o", tmp_path / "eyes"])
    assert result.exit_code == EXIT_BAD_INPUT and "landmark-fitting estimator" in result.output, result.output
    result = run(reenact, ["--source", root / "source.png", "--driving", root / "driving", "--model", model,
                           "--no-align", "--no-progress", "--follow-mouth", "-o", tmp_path / "mouth"])
    assert result.exit_code == EXIT_BAD_INPUT and "follow_mouth needs a landmark-fitting" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png", "corrupt.mp4"]


def test_a_saved_source_reenacts_and_edits_as_the_photo_does(files, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    saved = tmp_path / "face.lrsource"
    common = ["--model", model, "--no-align", "--tune", "pti", "--tune-steps", "2"]
    first = run(reenact, ["--source", root / "source.png", "--save-source", saved, "--driving", root / "driving",
                          *common, "-o", tmp_path / "from_photo"])
    assert first.exit_code == 0, first.output
    assert "saved the prepared source" in first.output and saved.is_file()
    again = run(reenact, ["--source", saved, "--driving", root / "driving", *common, "-o", tmp_path / "from_file"])
    assert again.exit_code == 0, again.output
    # was: silently; --no-align still applies to the driving images (the review, session 21: it was named too)
    assert "--tune and --tune-steps ignored" in caplog.text and "--no-align ignored" not in caplog.text
    caplog.clear()
    edited = run(edit, ["--source", saved, "--yaw", "10", *common, "-o", tmp_path / "e0.png"])
    assert edited.exit_code == 0 and "--tune and --tune-steps and --no-align ignored" in caplog.text
    for name in ("d0.png", "d1.png", "d2.png"):  # the same tuned source: the same frames, bit for bit
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "from_photo" / name)),
                                      np.asarray(Image.open(tmp_path / "from_file" / name)))
    edited = run(edit, ["--source", saved, "--yaw", "10", *common, "-o", tmp_path / "e.png"])
    assert edited.exit_code == 0 and (tmp_path / "e.png").is_file(), edited.output
    # a prepared source stands alone, is saved only as .lrsource, and is checked before any model loads
    alone = run(reenact, ["--source", saved, "--source", root / "source.png", "--driving", root / "driving",
                          *common, "-o", tmp_path / "x"])
    assert alone.exit_code == EXIT_BAD_INPUT and "given alone" in alone.output
    suffix = run(reenact, ["--source", root / "source.png", "--save-source", tmp_path / "face.pt", "--driving",
                           root / "driving", *common, "-o", tmp_path / "y"])
    assert suffix.exit_code == EXIT_USAGE and ".lrsource" in suffix.output
    missing = run(edit, ["--source", tmp_path / "gone.lrsource", "--yaw", "1", *common, "-o", tmp_path / "z.png"])
    assert missing.exit_code == EXIT_NOT_FOUND and "prepared source not found" in missing.output
    broken = tmp_path / "broken.lrsource"
    broken.write_bytes(b"not a source")
    result = run(edit, ["--source", broken, "--yaw", "1", *common, "-o", tmp_path / "w.png"])
    assert result.exit_code == EXIT_BAD_CHECKPOINT and "broken.lrsource" in result.output
    assert not any((tmp_path / n).exists() for n in ("x", "y", "z.png", "w.png", "face.pt"))


def test_controls_the_model_lacks_fail_before_the_source_is_prepared(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--follow-eyes, or an --eyes-closed edit or sweep, on a model without W-space controls: exit 5 before the
    inversion and tuning, and no --save-source file (was: after them, with the prepared source left behind; found
    by the byog hunt, session 21)."""
    import json
    import shutil

    from latentreenact.reenactor import Reenactor

    root, model = files
    bare = tmp_path / "bare"
    shutil.copytree(model, bare)
    spec = json.loads((bare / "reenactor.json").read_text())
    (bare / "reenactor.json").write_text(json.dumps({**spec, "controls": None}))
    inverted = []
    invert = Reenactor.invert
    common = ["--source", root / "source.png", "--model", bare, "--no-align", "--no-progress", "--tune", "pti",
              "--save-source", tmp_path / "s.lrsource"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Reenactor, "invert", lambda *a, **k: inverted.append(1) or invert(*a, **k))
        for command, args in ((reenact, ["--driving", root / "driving", "--follow-eyes", "-o", tmp_path / "out"]),
                              (edit, ["--eyes-closed", "1", "-o", tmp_path / "e.png"]),
                              (edit, ["--sweep", "eyes_closed:0:1:2", "-o", tmp_path / "e.png"])):
            result = run(command, common + args)
            assert result.exit_code == EXIT_BAD_INPUT and "eyes_closed" in result.output, result.output
    assert inverted == [] and sorted(p.name for p in tmp_path.iterdir()) == ["bare"]
