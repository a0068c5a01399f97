"""The demo's session layer (``demo.session``, no Gradio needed) on the tiny reenactor with the bundled
example photo and driving clip: limits, caching (one detection per upload), outputs, edits, errors in
our words, the time limit, concurrent requests, pruning and clean-up."""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.deadline import Deadline
from demo.outputs import OutputFolders
from demo.session import DemoClosedError, DemoInputError, DemoLimits, DemoSession, DemoTimeoutError
from latentreenact.examples import example_path
from latentreenact.video import iter_frames, probe_video, write_video
from tiny_reenactor import SIZE, tiny_reenactor

pytestmark = pytest.mark.usefixtures("one_thread")

SOURCE = example_path("astronaut")
DRIVING = example_path("smile")


@pytest.fixture()
def session(tmp_path):  # type: ignore[no-untyped-def]
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=6, max_upload_mb=1), workdir=tmp_path / "work", default_tune="none")
    yield s
    s.close()


def test_bundled_examples() -> None:
    info = probe_video(DRIVING)
    assert info.n_frames == 72 and info.has_audio and info.size == (256, 256)
    assert SOURCE.stat().st_size < 100_000
    with pytest.raises(KeyError, match="astronaut"):
        example_path("nope")


def test_reenact_writes_result_and_side_by_side(session) -> None:  # type: ignore[no-untyped-def]
    result = session.reenact(str(SOURCE), str(DRIVING), smoothing=0.5, paste_back=True)
    assert result.frames == 6 and "6 frames" in result.summary
    assert any("72 frames" in note and "first 6" in note for note in result.notes)
    video, pair = probe_video(result.video), probe_video(result.side_by_side)
    assert video.n_frames == pair.n_frames == 6 and abs(video.fps - 23.976) < 0.01
    assert video.has_audio and pair.has_audio
    assert video.size == (320, 320)  # pasted back into the 320 px source photo
    assert pair.size[1] == 320 and pair.size[0] > 320  # [driving | result]
    first = next(iter_frames(result.video)).astype(float)
    first_pair = next(iter_frames(result.side_by_side)).astype(float)
    assert np.abs(first_pair[:, -320:] - first).mean() < 6.0  # the right half is the result (codec noise aside)
    face_only = session.reenact(str(SOURCE), str(DRIVING), paste_back=False)
    assert probe_video(face_only.video).size == (SIZE, SIZE)
    assert "source inverted (none) in" in result.summary
    assert "source inverted (none) earlier (cached)" in face_only.summary
    assert any("another person" in note for note in result.notes)  # the tiny model renders no face: said so
    assert face_only.video.parent != result.video.parent  # one folder per request


def test_a_large_photo_keeps_its_result_whole(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Was: the result cut from the [driving | result] frame by the photo's width, after the frame had been scaled
    to 1920 px: a 1024 px photo gave 1024 x 960 results with a strip of the driving clip (found by the bug hunt,
    session 20)."""
    big = tmp_path / "big.png"
    Image.open(SOURCE).resize((1024, 1024), Image.LANCZOS).save(big)
    result = session.reenact(str(big), str(DRIVING), paste_back=True)
    assert probe_video(result.video).size == (1024, 1024)
    width, height = probe_video(result.side_by_side).size
    assert width <= 1920 and height < 1024  # the pair within the output bound, its halves scaled together
    first, pair = next(iter_frames(result.video)), next(iter_frames(result.side_by_side))
    small = np.asarray(Image.fromarray(first).resize((pair.shape[0], pair.shape[0]), Image.BILINEAR)).astype(float)
    assert np.abs(pair[:, -pair.shape[0]:].astype(float) - small).mean() < 8.0  # its right part is the result


def test_inputs_are_checked(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DemoInputError, match="upload a source image"):
        session.reenact(None, str(DRIVING))
    with pytest.raises(DemoInputError, match="upload a driving video"):
        session.reenact(str(SOURCE), None)
    with pytest.raises(DemoInputError, match="not a video file"):
        session.reenact(str(SOURCE), str(SOURCE))
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (2 * 2**20))
    with pytest.raises(DemoInputError, match="at most 1 MB"):
        session.reenact(str(SOURCE), str(big))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"not a video at all" * 100)
    with pytest.raises(DemoInputError, match="driving video could not be read"):
        session.reenact(str(SOURCE), str(corrupt))
    with pytest.raises(DemoInputError, match="smoothing"):
        session.reenact(str(SOURCE), str(DRIVING), smoothing=1.0)
    with pytest.raises(DemoInputError, match="inversion recipe"):
        session.source(str(SOURCE), tune="fast")
    with pytest.raises(DemoInputError, match="tuning steps"):
        session.source(str(SOURCE), tune="released", tune_steps=10_000)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(DemoInputError, match="not an image this demo can read"):
        session.preview(str(text))
    with pytest.raises(DemoInputError, match="no face found in the source image"):
        session.preview(np.full((64, 64, 3), 128, np.uint8))
    small = DemoSession(tiny_reenactor, DemoLimits(max_image_pixels=1000), workdir=tmp_path / "small", default_tune="none")
    with pytest.raises(DemoInputError, match="megapixels"):
        small.preview(str(SOURCE))
    with pytest.raises(ValueError, match="max_frames"):
        DemoLimits(max_frames=0)
    assert not list((tmp_path / "work").glob("run-*"))  # no failed request left a folder


def test_preview_and_source_cache(session) -> None:  # type: ignore[no-untyped-def]
    crop = session.preview(str(SOURCE))
    assert crop.shape == (SIZE, SIZE, 3) and crop.dtype == np.uint8
    calls = []
    invert = session.reenactor.invert
    session.reenactor.invert = lambda *a, **k: calls.append(k) or invert(*a, **k)
    first = session.source(str(SOURCE))
    assert session.source(str(SOURCE)) is first and len(calls) == 1
    from latentreenact.faces import read_image

    assert session.source(read_image(SOURCE)) is first  # same pixels, same cache entry
    tuned = session.source(str(SOURCE), tune="pti", tune_steps=2)
    assert tuned is not first and len(calls) == 2 and tuned.generator is not first.generator


def test_edit(session) -> None:  # type: ignore[no-untyped-def]
    names = session.expression_names()
    assert names == [f"exp_{i}" for i in range(10)]
    low, high = session.expression_range("exp_0")
    assert high > low
    still = session.edit(str(SOURCE))
    assert still.shape == (SIZE, SIZE, 3)
    np.testing.assert_array_equal(still, session.reenactor.render_source(session.source(str(SOURCE))))
    assert np.abs(session.edit(str(SOURCE), yaw=20.0).astype(int) - still).max() > 0
    assert np.abs(session.edit(str(SOURCE), expression={"exp_3": 1.0}).astype(int) - still).max() > 0
    assert session.edit(str(SOURCE), yaw=5.0, paste_back=True).shape == (320, 320, 3)
    with pytest.raises(DemoInputError, match="unknown expression"):
        session.edit(str(SOURCE), expression={"smile": 1.0})
    with pytest.raises(DemoInputError, match="unknown expression"):
        session.expression_range("yaw")
    with pytest.raises(DemoInputError, match="limited to ±90 degrees"):  # was a plain ValueError (session 20)
        session.edit(str(SOURCE), yaw=100.0)


def test_extra_photos_are_tuned_jointly(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mirrored = tmp_path / "mirrored.png"
    Image.open(SOURCE).transpose(Image.FLIP_LEFT_RIGHT).save(mirrored)
    calls = []
    invert = session.reenactor.invert
    session.reenactor.invert = lambda *a, **k: calls.append(k) or invert(*a, **k)
    single = session.source(str(SOURCE), tune="pti", tune_steps=1)
    joint = session.source(str(SOURCE), tune="pti", tune_steps=1, extras=[str(mirrored)])
    assert joint is not single and joint.info["photos"] == 2 and single.info.get("photos", 1) == 1
    assert len(calls[1]["also"]) == 1 and calls[1]["also_landmarks"][0].shape == (68, 2)  # detected once, here
    assert session.source(str(SOURCE), tune="pti", tune_steps=1, extras=[str(mirrored)]) is joint  # cached
    assert session.source(str(SOURCE), tune="pti", tune_steps=1, extras=[None, ""]) is single  # empty slots
    result = session.reenact(str(SOURCE), str(DRIVING), tune="pti", tune_steps=1, extras=[str(mirrored)])
    assert "tuned jointly on 2 photos" in result.summary and len(calls) == 2
    with pytest.raises(DemoInputError, match="used only by tuning"):
        session.source(str(SOURCE), tune="none", extras=[str(mirrored)])
    with pytest.raises(DemoInputError, match="at most 3 extra photos"):
        session.source(str(SOURCE), tune="pti", extras=[str(mirrored)] * 4)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), "white").save(blank)
    with pytest.raises(DemoInputError, match="no face found in the extra photo 1"):
        session.source(str(SOURCE), tune="pti", tune_steps=1, extras=[str(blank)])


def test_concurrent_requests(session) -> None:  # type: ignore[no-untyped-def]
    results, errors = [], []

    def run() -> None:
        try:
            results.append(session.reenact(str(SOURCE), str(DRIVING)))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and len(results) == 3
    assert len({r.video for r in results}) == 3
    assert all(probe_video(r.video).n_frames == 6 for r in results)


def test_a_clip_removed_mid_request_is_said_in_our_words(session, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The driving upload removed while the request runs: our one-line message, no server path (was: a raw
    FileNotFoundError naming the upload's path; found by the live hunt, session 21)."""
    import demo.session as session_module

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(DRIVING.read_bytes())
    measured = session_module.video_frames

    def removed_after_measuring(*args, **kwargs):  # type: ignore[no-untyped-def]
        track, frames = measured(*args, **kwargs)
        clip.unlink()
        return track, frames

    monkeypatch.setattr(session_module, "video_frames", removed_after_measuring)
    with pytest.raises(DemoInputError, match="no longer on the server") as info:
        session.reenact(str(SOURCE), str(clip))
    assert str(tmp_path) not in str(info.value)
    assert not list(session.workdir.glob("run-*"))


def test_failed_render_leaves_no_output(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    session.source(str(SOURCE))

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(session.reenactor, "render", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        session.reenact(str(SOURCE), str(DRIVING))
    assert not list(session.workdir.glob("run-*"))  # the failed request's folder is gone


def test_old_outputs_are_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=2), workdir=tmp_path, keep_outputs_s=0.0, default_tune="none")
    first = s.reenact(str(SOURCE), str(DRIVING))
    assert first.video.is_file()
    second = s.reenact(str(SOURCE), str(DRIVING))
    assert second.video.is_file() and not first.video.parent.exists()


def test_temporary_workdir_is_removed_on_close() -> None:
    s = DemoSession(tiny_reenactor, default_tune="none")
    folder = Path(s.workdir)
    assert folder.is_dir()
    s.close()
    assert not folder.exists()


def test_demo_command_without_gradio(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    from click.testing import CliRunner

    from latentreenact.cli.demo import demo
    from latentreenact.cli.errors import EXIT_MISSING_EXTRA

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    result = CliRunner().invoke(demo, [])
    assert result.exit_code == EXIT_MISSING_EXTRA and "pip install 'latentreenact[demo]'" in result.output


# ----------------------------------------------------------------------------- our words for bad uploads

def header_only_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels but holds almost no data: what a
    decompression bomb looks like to a reader that checks the header before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def refused(call, match: str, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    """``call()`` raises our DemoInputError matching ``match``, in one line, naming no server path."""
    with pytest.raises(DemoInputError, match=match) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and os.sep not in message and str(tmp_path) not in message
    assert "--" not in message  # no CLI advice
    return message


def test_bad_uploads_get_our_one_line_message(session, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.txt"
    text.write_text("not an image, just text\n" * 10)
    refused(lambda: session.preview(str(text)), "not an image this demo can read", tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    refused(lambda: session.preview(str(empty)), "empty", tmp_path)
    refused(lambda: session.preview(str(tmp_path / "gone.png")), "no longer on the server", tmp_path)
    # pixel limits from the header: decoding these would fail as "not an image" instead
    bomb = header_only_png(tmp_path / "bomb.png", 100_000, 100_000)  # past PIL's own bomb limit
    refused(lambda: session.preview(str(bomb)), "more than 24 megapixels", tmp_path)
    large = header_only_png(tmp_path / "large.png", 6000, 5000)  # 30 MP: past the demo's limit only
    refused(lambda: session.preview(str(large)), "more than 24 megapixels", tmp_path)
    refused(lambda: session.preview(np.zeros((5000, 6000), np.uint8)), "more than 24 megapixels", tmp_path)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(blank)
    import demo.session
    import latentreenact.faces.detection as detection

    detections = []
    detect = detection.detect_faces
    monkeypatch.setattr(detection, "detect_faces", lambda *a, **k: detections.append(1) or detect(*a, **k))
    refused(lambda: session.preview(str(blank)), "no face found in the source image", tmp_path)
    refused(lambda: session.edit(str(blank), yaw=5.0), "no face found in the source image", tmp_path)
    assert len(detections) == 1  # the refusal is remembered too
    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(b"\0\0\0\x18ftypmp42" + b"garbage" * 200)
    refused(lambda: session.reenact(str(SOURCE), str(corrupt)), "driving video could not be read", tmp_path)
    refused(lambda: session.reenact(str(SOURCE), str(text)), "not a video file", tmp_path)
    dark = tmp_path / "dark.mp4"
    write_video(dark, [np.zeros((32, 32, 3), np.uint8)] * 3, 10)
    refused(lambda: session.reenact(str(SOURCE), str(dark)), "no face found in the driving video", tmp_path)
    assert not list(session.workdir.glob("run-*"))  # no failed request left a folder


def test_one_detection_and_one_decode_per_upload(session, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    import demo.uploads
    import latentreenact.faces.detection as detection

    detections, decodes = [], []
    detect, read = detection.detect_faces, demo.uploads.read_image
    monkeypatch.setattr(detection, "detect_faces", lambda *a, **k: detections.append(1) or detect(*a, **k))
    monkeypatch.setattr(demo.uploads, "read_image", lambda *a, **k: decodes.append(1) or read(*a, **k))
    crop = session.preview(str(SOURCE))
    session.source(str(SOURCE))
    session.edit(str(SOURCE), yaw=10.0)
    session.edit(str(SOURCE), pitch=5.0, tune="pti", tune_steps=1)  # a new inversion, the same detection
    copy = tmp_path / "renamed.png"
    shutil.copy(SOURCE, copy)  # the same content under another name: a cache hit
    np.testing.assert_array_equal(session.preview(str(copy)), crop)
    assert len(detections) == 1 and len(decodes) == 1
    session.reenact(str(SOURCE), str(DRIVING))  # the driving frames are detected, the source is not again
    assert len(decodes) == 1 and len(detections) == 1 + 6


def test_large_photos_are_worked_at_max_side(tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.png"
    Image.open(SOURCE).resize((640, 640)).save(big)
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=2, max_side=400), workdir=tmp_path / "work", default_tune="none")
    result = s.reenact(str(big), str(DRIVING))
    assert probe_video(result.video).size == (400, 400)
    assert any("scaled down to 400 px" in note for note in result.notes)
    s.close()


def test_several_faces_are_said_on_the_page(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Was: the largest of several faces taken without a word (the command line warns; session 20)."""
    two = tmp_path / "two.png"
    photo = np.asarray(Image.open(SOURCE).convert("RGB"))
    Image.fromarray(np.concatenate([photo, photo], axis=1)).save(two)
    result = session.reenact(str(two), str(DRIVING))
    assert any("faces found in the source image; the largest is used" in note for note in result.notes), \
        result.notes


# ----------------------------------------------------------------------------- the time limit

def ticking_deadline(seconds: float):  # type: ignore[no-untyped-def]
    """A deadline whose clock moves one second per look."""
    ticks = itertools.count()
    return lambda: Deadline(seconds, clock=lambda: float(next(ticks)))


def test_deadline() -> None:
    now = [0.0]
    deadline = Deadline(10.0, clock=lambda: now[0])
    deadline.check()
    now[0] = 10.5
    assert deadline.remaining() == pytest.approx(-0.5)
    with pytest.raises(DemoTimeoutError, match="time limit of 10 s"):
        deadline.check()
    seen = []
    with pytest.raises(DemoTimeoutError):
        for item in Deadline(3.0, clock=lambda: float(len(seen))).each(range(100)):
            seen.append(item)
    assert len(seen) == 4  # stopped, not run to the end
    closed = [False]
    stopping = Deadline(None, closed=lambda: closed[0])
    stopping.check()
    closed[0] = True
    with pytest.raises(DemoClosedError, match="shutting down"):
        stopping.check()


def test_time_limit_stops_the_frames(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=60), workdir=tmp_path / "work", default_tune="none")
    s.source(str(SOURCE))
    aligned = []
    real = s.reenactor.meter.aligned
    monkeypatch.setattr(s.reenactor.meter, "aligned", lambda *a, **k: aligned.append(1) or real(*a, **k))
    monkeypatch.setattr(s, "deadline", ticking_deadline(10.0))
    message = refused(lambda: s.reenact(str(SOURCE), str(DRIVING)), "time limit of 10 s", tmp_path)
    assert "stopped" in message and 0 < len(aligned) <= 10  # the work stopped ten frames in, not at 60
    assert not list(s.workdir.glob("run-*"))
    s.close()


def test_time_limit_stops_the_tuning(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import inversion.pti

    steps = []
    render = inversion.pti.render_with_noise
    monkeypatch.setattr(inversion.pti, "render_with_noise", lambda *a, **k: steps.append(1) or render(*a, **k))
    monkeypatch.setattr(session, "deadline", ticking_deadline(10.0))
    with pytest.raises(DemoTimeoutError):
        session.edit(str(SOURCE), tune="pti", tune_steps=300)
    assert 0 < len(steps) < 15


def test_time_limit_in_real_time(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=30, time_limit_s=1.0), workdir=tmp_path / "work", default_tune="none")
    s.source(str(SOURCE))
    real = s.reenactor.meter.aligned

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.25)
        return real(*args, **kwargs)

    monkeypatch.setattr(s.reenactor.meter, "aligned", slow)
    start = time.monotonic()
    with pytest.raises(DemoTimeoutError):
        s.reenact(str(SOURCE), str(DRIVING))
    assert time.monotonic() - start < 3.0  # 30 slow frames would take 7.5 s
    s.close()
    with pytest.raises(DemoClosedError):  # a closed session stops new work
        s.preview(str(SOURCE))


# ----------------------------------------------------------------------------- files

def test_outputs_pruned_by_age_and_count(tmp_path) -> None:  # type: ignore[no-untyped-def]
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    folders = OutputFolders(tmp_path, keep_s=100.0, max_count=3, every_s=None, uploads=uploads)
    now = time.time()
    made = []
    for age in (500, 50, 40, 30, 20):  # oldest first
        with folders.new() as folder:
            made.append(folder)
        os.utime(folder, (now - age, now - age))
    (uploads / "old").mkdir()
    os.utime(uploads / "old", (now - 500, now - 500))
    (uploads / "new.png").write_bytes(b"x")
    with folders.new() as running:  # making a folder prunes the others first
        assert running.is_dir()
        folders.prune(now)
        assert running.is_dir()  # a folder in use is never pruned
    # too old (500 s), then beyond the newest 3 counting the one in use
    assert [f.exists() for f in made] == [False, False, False, True, True]
    assert not (uploads / "old").exists() and (uploads / "new.png").exists()
    os.utime(made[3], (now - 200, now - 200))
    assert folders.prune(now) == [made[3]]  # by age alone
    with pytest.raises(ZeroDivisionError):
        with folders.new() as failed:
            (failed / "partial.mp4").write_bytes(b"x")
            1 / 0
    assert not failed.exists()  # a failed request's folder goes at once


def test_uploads_in_use_are_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An upload a request used within keep_s stays, however old the file (was: a live stream died keep_s after its
    photo's upload; found by the live hunt, session 21); the file's own time is not changed."""
    uploads = tmp_path / "uploads"
    (uploads / "abc").mkdir(parents=True)
    photo = uploads / "abc" / "photo.png"
    photo.write_bytes(b"x")
    now = time.time()
    for path in (photo, uploads / "abc"):
        os.utime(path, (now - 500, now - 500))
    folders = OutputFolders(tmp_path, keep_s=100.0, every_s=None, uploads=uploads)
    folders.mark_used(photo, now=now - 50)
    folders.mark_used(tmp_path / "elsewhere.png")  # not an upload: nothing to keep
    assert folders.prune(now) == [] and photo.exists() and photo.stat().st_mtime < now - 400
    assert folders.prune(now + 60) == [uploads / "abc"] and not photo.exists()  # unused for 110 s


def test_outputs_pruned_on_a_timer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folders = OutputFolders(tmp_path, keep_s=0.2, max_count=10, every_s=0.1)
    try:
        with folders.new() as folder:
            pass
        deadline = time.monotonic() + 5.0
        while folder.exists() and time.monotonic() < deadline:  # no new request: the timer removes it
            time.sleep(0.05)
        assert not folder.exists()
    finally:
        folders.close()


def test_close_removes_everything(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=2), temp_root=root, default_tune="none")
    assert s.workdir.parent == root and s.upload_dir.is_dir()
    result = s.reenact(str(SOURCE), str(DRIVING))
    (s.upload_dir / "upload.png").write_bytes(b"x")
    assert result.video.is_file()
    s.close()
    assert root.is_dir() and not any(root.iterdir())
    given = tmp_path / "given"
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=2), workdir=given, default_tune="none")
    s.reenact(str(SOURCE), str(DRIVING))
    (given / "keep.txt").write_text("not ours")
    s.close()
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]  # ours removed, the folder and others kept


def test_live_step_needs_a_prepared_source_and_keeps_one_reenactor_per_source(session) -> None:  # type: ignore[no-untyped-def]
    from demo.live import live_step

    frames = list(iter_frames(DRIVING, 3))
    with pytest.raises(DemoInputError, match="upload a source photo"):
        live_step(session, None, frames[0], None, "none", None, False)
    with pytest.raises(DemoInputError, match="prepare the source first"):
        live_step(session, None, frames[0], str(SOURCE), "none", None, False)
    image, line, none = live_step(session, None, None, str(SOURCE), "none", None, False)
    assert image is None and none is None and "waiting for the camera" in line
    with pytest.raises(DemoInputError, match="camera frame is not an RGB"):
        live_step(session, None, np.zeros((4, 4, 7), np.uint8), str(SOURCE), "none", None, False)
    session.source(str(SOURCE))  # Prepare
    image, line, state = live_step(session, None, frames[0], str(SOURCE), "none", None, False)
    assert image.shape == (SIZE, SIZE, 3) and state.frames == 1 and "face found in 1 of 1 frames" in line
    for frame in frames[1:]:
        image, line, again = live_step(session, state, frame, str(SOURCE), "none", None, False)
        assert again is state
    assert state.frames == 3 and "frames/s shown" in line and "ms per frame" in line
    _, _, pasted = live_step(session, state, frames[0], str(SOURCE), "none", None, True)  # new settings: new stream
    assert pasted is not state and pasted.frames == 1 and pasted.live.paste_back
    assert pasted.live.follow_eyes is None and pasted.live.follow_mouth is None  # where the model can (default)
    _, _, shut = live_step(session, pasted, frames[0], str(SOURCE), "none", None, True, follow_mouth=False)
    assert shut is not pasted and shut.live.follow_mouth is False and shut.live.follow_eyes is None


def test_prepared_source_files(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Save prepared source writes a .lrsource file; uploaded as the source, it is loaded (no inversion) and
    renders exactly what the photo's source rendered, in every tab; bad files are refused in our words."""
    from demo.live import live_step

    saved = session.save_prepared(str(SOURCE), tune="pti", tune_steps=1)
    assert saved.suffix == ".lrsource" and saved.is_file() and saved.parent.parent == session.workdir
    original = session.source(str(SOURCE), tune="pti", tune_steps=1)
    upload = tmp_path / "upload.lrsource"
    shutil.copyfile(saved, upload)

    other = DemoSession(tiny_reenactor, DemoLimits(max_frames=6, max_upload_mb=1), workdir=tmp_path / "other",
                        default_tune="none")
    try:
        calls = []
        invert = other.reenactor.invert
        other.reenactor.invert = lambda *a, **k: calls.append(k) or invert(*a, **k)
        loaded = other.source(str(upload), tune="released")  # the file's own tuning; the setting does not apply
        assert calls == [] and loaded.info["recipe"] == "pti" and other.source(str(upload)) is loaded  # cached
        np.testing.assert_array_equal(other.preview(str(upload)), original.crop)
        np.testing.assert_array_equal(other.edit(str(upload), yaw=10.0),
                                      session.edit(str(SOURCE), yaw=10.0, tune="pti", tune_steps=1))
        result = other.reenact(str(upload), str(DRIVING))
        assert result.frames == 6 and "inverted (pti)" in result.summary
        assert any("own inversion was used" in n for n in result.notes)
        image, _, state = live_step(other, None, next(iter_frames(DRIVING, 1)), str(upload), "none", None, False)
        assert image.shape == (SIZE, SIZE, 3) and state is not None  # no Prepare needed for a prepared file
        with pytest.raises(DemoInputError, match="already tuned; extra photos"):
            other.source(str(upload), extras=[str(SOURCE)])
        assert calls == []

        damaged = tmp_path / "damaged.lrsource"
        damaged.write_bytes(upload.read_bytes()[:5000])
        with pytest.raises(DemoInputError, match="prepared source file cannot be used") as err:
            other.source(str(damaged))
        assert str(tmp_path) not in str(err.value)
        empty = tmp_path / "empty.lrsource"
        empty.write_bytes(b"")
        with pytest.raises(DemoInputError, match="empty"):
            other.preview(str(empty))
    finally:
        other.close()

    narrow = DemoSession(tiny_reenactor, DemoLimits(max_frames=6, max_upload_mb=1, max_side=16),
                         workdir=tmp_path / "narrow", default_tune="none")
    try:  # a prepared photo beyond this demo's max_side is used as it is, with a note
        height, width = original.image.shape[:2]
        assert max(height, width) > 16
        notes = narrow.reenact(str(upload), str(DRIVING)).notes
        assert any(f"photo is {width}x{height} px, larger than the 16 px" in n for n in notes), notes
    finally:
        narrow.close()

    foreign = DemoSession(lambda: tiny_reenactor(bias=0.5), DemoLimits(max_frames=6, max_upload_mb=1),
                          workdir=tmp_path / "foreign", default_tune="none")
    try:
        with pytest.raises(DemoInputError, match="prepared with other models") as err:
            foreign.source(str(upload))
        assert str(tmp_path) not in str(err.value)
    finally:
        foreign.close()
