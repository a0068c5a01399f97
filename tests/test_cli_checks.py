"""Issue #18: every command checks its inputs and outputs before the first model loads, and fails with
one ``error: ...`` line and the README's exit code (2: an output suffix we do not write; 3: a missing
input; 5: an unreadable input; 7: an output that cannot be written), naming the user's path and never
a temporary file, and leaving nothing behind.

Each failing case runs with every model loader replaced by one that fails the test if called, so a
check that happens only after the models load (after the compute, with ``--tune``) cannot pass.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fixtures.face_photos import photo
from latentreenact.cli.errors import EXIT_BAD_INPUT, EXIT_IO, EXIT_NOT_FOUND, EXIT_USAGE
from latentreenact.cli.main import cli
from latentreenact.video import probe_video, write_video
from test_output_paths import unwritable_folders
from tiny_reenactor import face, model_files

pytestmark = pytest.mark.usefixtures("one_thread")


class ModelLoaded(AssertionError):
    """A model was loaded before the command checked its files."""


@pytest.fixture()
def no_models(monkeypatch):  # type: ignore[no-untyped-def]
    """Replace every model loader the commands call with one that fails the test."""
    import latentreenact.cli.eval_directions as eval_directions
    import latentreenact.cli.invert as invert
    import latentreenact.cli.net3d_dataset as net3d_dataset
    import latentreenact.cli.sample as sample
    import latentreenact.cli.stats as stats
    import latentreenact.cli.train_directions as train_directions
    import latentreenact.cli.train_encoder as train_encoder
    import latentreenact.cli.train_net3d as train_net3d
    from latentreenact.models.mobilestylegan import MobileStyleGAN
    from latentreenact.reenactor import Reenactor

    def loaded(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ModelLoaded("a model was loaded before the files were checked")

    monkeypatch.setattr(Reenactor, "from_pretrained", loaded)
    monkeypatch.setattr(MobileStyleGAN, "from_ir", loaded)
    for module in (eval_directions, invert, net3d_dataset, sample, stats, train_directions, train_encoder):
        monkeypatch.setattr(module, "load_generator", loaded)
    for module in (net3d_dataset, stats):
        monkeypatch.setattr(module, "get_estimator", loaded)
    monkeypatch.setattr(train_net3d, "train_net3d", loaded)


@pytest.fixture(scope="module")
def files(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny model directory, source.png, driving.png, a driving folder, a good and a truncated clip."""
    root = tmp_path_factory.mktemp("checks")
    r, model = model_files(root)
    Image.fromarray(face(r.generator, 41)).save(root / "driving.png")
    (root / "folder").mkdir()
    Image.fromarray(face(r.generator, 42)).save(root / "folder" / "a.png")
    (root / "clips").mkdir()
    write_video(root / "clips" / "clip.mp4", [face(r.generator, 50 + i, size=64) for i in range(12)], 12)
    data = (root / "clips" / "clip.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "A.pt").write_bytes(b"only has to exist")
    return root, model


def invoke(args) -> "click.testing.Result":  # type: ignore[no-untyped-def]
    """Run the CLI; ``reenact``, ``edit`` and ``invert`` get ``--tune none`` unless a recipe is named (the tiny
    test generators have no 32-256 px layers for the default recipe's tuning)."""
    args = [str(a) for a in args]
    if args and args[0] in ("reenact", "edit", "invert") and "--tune" not in args:
        args += ["--tune", "none"]
    return CliRunner().invoke(cli, args)


def listing(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_fails(result, code: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    """Exit ``code``, one ``error:`` line naming ``words``, no temporary names, no traceback."""
    assert not isinstance(result.exception, ModelLoaded), "a model was loaded before the files were checked"
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert ".part" not in result.output and ".latentreenact-write-test" not in result.output, result.output
    for word in words:
        assert str(word) in result.output, (word, result.output)


# command -> (arguments before "-o", suffix of a good output: "" for a directory)
COMMANDS = {
    "reenact-image": (lambda r, m: ["reenact", "--source", r / "source.png", "--driving", r / "driving.png",
                                    "--model", m, "--no-align"], ".png"),
    "reenact-video": (lambda r, m: ["reenact", "--source", r / "source.png", "--driving", r / "clips" / "clip.mp4",
                                    "--model", m, "--no-align", "--tune", "pti"], ".mp4"),
    "reenact-folder": (lambda r, m: ["reenact", "--source", r / "source.png", "--driving", r / "folder",
                                     "--model", m, "--no-align"], ""),
    "edit": (lambda r, m: ["edit", "--source", r / "source.png", "--yaw", "5", "--model", m, "--no-align"], ".png"),
    "edit-gif": (lambda r, m: ["edit", "--source", r / "source.png", "--sweep", "yaw:-5:5:2", "--model", m,
                               "--no-align"], ".gif"),
    "sample": (lambda r, m: ["sample"], ".jpg"),
    "invert": (lambda r, m: ["invert", r / "source.png", "--no-align"], ""),
    "faces-align": (lambda r, m: ["faces", "align", r / "source.png"], ""),
    "eval-reenact": (lambda r, m: ["eval", "reenact", r / "clips", "--mode", "self", "--model", m], ""),
    "eval-directions": (lambda r, m: ["eval", "directions", r / "A.pt"], ".md"),
    "stats": (lambda r, m: ["stats"], ".npy"),
    "net3d-dataset": (lambda r, m: ["net3d", "dataset", "-n", "2"], ""),
    "train-heads": (lambda r, m: ["train", "heads"], ".pt"),
    "train-net3d": (lambda r, m: ["train", "net3d", "--data", r / "folder", "--steps", "1"], ""),
    "train-encoder": (lambda r, m: ["train", "encoder", "--data", r / "folder", "--steps", "1"], ""),
    "train-directions": (lambda r, m: ["train", "directions", "--ranges", r / "A.pt", "--steps", "1"], ""),
}


# ----------------------------------------------------------------------------------------- outputs

@pytest.mark.parametrize("extra, code, words", [
    (["--ranges", "A.pt", "--loss-weight", "shape=inf"], EXIT_USAGE, ["finite number >= 0"]),
    (["--ranges", "A.pt", "--loss-weight", "identity=-5"], EXIT_USAGE, ["finite number >= 0"]),
    (["--ranges", "A.pt"], EXIT_BAD_INPUT, ["A.pt: not a ranges file"]),
])
def test_train_directions_refuses_bad_weights_and_ranges(files, tmp_path, no_models, extra, code, words) -> None:  # type: ignore[no-untyped-def]
    """Was: NaN weights trained to a NaN A.pt with exit 0; a non-.npy ranges file got numpy's advice to unpickle it
    (found by the bug hunt, session 20)."""
    root, _ = files
    args = [root / a if a == "A.pt" else a for a in extra]
    result = invoke(["train", "directions", *args, "--steps", "1", "-o", tmp_path / "run"])
    assert not isinstance(result.exception, ModelLoaded), "a model was loaded before the options were checked"
    assert result.exit_code == code and all(w in result.output for w in words), result.output  # click's usage form
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_an_empty_source_folder_is_called_a_source_folder(files, tmp_path, no_models) -> None:  # type: ignore[no-untyped-def]
    """Was: 'driving folder ... holds no images' for eval motion's --source (session 20)."""
    root, _ = files
    (tmp_path / "empty").mkdir()
    result = invoke(["eval", "motion", "--source", tmp_path / "empty", "--driving", root / "clips" / "clip.mp4",
                     "-o", tmp_path / "m"])
    assert_fails(result, EXIT_BAD_INPUT, "source folder", "holds no images")


def test_an_audio_file_as_driving_is_named_as_such(files, tmp_path, no_models) -> None:  # type: ignore[no-untyped-def]
    """Was: 'cannot write an image file ... to out.mp4', blaming the output (session 20)."""
    root, model = files
    audio = tmp_path / "voice.m4a"
    audio.write_bytes(b"only the name matters")
    result = invoke(["reenact", "--source", root / "source.png", "--driving", audio, "--model", model, "--no-align",
                     "-o", tmp_path / "out.mp4"])
    assert_fails(result, EXIT_BAD_INPUT, "voice.m4a is an audio file")
    assert listing(tmp_path) == ["voice.m4a"]


@pytest.mark.parametrize("case", ["reenact -o driving", "reenact -o source", "reenact -o link to driving",
                                  "edit -o source", "reenact --save-source source", "reenact -o driving's folder",
                                  "reenact -o source's folder"])
def test_an_output_that_is_an_input_fails_first_with_exit_2(files, tmp_path, no_models, case) -> None:  # type: ignore[no-untyped-def]
    """Was: the input silently replaced by the result (found by trying it, session 20)."""
    root, model = files
    for name in ("source.png", "driving.png"):
        shutil.copy(root / name, tmp_path / name)
    src, drv = tmp_path / "source.png", tmp_path / "driving.png"
    prepared = tmp_path / "source.lrsource"
    prepared.write_bytes(b"a prepared source: only has to exist for the check")
    (tmp_path / "link.png").symlink_to(drv)
    before = listing(tmp_path), {p: p.read_bytes() for p in (src, drv, prepared)}
    command, _, output = case.partition(" -o ")
    if case == "reenact --save-source source":
        args = ["reenact", "--source", prepared, "--driving", drv, "--save-source", prepared, "-o", tmp_path / "o.png"]
    elif case == "reenact -o driving's folder":  # OUT/driving.png is the driving image (review, session 21)
        args = ["reenact", "--source", src, "--driving", drv, "-o", tmp_path]
    elif case == "reenact -o source's folder":  # a driving folder's source.png would land on the source photo
        (tmp_path / "drive").mkdir()
        shutil.copy(root / "driving.png", tmp_path / "drive" / "source.png")
        before = listing(tmp_path), before[1]
        args = ["reenact", "--source", src, "--driving", tmp_path / "drive", "-o", tmp_path]
    else:
        args = [command, "--source", src, *(["--driving", drv] if command == "reenact" else ["--yaw", "5"]),
                "-o", {"driving": drv, "source": src, "link to driving": tmp_path / "link.png"}[output]]
    result = invoke([*args, "--model", model, "--no-align"])
    assert_fails(result, EXIT_USAGE, "would overwrite")
    assert (listing(tmp_path), {p: p.read_bytes() for p in (src, drv, prepared)}) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_through_a_file_fails_first_with_exit_7(files, tmp_path, no_models, command) -> None:  # type: ignore[no-untyped-def]
    """Was: '[Errno 17] File exists' at the end of the run."""
    root, model = files
    args, suffix = COMMANDS[command]
    blocker = tmp_path / "file.txt"
    blocker.write_text("in the way")
    out = blocker / "sub" / f"out{suffix}"
    assert_fails(invoke(args(root, model) + ["-o", out]), EXIT_IO, out, f"{blocker} is a file, not a directory")
    assert listing(tmp_path) == ["file.txt"] and blocker.read_text() == "in the way"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unwritable_output_folder_fails_first_with_exit_7(files, tmp_path, no_models, command) -> None:  # type: ignore[no-untyped-def]
    """Was: exit 3 at the end of the run, naming the temporary .out.XXXX.png.part.png."""
    root, model = files
    args, suffix = COMMANDS[command]
    folders = unwritable_folders(tmp_path)
    if not folders:
        pytest.skip("no folder here refuses new files")
    for folder in folders:
        out = folder / f"out{suffix}"
        assert_fails(invoke(args(root, model) + ["-o", out]), EXIT_IO, out, f"{folder} is not writable")
        assert not out.exists()


@pytest.mark.parametrize("command,suffix", [
    ("reenact-image", ".bufr"), ("reenact-image", ".xbm"), ("reenact-image", ".pdf"), ("reenact-image", ".gif"),
    ("reenact-video", ".avi"), ("reenact-video", ".png"), ("reenact-video", ".m4v"),
    ("reenact-folder", ".png"),
    ("edit", ".xbm"), ("edit", ".pdf"), ("edit-gif", ".webm"),
    ("sample", ".bufr"), ("sample", ".gif"),
    ("eval-directions", ".csv"), ("stats", ".json"), ("train-heads", ".pth"),
])
def test_an_output_suffix_we_do_not_write_fails_first_with_exit_2(  # type: ignore[no-untyped-def]
        files, tmp_path, no_models, command, suffix) -> None:
    """Was: .bufr / .xbm accepted, then exit 7 at the end; .pdf wrote a PDF."""
    root, model = files
    args, _ = COMMANDS[command]
    out = tmp_path / f"out{suffix}"
    assert_fails(invoke(args(root, model) + ["-o", out]), EXIT_USAGE, out)
    assert listing(tmp_path) == []


def test_a_directory_where_the_video_should_go_fails_first_with_exit_7(files, tmp_path, no_models) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    args, _ = COMMANDS["reenact-video"]
    (tmp_path / "out.mp4").mkdir()
    assert_fails(invoke(args(root, model) + ["-o", tmp_path / "out.mp4"]), EXIT_IO, "out.mp4: it is a directory")
    assert listing(tmp_path) == ["out.mp4"]


def test_a_webm_output_is_encoded_with_vp9(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Was: libx264 into .webm, failing after the render with ffmpeg's own lines."""
    root, model = files
    out = tmp_path / "out.webm"
    result = invoke(["reenact", "--source", root / "source.png", "--driving", root / "clips" / "clip.mp4",
                     "--model", model, "--no-align", "--no-progress", "--max-frames", "3", "-o", out])
    assert result.exit_code == 0, result.output
    assert probe_video(out).n_frames == 3 and listing(tmp_path) == ["out.webm"]


def test_max_side_scales_the_pasted_back_video(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    source = tmp_path / "in" / "source.png"
    source.parent.mkdir()
    small = Image.open(root / "source.png")
    small.resize((4 * small.width, 4 * small.height), Image.LANCZOS).save(source)
    args = ["reenact", "--source", source, "--driving", root / "clips" / "clip.mp4", "--model", model,
            "--no-align", "--no-progress", "--max-frames", "2"]
    source_side = 4 * max(small.size)
    result = invoke(args + ["--max-side", "16", "-o", tmp_path / "small.mp4"])
    assert result.exit_code == 0, result.output
    assert max(probe_video(tmp_path / "small.mp4").size) == 16 < source_side
    result = invoke(args + ["--max-side", "0", "-o", tmp_path / "full.mp4"])
    assert result.exit_code == 0, result.output
    assert max(probe_video(tmp_path / "full.mp4").size) in (source_side, source_side + 1)  # padded to even
    result = invoke(args + ["--max-side", "8", "-o", tmp_path / "bad.mp4"])
    assert result.exit_code == 2 and "at least 16 pixels" in result.output
    assert listing(tmp_path) == ["full.mp4", "in", "in/source.png", "small.mp4"]


def test_max_side_scales_pasted_back_sweeps_only(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    source = tmp_path / "source.png"
    small = Image.open(root / "source.png")
    small.resize((4 * small.width, 4 * small.height), Image.LANCZOS).save(source)
    args = ["edit", "--source", source, "--model", model, "--no-align", "--no-progress", "--paste-back"]
    sweep = ["--sweep", "yaw:-10:10:3"]
    assert invoke(args + sweep + ["--max-side", "16", "-o", tmp_path / "small.png"]).exit_code == 0
    # one row of three tiles of the photo scaled to 16 px, with make_grid's 2 px padding
    assert Image.open(tmp_path / "small.png").size == (3 * (16 + 2) + 2, 16 + 2 + 2)
    assert invoke(args + sweep + ["--max-side", "0", "-o", tmp_path / "full.png"]).exit_code == 0
    side = 4 * small.width
    assert Image.open(tmp_path / "full.png").size == (3 * (side + 2) + 2, 4 * small.height + 4)
    assert invoke(args + ["--yaw", "5", "--max-side", "16", "-o", tmp_path / "one.png"]).exit_code == 0
    assert Image.open(tmp_path / "one.png").size == (side, 4 * small.height)  # a single edit keeps the photo's size


def test_a_failing_write_at_the_end_names_the_output(files, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A disk that fills up while the image is saved: exit 7 naming e.png, not the temporary file."""
    import errno

    root, model = files
    save = Image.Image.save

    def full(self, fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(fp).endswith(".part.png"):
            raise OSError(errno.ENOSPC, "No space left on device", str(fp))
        return save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", full)
    out = tmp_path / "e.png"
    result = invoke(["edit", "--source", root / "source.png", "--yaw", "5", "--model", model, "--no-align",
                     "--no-progress", "-o", out])
    assert_fails(result, EXIT_IO, f"cannot write {out}: No space left on device")
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------------------------- inputs

def test_an_unreadable_driving_image_fails_before_the_models(files, tmp_path, no_models) -> None:  # type: ignore[no-untyped-def]
    """Was: read only after the models were loaded and the source inverted."""
    root, model = files
    bad = tmp_path / "driving.jpg"
    buf = tmp_path / "good.jpg"
    Image.fromarray(photo("astronaut")).save(buf)
    bad.write_bytes(buf.read_bytes()[:600])  # a valid header, then nothing
    buf.unlink()
    result = invoke(["reenact", "--source", root / "source.png", "--driving", bad, "--model", model, "--no-align",
                     "-o", tmp_path / "out.png"])
    assert_fails(result, EXIT_BAD_INPUT, "cannot read image", bad)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.png").write_bytes((root / "driving.png").read_bytes())
    (folder / "b.png").write_bytes(b"not an image")
    result = invoke(["reenact", "--source", root / "source.png", "--driving", folder, "--model", model, "--no-align",
                     "-o", tmp_path / "out"])
    assert_fails(result, EXIT_BAD_INPUT, "cannot read image", folder / "b.png")
    assert listing(tmp_path) == ["driving.jpg", "frames", "frames/a.png", "frames/b.png"]


@pytest.mark.parametrize("command", ["reenact", "edit"])
def test_a_directory_as_source_is_a_directory_not_missing(files, tmp_path, no_models, command) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    args = ["--driving", root / "driving.png"] if command == "reenact" else ["--yaw", "5"]
    result = invoke([command, "--source", root / "folder", *args, "--model", model, "-o", tmp_path / "o.png"])
    assert_fails(result, EXIT_BAD_INPUT, f"source image {root / 'folder'} is a directory")
    result = invoke([command, "--source", tmp_path / "none.png", *args, "--model", model, "-o", tmp_path / "o.png"])
    assert_fails(result, EXIT_NOT_FOUND, "source image not found")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    result = invoke([command, "--source", not_an_image, *args, "--model", model, "-o", tmp_path / "o.png"])
    assert_fails(result, EXIT_BAD_INPUT, "cannot read image", not_an_image)
    assert listing(tmp_path) == ["notes.png"]


def test_a_truncated_clip_is_warned_about_once(files, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """Was: the same warning three times (the clip is probed and decoded several times)."""
    root, model = files
    with caplog.at_level(logging.WARNING, logger="latentreenact.video"):
        result = invoke(["reenact", "--source", root / "source.png", "--driving", root / "truncated.mp4",
                         "--model", model, "--no-align", "--no-progress", "-o", tmp_path / "out.mp4"])
    assert result.exit_code == 0, result.output
    messages = [r.getMessage() for r in caplog.records if r.name == "latentreenact.video"]
    assert any("looks damaged" in m for m in messages), messages
    assert len(messages) == len(set(messages)), messages  # each warning once
    assert sum("truncated.mp4" in m for m in messages) <= 2, messages  # damaged; decoded only N of M


# ----------------------------------------------------------------------------------------- help texts

def _commands(group: click.Group, path=()):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_every_option_has_help() -> None:
    """Was: `sample --noise-mode` and `--batch-size` without help."""
    missing = [f"{name} {'/'.join(p.opts)}" for name, command in _commands(cli) for p in command.params
               if isinstance(p, click.Option) and not p.help]
    assert missing == []


def test_help_says_what_the_user_files_do() -> None:
    text = invoke(["eval", "reenact", "--help"]).output
    assert "runs the TorchScript code" in " ".join(text.split())
    text = " ".join(invoke(["reenact", "--help"]).output.split())
    assert ".webm" in text and ".avi" not in text


def test_no_face_hints_name_options_the_command_has(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Was: 'a larger upsample' suggested by commands without --upsample; only `faces align` has one."""
    from latentreenact.faces import NoFaceError, find_face

    grey = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(NoFaceError) as info:
        find_face(grey, name="grey.png")
    assert "upsample" not in str(info.value) and "--detector mmod" in str(info.value)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    result = invoke(["faces", "align", tmp_path / "grey.png", "-o", tmp_path / "out", "--no-progress"])
    assert_fails(result, EXIT_BAD_INPUT, "no face found", "a larger --upsample (now 1)")
    assert listing(tmp_path) == ["grey.png"]


def test_many_outputs_checked_against_many_inputs_in_one_pass(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """check_none_is_input (a driving folder of many images into a folder): the same verdicts as check_not_input,
    file by file, links included, and missing outputs never match."""
    from latentreenact.output_paths import OutputIsInputError, check_none_is_input, check_not_input

    inputs = []
    for i in range(50):
        inputs.append(tmp_path / f"in{i}.png")
        inputs[-1].write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link.png").symlink_to(inputs[7])
    (tmp_path / "out" / "other.png").write_bytes(b"y")
    fresh = [tmp_path / "out" / f"new{i}.png" for i in range(50)]
    check_none_is_input(fresh + [tmp_path / "out" / "other.png"], inputs)
    for outputs in ([tmp_path / "out" / "link.png"], [inputs[3]]):
        with pytest.raises(OutputIsInputError, match="would overwrite"):
            check_none_is_input(fresh + outputs, inputs)
        with pytest.raises(OutputIsInputError):
            check_not_input(outputs[0], *inputs)
