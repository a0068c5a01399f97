"""Robustness: every bad input ends in a specific exception (library) or in one ``error: ...`` line with
a specific exit code (CLI: 2 usage, 3 not found, 4 bad checkpoint, 5 bad input, 130 interrupted), never
in a traceback, and never leaves a partial output file behind (each CLI test lists the folder afterwards).

Tiny models throughout (tests/tiny_reenactor.py: 16 px generator, tiny encoder, fake or tiny bfm-net
Net3D); face detection runs only on the real test photos and on the tiny / blank images.

Covered elsewhere, not repeated here: concurrent demo requests (test_demo_session.py::
test_concurrent_requests); a clean stop and exact resume of each trainer (test_directions_train.py,
test_encoder_train.py, test_net3d_regressor.py: ``test_resume_is_bit_identical``) and a KeyboardInterrupt
in the Net3D dataset builder (test_net3d_dataset.py::test_resume_matches_uninterrupted_run); a NaN W+ in
a ``Source`` (test_reenactor.py); ``invert`` / ``edit`` on a face-less photo (test_invert_cli.py,
test_reenact_cli.py). The CLI reads no latent files (``invert`` only writes ``latent.pt``), so NaN
latents are tested through the library only.
"""

from __future__ import annotations

import io
import json
import logging
import math
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from fixtures.face_photos import photo
from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.cli.edit import edit
from latentreenact.cli.errors import (EXIT_BAD_CHECKPOINT, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_NOT_FOUND,
                                      EXIT_USAGE)
from latentreenact.cli.invert import invert
from latentreenact.cli.reenact import reenact
from latentreenact.faces import NoFaceError, find_face, read_image
from latentreenact.video import VideoError, iter_frames, probe_video, write_video
from tiny_reenactor import SIZE, face, model_files, tiny_reenactor

pytestmark = pytest.mark.usefixtures("one_thread")

CLIP_FRAMES = 12


# ----------------------------------------------------------------------------------------- helpers

def run(command, args):  # type: ignore[no-untyped-def]
    """Invoke a command; ``reenact``, ``edit`` and ``invert`` get ``--tune none`` unless the test names a recipe
    (the tiny test generators have no 32-256 px layers for the default recipe's tuning; test_recipes.py covers it)."""
    args = [str(a) for a in args]
    if command.name in ("reenact", "edit", "invert") and "--tune" not in args:
        args += ["--tune", "none"]
    return CliRunner().invoke(command, args)


def assert_fails(result, code: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    """Exit ``code`` with exactly one ``error: ...`` line naming ``words``, and no traceback."""
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not an escaped library exception
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)


def assert_usage_error(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    """click's own usage error: exit 2 with its ``Usage: ... Error: ...`` text, no traceback."""
    assert result.exit_code == EXIT_USAGE and isinstance(result.exception, SystemExit), result.output
    assert "Error: Invalid value" in result.output and "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)


def names(folder: Path) -> list:
    """Everything under ``folder`` (hidden staging / ``.part`` files included), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error", *args], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims ``width`` x ``height`` pixels (a few dozen bytes)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def damaged(kind: str, good: bytes) -> bytes:
    """Broken variants of a good checkpoint file."""
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "cut_tail":
        return good[:-16]
    if kind == "text":
        return b"generator weights: see the release page\n"
    if kind == "empty":
        return b""
    buf = io.BytesIO()
    torch.save({"weights": torch.zeros(3), "epoch": 4} if kind == "unrelated_dict" else [1, 2, 3], buf)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tiny():  # type: ignore[no-untyped-def]
    """(reenactor with the fake Net3D, a 16 px face, its Source)."""
    r = tiny_reenactor()
    image = face(r.generator, 3)
    return r, image, r.invert(image, align=False, tune="none")


@pytest.fixture(scope="module")
def files(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A model directory (tiny bfm-net Net3D), a 16 px source image and one driving image."""
    root = tmp_path_factory.mktemp("robust")
    r, model = model_files(root)
    Image.fromarray(face(r.generator, 41)).save(root / "driving.png")
    return root, model


@pytest.fixture(scope="module")
def videos(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A good 64 px faststart mp4 and broken variants of it (name -> path)."""
    root = tmp_path_factory.mktemp("videos")
    g = tiny_reenactor().generator
    good = root / "good.mp4"
    write_video(good, [face(g, 50 + i, size=64) for i in range(CLIP_FRAMES)], 12)
    data = good.read_bytes()
    out = {"good": good}
    for name, payload in {"random_bytes": np.random.default_rng(0).bytes(4000), "zero_bytes": b"",
                          "truncated": data[: len(data) // 2]}.items():
        out[name] = root / f"{name}.mp4"
        out[name].write_bytes(payload)
    # an mp4 with its index at the end (as most cameras write them), then cut: the index is lost
    tail = root / "index_at_end.mp4"
    ffmpeg("-i", f"file:{good}", "-c", "copy", f"file:{tail}")
    out["truncated_index_at_end"] = root / "truncated_index_at_end.mp4"
    out["truncated_index_at_end"].write_bytes(tail.read_bytes()[: tail.stat().st_size // 2])
    tail.unlink()
    out["zero_frames"] = root / "zero_frames.mp4"  # ffmpeg writes a file with no video track
    ffmpeg("-i", f"file:{good}", "-c", "copy", "-frames:v", "0", f"file:{out['zero_frames']}")
    out["nothing_decodes"] = root / "nothing_decodes.mp4"  # packets, but an edit list that skips them all
    ffmpeg("-ss", "5", "-i", f"file:{good}", "-c", "copy", f"file:{out['nothing_decodes']}")
    return out


BROKEN_VIDEOS = ["random_bytes", "zero_bytes", "truncated_index_at_end", "zero_frames", "nothing_decodes"]


# ----------------------------------------------------------------------------------------- 1. corrupt images

@pytest.mark.parametrize("name,make", [
    ("random.png", lambda: np.random.default_rng(1).bytes(3000)),
    ("random.jpg", lambda: np.random.default_rng(2).bytes(3000)),
    ("empty.png", lambda: b""),
    ("text.jpg", lambda: b"not an image\n"),
    ("half.jpg", lambda: _encoded("JPEG")[: len(_encoded("JPEG")) // 2]),
    ("half.png", lambda: _encoded("PNG")[: len(_encoded("PNG")) // 2]),
])
def test_read_image_rejects_corrupt_and_truncated_files(tmp_path, name, make) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(ValueError, match=rf"cannot read image .*{name}"):
        read_image(path)


def test_read_image_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError, match="image not found: .*missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ValueError, match="folder.png is a directory, not an image file"):
        read_image(tmp_path / "folder.png")


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo("astronaut")).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("bad", ["random.png", "half.jpg"])
@pytest.mark.parametrize("command", ["reenact", "invert", "edit"])
def test_cli_rejects_corrupt_source_images(files, tmp_path, bad, command) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    source = tmp_path / bad
    source.write_bytes(np.random.default_rng(3).bytes(3000) if bad == "random.png" else
                       _encoded("JPEG")[: len(_encoded("JPEG")) // 2])
    out = tmp_path / "out"
    if command == "reenact":
        result = run(reenact, ["--source", source, "--driving", root / "driving.png", "--model", model,
                               "--no-align", "--no-progress", "-o", out])
    elif command == "edit":
        result = run(edit, ["--source", source, "--model", model, "--yaw", "10", "--no-align", "--no-progress",
                            "-o", tmp_path / "e.png"])
    else:
        result = run(invert, [source, "--generator", model / "generator.pt", "--encoder", model / "encoder.pt",
                              "--no-align", "--no-progress", "-o", out])
    assert_fails(result, EXIT_BAD_INPUT, "cannot read image", bad)
    assert names(tmp_path) == [bad]


def test_cli_rejects_a_corrupt_driving_image_in_a_folder(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    folder = tmp_path / "driving"
    folder.mkdir()
    shutil.copy(root / "driving.png", folder / "a.png")
    (folder / "b.jpg").write_bytes(_encoded("JPEG")[:500])
    result = run(reenact, ["--source", root / "source.png", "--driving", folder, "--model", model, "--no-align",
                           "--no-progress", "-o", tmp_path / "out"])
    assert_fails(result, EXIT_BAD_INPUT, "cannot read image", "b.jpg")
    assert names(tmp_path) == ["driving", "driving/a.png", "driving/b.jpg"]


# ----------------------------------------------------------------------------------------- 2. videos

@pytest.mark.parametrize("name", BROKEN_VIDEOS)
def test_broken_videos_raise_video_error(videos, name) -> None:  # type: ignore[no-untyped-def]
    path = videos[name]
    if name == "nothing_decodes":  # the container looks fine; decoding finds no frame
        probe_video(path)
        with pytest.raises(VideoError, match=f"no frame of .*{path.name} could be decoded"):
            list(iter_frames(path))
    else:
        with pytest.raises(VideoError, match=path.name):
            probe_video(path)
        with pytest.raises(VideoError, match=path.name):
            iter_frames(path)  # probed when called, before any frame is asked for
    with pytest.raises(FileNotFoundError, match="video file not found"):
        probe_video(path.with_name("missing.mp4"))


def test_truncated_video_yields_the_frames_that_decode(videos, caplog) -> None:  # type: ignore[no-untyped-def]
    """Documented (video.iter_frames): a file whose frames stop early yields what decodes and logs a warning."""
    assert len(list(iter_frames(videos["good"]))) == CLIP_FRAMES
    with caplog.at_level(logging.WARNING, logger="latentreenact.video"):
        info = probe_video(videos["truncated"])
        frames = list(iter_frames(videos["truncated"]))
    assert info.size == (64, 64) and 0 < len(frames) < CLIP_FRAMES
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert "looks damaged" in caplog.text and "truncated.mp4" in caplog.text


@pytest.mark.parametrize("name", BROKEN_VIDEOS)
def test_reenact_video_rejects_broken_videos_and_writes_nothing(  # type: ignore[no-untyped-def]
        tiny, videos, tmp_path, name) -> None:
    r, _, src = tiny
    with pytest.raises(VideoError, match=videos[name].name):
        r.reenact_video(src, videos[name], tmp_path / "out.mp4", align=False)
    assert names(tmp_path) == []


def test_reenact_video_from_a_truncated_clip_writes_the_decoded_frames(  # type: ignore[no-untyped-def]
        tiny, videos, tmp_path) -> None:
    r, _, src = tiny
    decoded = len(list(iter_frames(videos["truncated"])))
    summary = r.reenact_video(src, videos["truncated"], tmp_path / "out.mp4", align=False, batch_size=2)
    assert summary.frames == decoded and probe_video(tmp_path / "out.mp4").n_frames == decoded
    assert names(tmp_path) == ["out.mp4"]


@pytest.mark.parametrize("name", BROKEN_VIDEOS)
def test_cli_rejects_broken_driving_videos(files, videos, tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    result = run(reenact, ["--source", root / "source.png", "--driving", videos[name], "--model", model,
                           "--no-align", "--no-progress", "-o", tmp_path / "out.mp4"])
    assert_fails(result, EXIT_BAD_INPUT, videos[name].name)
    assert names(tmp_path) == []


def test_cli_interrupted_render_leaves_no_video(  # type: ignore[no-untyped-def]
        files, videos, tmp_path, monkeypatch) -> None:
    """Ctrl-C in the middle of encoding: exit 130, no output and no temporary file."""
    from latentreenact.reenactor import Reenactor

    root, model = files
    render, calls = Reenactor.render, []

    def interrupted(self, src, wplus):  # type: ignore[no-untyped-def]
        if len(wplus) != 2:  # the inversion's calibration and identity check, not a driving batch of 2
            return render(self, src, wplus)
        calls.append(len(wplus))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return render(self, src, wplus)

    monkeypatch.setattr(Reenactor, "render", interrupted)
    result = run(reenact, ["--source", root / "source.png", "--driving", videos["good"], "--model", model,
                           "--no-align", "--no-progress", "--batch-size", "2", "-o", tmp_path / "out.mp4"])
    assert_fails(result, EXIT_INTERRUPTED, "interrupted")
    assert calls == [2, 2, 2] and names(tmp_path) == []


# ----------------------------------------------------------------------------------------- 3. image modes

def _mode_images(folder: Path, base: np.ndarray) -> dict:
    """``base`` (uint8 RGB) saved in unusual modes; name -> (path, expected uint8 RGB by the documented rule)."""
    grey = np.asarray(Image.fromarray(base).convert("L"))
    out = {}

    def save(name: str, image: Image.Image, expected: np.ndarray) -> None:
        image.save(folder / name)
        out[name] = (folder / name, expected)

    save("grey.png", Image.fromarray(grey), np.repeat(grey[:, :, None], 3, axis=2))
    save("grey_alpha.png", Image.merge("LA", [Image.fromarray(grey), Image.new("L", grey.shape[::-1], 0)]),
         np.repeat(grey[:, :, None], 3, axis=2))
    # RGBA: alpha dropped, colour kept as stored (alpha 0 everywhere: compositing would give black or white)
    rgba = np.dstack([base, np.zeros(base.shape[:2], np.uint8)])
    save("rgba.png", Image.fromarray(rgba, "RGBA"), base)
    # 16-bit grey: v / 257 rounded; corner values probe the rounding (128 -> 0, 129 -> 1, 65535 -> 255)
    deep = grey.astype(np.uint16) * 257
    deep.flat[:4] = [128, 129, 25829, 65535]
    image16 = Image.fromarray(deep)
    assert image16.mode == "I;16"
    expected16 = np.round(deep.astype(np.float64) / 257).astype(np.uint8)
    assert list(expected16.flat[:4]) == [0, 1, 101, 255]
    save("grey16.png", image16, np.repeat(expected16[:, :, None], 3, axis=2))
    # palette (with a transparent index): the palette colours, transparency ignored
    palette = Image.fromarray(base).quantize(colors=16)
    palette.info["transparency"] = 0
    table = np.array(palette.getpalette()[:48], np.uint8).reshape(-1, 3)
    save("palette.png", palette, table[np.asarray(palette)])
    bits = grey > 100
    save("bilevel.png", Image.fromarray(bits), np.repeat(bits[:, :, None], 3, axis=2).astype(np.uint8) * 255)
    return out


def test_read_image_converts_unusual_modes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The rule of latentreenact/faces/image_input.py, checked on pixel values."""
    base = photo("astronaut")[40:104, 120:184]
    images = _mode_images(tmp_path, base)
    with Image.open(images["palette.png"][0]) as check:
        assert check.mode == "P" and "transparency" in check.info
    with Image.open(images["grey16.png"][0]) as check:
        assert check.mode == "I;16"
    for name, (path, expected) in images.items():
        array = read_image(path)
        assert array.dtype == np.uint8 and array.flags.c_contiguous and array.shape == base.shape, name
        assert np.array_equal(array, expected), name


def test_pil_images_follow_the_same_rule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A PIL image handed to the API converts as its file does (was: convert('RGB') first, which turned 16-bit
    grey white and float images black; found by the code review), and a float image ('F') is read in [0, 1]."""
    from latentreenact.faces import as_rgb_uint8

    base = photo("astronaut")[40:104, 120:184]
    for name, (path, expected) in _mode_images(tmp_path, base).items():
        with Image.open(path) as image:
            assert np.array_equal(as_rgb_uint8(image, name=name), expected), name
    grey = base[:, :, 1].astype(np.float32) / 255.0
    as_float = Image.fromarray(grey, mode="F")
    assert np.array_equal(as_rgb_uint8(as_float), np.repeat(base[:, :, 1:2], 3, axis=2))
    with pytest.raises(ValueError, match="read in \\[0, 1\\]"):
        as_rgb_uint8(Image.fromarray(grey * 255.0, mode="F"))


def test_unusual_modes_work_end_to_end(files, tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, _, _ = tiny
    root, model = files
    folder = tmp_path / "driving"
    folder.mkdir()
    images = _mode_images(folder, face(r.generator, 7))
    paths = [p for p, _ in images.values()]
    for path in paths:
        src = r.invert(path, align=False, tune="none")
        assert torch.isfinite(src.wplus).all() and np.array_equal(src.image, images[path.name][1])
    frames = r.reenact(src, paths, align=False)
    assert len(frames) == len(paths) and all(f.shape == (SIZE, SIZE, 3) for f in frames)
    result = run(reenact, ["--source", images["grey16.png"][0], "--driving", folder, "--model", model,
                           "--no-align", "--no-progress", "-o", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{p.stem}.png" for p in paths)


# ----------------------------------------------------------------------------------------- 4. tiny and huge images

def test_huge_image_is_rejected_before_decoding(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A PNG of under 100 bytes claiming 20000 x 20000 pixels (over PIL's decompression-bomb limit): it is
    refused from its header, nothing is decoded or allocated."""
    root, model = files
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(20000, 20000))
    assert bomb.stat().st_size < 100
    with pytest.raises(Image.DecompressionBombError):  # PIL refuses it at open, before reading pixel data
        Image.open(bomb)
    with pytest.raises(ValueError, match=r"cannot read image .*bomb\.png.*400000000 pixels"):
        read_image(bomb)
    result = run(reenact, ["--source", bomb, "--driving", root / "driving.png", "--model", model, "--no-progress",
                           "-o", tmp_path / "out.png"])
    assert_fails(result, EXIT_BAD_INPUT, "bomb.png", "exceeds limit")
    result = run(reenact, ["--source", root / "source.png", "--driving", bomb, "--model", model, "--no-align",
                           "--no-progress", "-o", tmp_path / "out.png"])
    assert_fails(result, EXIT_BAD_INPUT, "bomb.png")
    assert names(tmp_path) == ["bomb.png"]


@pytest.mark.parametrize("size", [1, 4])
def test_tiny_images_have_no_face(files, tiny, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    """1 and 4 px images read fine and have no face with every detector (dlib's MMOD network used to abort
    or corrupt memory on them)."""
    r, _, _ = tiny
    root, model = files
    path = tmp_path / "tiny.png"
    Image.fromarray(np.full((size, size, 3), 120, np.uint8)).save(path)
    image = read_image(path)
    assert image.shape == (size, size, 3)
    for detector in ("hog", "mmod", "yunet"):
        for upsample in (0, 1):
            with pytest.raises(NoFaceError, match="no face found in tiny"):
                find_face(image, detector=detector, name="tiny", upsample=upsample)
    with pytest.raises(NoFaceError, match="tiny.png"):
        r.invert(path, tune="none")
    for detector in ("hog", "mmod"):
        result = run(reenact, ["--source", path, "--driving", root / "driving.png", "--model", model,
                               "--detector", detector, "--no-progress", "-o", tmp_path / "out.png"])
        assert_fails(result, EXIT_BAD_INPUT, "no face found", "tiny.png")
    assert names(tmp_path) == ["tiny.png"]


# ----------------------------------------------------------------------------------------- 5. no face, several faces

def photo_file(folder: Path, name: str) -> Path:
    Image.fromarray(photo(name)).save(folder / f"{name}.png")
    return folder / f"{name}.png"


def test_photo_without_a_face(files, tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r, _, src = tiny
    root, model = files
    grey = np.full((240, 320, 3), 128, np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    with pytest.raises(NoFaceError, match="grey.png"):
        r.invert(tmp_path / "grey.png", tune="none")
    with pytest.raises(NoFaceError, match="driving image grey.png"):
        r.reenact(src, tmp_path / "grey.png")  # a single driving image must have a face
    result = run(reenact, ["--source", tmp_path / "grey.png", "--driving", root / "driving.png", "--model", model,
                           "--no-progress", "-o", tmp_path / "out.png"])
    assert_fails(result, EXIT_BAD_INPUT, "no face found", "grey.png")
    result = run(reenact, ["--source", photo_file(tmp_path, "astronaut"), "--driving", tmp_path / "grey.png",
                           "--model", model, "--no-progress", "-o", tmp_path / "out.png"])
    assert_fails(result, EXIT_BAD_INPUT, "no face", "grey.png")
    assert names(tmp_path) == ["astronaut.png", "grey.png"]


def test_several_faces_use_the_largest(tiny, caplog) -> None:  # type: ignore[no-untyped-def]
    """Documented (Reenactor.crop, find_face): the largest face, and one warning saying so. Canvas as in
    test_faces.py: the astronaut small on the left (x < 200), Obama large on the right (x >= 230)."""
    r, _, _ = tiny
    canvas = Image.new("RGB", (560, 360), (128, 128, 128))
    canvas.paste(Image.fromarray(photo("astronaut")).resize((200, 200), Image.LANCZOS), (0, 80))
    canvas.paste(Image.fromarray(photo("obama_portrait")), (230, 20))
    image = np.asarray(canvas)
    with caplog.at_level(logging.WARNING, logger="latentreenact.faces"):
        src = r.invert(image, name="two.png", tune="none")
    notes = [rec.getMessage() for rec in caplog.records if rec.name.startswith("latentreenact.faces")]
    assert notes == ["2 faces found in two.png; using the largest"], notes
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="latentreenact.faces"):
        r.measure([image, image], align=True)  # driving frames: no warning per frame
    assert not [rec for rec in caplog.records if rec.name.startswith("latentreenact.faces")]
    corners = src.transform @ np.array([[0, 0, 1], [SIZE, 0, 1], [0, SIZE, 1], [SIZE, SIZE, 1]], float).T
    assert (corners[0] / corners[2] > 200).all()  # the whole crop lies on the large face's side
    edited = r.edit(src, yaw=25, paste_back=True)
    assert edited.shape == image.shape
    assert np.array_equal(edited[:, :200], image[:, :200])  # the small face is untouched
    assert not np.array_equal(edited[:, 230:], image[:, 230:])


# ----------------------------------------------------------------------------------------- 6. NaN

def test_nan_latents_shifts_and_images(tiny) -> None:  # type: ignore[no-untyped-def]
    r, image, src = tiny
    dp = torch.zeros(1, r.spec.k)
    dp[0, 4] = math.nan
    with pytest.raises(ValueError, match="Δp contains NaN"):
        r.shift(src, dp)
    wplus = r.shift(src, torch.zeros(1, r.spec.k)).clone()
    wplus[0, 1, 2] = math.nan
    with pytest.raises(ValueError, match="W\\+ contains NaN"):
        r.render(src, wplus)
    with pytest.raises(ValueError, match="NaN"):
        r.edit(src, yaw=math.nan)
    bad = image.astype(np.float32) / 255
    bad[3, 4, 1] = math.nan
    with pytest.raises(ValueError, match="source: the image contains NaN"):
        r.invert(bad, align=False, tune="none")
    with pytest.raises(ValueError, match=r"driving\[1\]: the image contains NaN"):
        r.reenact(src, [image, bad], align=False)


def test_cli_nan_values(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    common = ["--source", root / "source.png", "--model", model, "--no-align", "--no-progress"]
    assert_fails(run(edit, common + ["--yaw", "nan", "-o", tmp_path / "e.png"]), EXIT_BAD_INPUT, "NaN")
    assert_usage_error(run(edit, common + ["--sweep", "yaw:nan:1:3", "-o", tmp_path / "e.png"]), "yaw:nan:1:3")
    assert_fails(run(reenact, common + ["--driving", root / "driving.png", "--truncation", "nan",
                                        "-o", tmp_path / "r.png"]), EXIT_BAD_INPUT, "truncation")
    assert names(tmp_path) == []


# ----------------------------------------------------------------------------------------- 7. checkpoints

KINDS = ["truncated", "cut_tail", "text", "empty", "unrelated_dict", "list"]
PARTS = ["generator.pt", "encoder.pt", "directions.pt"]


def _loader(part: str):  # type: ignore[no-untyped-def]
    from directions import DirectionMatrix
    from inversion import load_encoder
    from latentreenact.checkpoints.loading import load_generator

    return {"generator.pt": load_generator, "encoder.pt": load_encoder, "directions.pt": DirectionMatrix.load}[part]


@pytest.mark.parametrize("part", PARTS)
def test_loaders_reject_broken_checkpoints(files, tmp_path, part) -> None:  # type: ignore[no-untyped-def]
    _, model = files
    load = _loader(part)
    good = (model / part).read_bytes()
    load(model / part)  # the intact file loads
    for kind in KINDS:
        path = tmp_path / f"{kind}_{part}"
        path.write_bytes(damaged(kind, good))
        with pytest.raises(CheckpointFormatError, match=path.name):
            load(path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load(tmp_path / "missing.pt")


@pytest.mark.parametrize("part,key", [("generator.pt", "style.1.weight"), ("generator.pt", "latent_avg"),
                                      ("encoder.pt", None), ("directions.pt", "linear.weight")])
def test_loaders_reject_nan_weights(files, tmp_path, part, key) -> None:  # type: ignore[no-untyped-def]
    _, model = files
    payload = torch.load(model / part, weights_only=True)
    state = payload["state_dict"]
    key = key or next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone()
    state[key].view(-1)[0] = math.nan
    if key == "latent_avg":
        payload["has_latent_avg"] = True  # used as the truncation centre (was accepted with its NaN)
    torch.save(payload, tmp_path / part)
    with pytest.raises(CheckpointFormatError, match=rf"{part}: non-finite values \(NaN/Inf\) in .*"):
        _loader(part)(tmp_path / part)


@pytest.mark.parametrize("part", PARTS + ["net3d.pt", "reenactor.json"])
def test_from_pretrained_rejects_a_broken_model_directory(  # type: ignore[no-untyped-def]
        files, tmp_path, part) -> None:
    from latentreenact.reenactor import Reenactor

    root, model = files
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / part).write_bytes(damaged("truncated", (model / part).read_bytes()))
    with pytest.raises(CheckpointFormatError, match=f"broken/{part}"):
        Reenactor.from_pretrained(broken)
    result = run(reenact, ["--source", root / "source.png", "--driving", root / "driving.png", "--model", broken,
                           "--no-align", "--no-progress", "-o", tmp_path / "out.png"])
    assert_fails(result, EXIT_BAD_CHECKPOINT, part)
    (broken / part).unlink()
    if part != "reenactor.json":  # without reenactor.json the directory defaults apply (and are all there)
        with pytest.raises(FileNotFoundError, match=part.split(".")[0]):
            Reenactor.from_pretrained(broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


def test_cli_checkpoint_errors(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, model = files
    for kind in ("truncated", "unrelated_dict", "text"):
        for part in ("generator.pt", "encoder.pt"):
            (tmp_path / part).write_bytes(damaged(kind, (model / part).read_bytes()))
        result = run(invert, [root / "source.png", "--generator", tmp_path / "generator.pt", "--no-align",
                              "--no-progress", "-o", tmp_path / "out"])
        assert_fails(result, EXIT_BAD_CHECKPOINT, "generator.pt")
        result = run(invert, [root / "source.png", "--generator", model / "generator.pt", "--encoder",
                              tmp_path / "encoder.pt", "--no-align", "--no-progress", "-o", tmp_path / "out"])
        assert_fails(result, EXIT_BAD_CHECKPOINT, "encoder.pt")
    result = run(invert, [root / "source.png", "--generator", tmp_path / "none.pt", "--no-align", "--no-progress",
                          "-o", tmp_path / "out"])
    assert_fails(result, EXIT_NOT_FOUND, "none.pt")
    result = run(edit, ["--source", root / "source.png", "--model", tmp_path / "no_model", "--yaw", "5",
                        "--no-progress", "-o", tmp_path / "e.png"])
    assert_fails(result, EXIT_NOT_FOUND, "no_model")
    json_only = tmp_path / "json_only"
    json_only.mkdir()
    (json_only / "reenactor.json").write_text(json.dumps({"generator": "g.pt", "decoder": "d.pt"}))
    result = run(edit, ["--source", root / "source.png", "--model", json_only, "--yaw", "5", "--no-progress",
                        "-o", tmp_path / "e.png"])
    assert_fails(result, EXIT_BAD_CHECKPOINT, "unknown entries", "decoder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder.pt", "generator.pt", "json_only"]


# ----------------------------------------------------------------------------------------- 8. interrupted training

def _tiny_components():  # type: ignore[no-untyped-def]
    """A tiny generator, the fake estimator and the shape losses: what the training-interruption tests train."""
    from directions.losses import ShapeLosses
    from directions.train import Components
    from helpers import tiny_generator
    from latentreenact.shape3d import LinearShapeModel
    from test_directions_train import SPEC, FakeEstimator

    return Components(tiny_generator(size=16, style_dim=8), FakeEstimator(),
                      ShapeLosses(LinearShapeModel.load(), dense=False), SPEC, "bfm",
                      identity=lambda x, y: (x - y).square().mean(dim=(1, 2, 3)), perceptual=None)


def _cut_run(tmp_path, monkeypatch, at_step_4):  # type: ignore[no-untyped-def]
    """Train a full 6-step run (checkpoints every 2 steps) and a second run in ``cut`` in which ``at_step_4()`` is
    called during step 4 (it is expected to stop the run with KeyboardInterrupt): ``(components, config, steps
    begun in the cut run)``."""
    import directions.train as train_module
    from directions.train import train_directions
    from test_directions_train import _cfg

    comp, cfg = _tiny_components(), _cfg(checkpoint_every=2)  # 6 steps, evaluations at 3 and 6
    train_directions(comp, tmp_path / "full", cfg)
    step_losses, calls = train_module.train_step_losses, []

    def step(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 4:
            at_step_4()
        return step_losses(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step_losses", step)
    with pytest.raises(KeyboardInterrupt):
        train_directions(comp, tmp_path / "cut", cfg)
    monkeypatch.undo()
    return comp, cfg, calls


def _resumes_to_the_full_run(tmp_path, comp, cfg) -> None:  # type: ignore[no-untyped-def]
    from directions import DirectionMatrix
    from directions.train import train_directions

    cut = tmp_path / "cut"
    train_directions(comp, cut, cfg, resume=True)
    a = DirectionMatrix.load(tmp_path / "full" / "A.pt").state_dict()
    b = DirectionMatrix.load(cut / "A.pt").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (cut / "metrics.jsonl").read_text()


def test_directions_training_killed_between_checkpoints_resumes_exactly(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch) -> None:
    """A KeyboardInterrupt after the step-3 evaluation (logged) but before the step-4 checkpoint (the last
    is step 2): resuming drops the step-3 records and ends bit-identical to an uninterrupted run. The clean
    ``stop_after`` stop is covered by test_directions_train.py::test_resume_is_bit_identical."""
    def killed() -> None:
        raise KeyboardInterrupt

    comp, cfg, _ = _cut_run(tmp_path, monkeypatch, killed)
    cut = tmp_path / "cut"
    assert torch.load(cut / "checkpoint.pt", weights_only=True)["step"] == 2 and not (cut / "A.pt").exists()
    assert any(json.loads(line)["step"] == 3 for line in (cut / "metrics.jsonl").read_text().splitlines())
    _resumes_to_the_full_run(tmp_path, comp, cfg)


def test_ctrl_c_in_training_saves_the_step_it_finishes(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A real SIGINT during step 4 (checkpoints every 2 steps would keep step 2): the loop finishes step 4, saves
    the run state there and stops with KeyboardInterrupt; resuming ends bit-identical to an uninterrupted run. Was:
    the steps since the last checkpoint lost (found by the bug hunt, session 20)."""
    import os
    import signal

    comp, cfg, calls = _cut_run(tmp_path, monkeypatch, lambda: os.kill(os.getpid(), signal.SIGINT))
    assert len(calls) == 4 and torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"] == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back
    _resumes_to_the_full_run(tmp_path, comp, cfg)


@pytest.mark.parametrize("case", ["ignored", "last step"])
def test_ctrl_c_that_should_not_stop_training(tmp_path, monkeypatch, case) -> None:  # type: ignore[no-untyped-def]
    """SIGINT ignored (a job started with '&' by a script): the run goes on to the end, and the ignoring stays. A
    Ctrl-C during the last step: the run completes and writes its outputs (was: both stopped with
    KeyboardInterrupt, the last one after saving the state but without A.pt; found by the code review)."""
    import os
    import signal

    import directions.train as train_module
    from directions.train import train_directions
    from test_directions_train import _cfg

    comp, cfg = _tiny_components(), _cfg(checkpoint_every=2)  # 6 steps
    at = 4 if case == "ignored" else 6
    step_losses, calls = train_module.train_step_losses, []

    def step(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == at:
            os.kill(os.getpid(), signal.SIGINT)
        return step_losses(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step_losses", step)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if case == "ignored" else None
    try:
        train_directions(comp, tmp_path / "run", cfg)
        assert signal.getsignal(signal.SIGINT) is (signal.SIG_IGN if case == "ignored" else signal.default_int_handler)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    assert len(calls) == 6 and (tmp_path / "run" / "A.pt").is_file()


def test_cli_unwritable_output_is_one_line_exit_7(files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An output path through an existing file: an OSError that is not 'not found' -> exit 7, one line."""
    from latentreenact.cli.errors import EXIT_IO

    root, model = files
    blocker = tmp_path / "file.txt"
    blocker.write_text("in the way")
    result = run(edit, ["--source", root / "source.png", "--model", model, "--yaw", "10", "--no-align",
                        "--no-progress", "-o", blocker / "e.png"])
    assert_fails(result, EXIT_IO, "file.txt")
    assert names(tmp_path) == ["file.txt"] and blocker.read_text() == "in the way"
