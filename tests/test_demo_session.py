"""The demo's session layer (``demo.session``, no Gradio needed) on the tiny reenactor with the bundled
example photo and driving clip: limits, caching, outputs, edits, errors, concurrent requests."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from demo.session import DemoInputError, DemoLimits, DemoSession
from latentreenact.examples import example_path
from latentreenact.faces import NoFaceError
from latentreenact.video import VideoError, iter_frames, probe_video
from tiny_reenactor import SIZE, tiny_reenactor

pytestmark = pytest.mark.usefixtures("one_thread")

SOURCE = example_path("astronaut")
DRIVING = example_path("smile")


@pytest.fixture()
def session(tmp_path):  # type: ignore[no-untyped-def]
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=6, max_upload_mb=1), workdir=tmp_path / "work")
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
    assert "source inverted in" in result.summary and "source inverted earlier (cached)" in face_only.summary
    assert face_only.video.parent != result.video.parent  # one folder per request


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
    with pytest.raises(VideoError):
        session.reenact(str(SOURCE), str(corrupt))
    with pytest.raises(DemoInputError, match="smoothing"):
        session.reenact(str(SOURCE), str(DRIVING), smoothing=1.0)
    with pytest.raises(DemoInputError, match="tuning preset"):
        session.source(str(SOURCE), tune="fast")
    with pytest.raises(DemoInputError, match="tuning steps"):
        session.source(str(SOURCE), tune="released", tune_steps=10_000)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(DemoInputError, match="not a readable image"):
        session.preview(str(text))
    with pytest.raises(NoFaceError):
        session.preview(np.full((64, 64, 3), 128, np.uint8))
    small = DemoSession(tiny_reenactor, DemoLimits(max_image_pixels=1000), workdir=tmp_path / "small")
    with pytest.raises(DemoInputError, match="megapixels"):
        small.preview(str(SOURCE))
    with pytest.raises(ValueError, match="max_frames"):
        DemoLimits(max_frames=0)
    assert not list((tmp_path / "work").glob("run-*/*.mp4"))  # no failed request left a file


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


def test_failed_render_leaves_no_output(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    session.source(str(SOURCE))

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(session.reenactor, "render", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        session.reenact(str(SOURCE), str(DRIVING))
    assert not list(session.workdir.glob("run-*/*.mp4"))


def test_old_outputs_are_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = DemoSession(tiny_reenactor, DemoLimits(max_frames=2), workdir=tmp_path, keep_outputs_s=0.0)
    first = s.reenact(str(SOURCE), str(DRIVING))
    assert first.video.is_file()
    second = s.reenact(str(SOURCE), str(DRIVING))
    assert second.video.is_file() and not first.video.parent.exists()


def test_temporary_workdir_is_removed_on_close() -> None:
    s = DemoSession(tiny_reenactor)
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
