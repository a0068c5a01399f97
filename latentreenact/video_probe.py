"""Probing and reading videos with the ffmpeg binary shipped by ``imageio-ffmpeg``: what a file
holds (:func:`probe_video`) and its frames, streamed one at a time as uint8 RGB [H, W, 3]
(:func:`iter_frames`). Writing is in :mod:`latentreenact.video`, which re-exports these names."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from .fileio import PathLike

logger = logging.getLogger("latentreenact.video")  # one logger for the video I/O

__all__ = ["AUDIO_SUFFIXES", "VIDEO_SUFFIXES", "VideoError", "VideoInfo", "is_video_path", "iter_frames", "probe_video",
           "warnings_once"]

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".3gp", ".wmv", ".flv", ".ogv", ".vob")
#: suffixes of audio-only files, which are refused as driving input by name (not as an unreadable image)
AUDIO_SUFFIXES = (".m4a", ".wav", ".mp3", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma")
#: suffixes of files that hold either audio alone or video (told apart by their streams, :func:`is_video_path`)
EITHER_SUFFIXES = (".ogg",)
_FASTSTART_SUFFIXES = (".mp4", ".mov", ".m4v")  # containers whose index can move to the front


class VideoError(ValueError):
    """A video (or audio source) that cannot be read, or an encode that produced no valid video."""


@dataclass
class VideoInfo:
    """What ``probe_video`` learns about a file. ``size`` is (width, height) as frames are decoded; ``fps`` the
    average frame rate; ``variable_rate``: the frames are not evenly spaced (a phone's clip; its frames are then
    decoded resampled to ``fps``, see :func:`iter_frames`); ``n_frames`` the frames stored."""

    path: Path
    fps: float
    size: Tuple[int, int]
    n_frames: Optional[int]
    duration: Optional[float]
    has_audio: bool
    variable_rate: bool = False


def is_video_path(path: PathLike) -> bool:
    """Whether ``path`` has a video file suffix (``VIDEO_SUFFIXES``, case-insensitive), or is an existing ``.ogg``
    file with a video stream (Ogg holds Theora video as well as audio)."""
    suffix = Path(path).suffix.lower()
    if suffix in EITHER_SUFFIXES and Path(path).is_file():
        section = _input_section(_ffmpeg_log(Path(path), ["-t", "0", "-f", "null", "-"])[1])
        return section is not None and bool(_stream_lines(section, "Video"))
    return suffix in VIDEO_SUFFIXES


# the warnings already logged inside a ``warnings_once`` block (None outside one)
_logged: contextvars.ContextVar[Optional[Set[str]]] = contextvars.ContextVar("latentreenact_video_warnings",
                                                                              default=None)


@contextlib.contextmanager
def warnings_once() -> Iterator[None]:
    """Within the block, each distinct warning about a video file is logged once (repeats go to the
    debug level): one run probes and decodes a driving clip several times. Blocks nest."""
    if _logged.get() is not None:
        yield
        return
    token = _logged.set(set())
    try:
        yield
    finally:
        _logged.reset(token)


def _warn(message: str, *args: Any, level: int = logging.WARNING) -> None:
    """``logger.log`` at ``level`` (a warning by default), once per distinct text inside a :func:`warnings_once`
    block."""
    seen, text = _logged.get(), message % args
    if seen is not None:
        if text in seen:
            logger.debug("(again) %s", text)
            return
        seen.add(text)
    logger.log(level, "%s", text)


# ----------------------------------------------------------------------------------------- probing

def _ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_url(path: Path) -> str:
    """``path`` for the ffmpeg command line: ``file:`` stops names like ``a:b.mp4`` or ``-`` being
    taken for a protocol or for stdin."""
    return "file:" + os.fspath(path)


def _existing_file(path: PathLike, role: str = "video") -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{role} file not found: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"{role} file {path} is empty (0 bytes); re-export or re-copy it")
    return path


def _ffmpeg_log(path: Path, output_args: Sequence[str]) -> Tuple[int, List[str]]:
    """Run ffmpeg on ``path``; return its exit code and log lines (each tagged ``[level]``)."""
    cmd = [_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "level+info",
           "-i", _ffmpeg_url(path), *output_args]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    return proc.returncode, re.split(r"[\r\n]+", proc.stderr.decode("utf-8", "replace"))


def _input_section(lines: List[str]) -> Optional[List[str]]:
    """The lines describing input #0, or None when ffmpeg could not open the file."""
    start = next((i for i, line in enumerate(lines) if "Input #0" in line), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines))
                if "Stream mapping:" in lines[i] or "Output #" in lines[i]), len(lines))
    return lines[start:end]


def _stream_lines(section: List[str], kind: str) -> List[str]:
    return [line for line in section if "Stream #0:" in line and f": {kind}:" in line]


def _problems(lines: List[str]) -> List[str]:
    """ffmpeg's error messages, without their ``[... @ 0x...] [error]`` prefixes."""
    return [re.sub(r"^(\[[^\]]*\]\s*)+", "", line) for line in lines
            if "[error]" in line or "[fatal]" in line]


def _summary(problems: List[str], default: str) -> str:
    """The first and the last of ffmpeg's error messages (the cause and the outcome)."""
    return "; ".join(dict.fromkeys(problems[:1] + problems[-1:])) or default


def _has_audio(path: PathLike) -> bool:
    """Whether a media file (video or audio-only) has an audio stream."""
    path = _existing_file(path, role="audio source")
    _, lines = _ffmpeg_log(path, [])  # no output: ffmpeg lists the streams, then exits with 1
    section = _input_section(lines)
    if section is None:
        detail = _summary(_problems(lines), "ffmpeg could not open it")
        raise VideoError(f"audio source {path} is not a readable media file ({detail}); "
                         "pass a video or audio file, or audio_from=None")
    return bool(_stream_lines(section, "Audio"))


def _parse_fps(stream_line: str) -> Optional[float]:
    match = re.search(r"([\d.]+)(k?) fps", stream_line) or re.search(r"([\d.]+)(k?) tbr", stream_line)
    if match is None:
        return None
    fps = float(match.group(1)) * (1000 if match.group(2) else 1)
    for base in (24, 30, 48, 60, 120):  # ffmpeg prints 2 decimals: recover the NTSC rates exactly
        if abs(fps - base * 1000 / 1001) < 0.006:
            return base * 1000 / 1001
    return fps


def _is_variable_rate(stream_line: str, fps: float) -> bool:
    """Whether ffmpeg's description shows uneven frame spacing: the average rate (``fps``) differs from the base rate
    it guesses from the timestamps (``tbr``) by more than 1 %, and is not half of it (one frame per two fields)."""
    match = re.search(r"([\d.]+)(k?) tbr", stream_line)
    if match is None or not fps:
        return False
    tbr = float(match.group(1)) * (1000 if match.group(2) else 1)
    return all(abs(tbr / fps - ratio) > 0.01 * ratio for ratio in (1.0, 2.0))


def _parse_duration(section: List[str]) -> Optional[float]:
    for line in section:
        match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", line)
        if match:
            hours, minutes, seconds = match.groups()
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def probe_video(path: PathLike) -> VideoInfo:
    """Describe a video file. Reads the whole file once without decoding (packets are counted).

    Raises FileNotFoundError for a missing file and VideoError for an empty, unreadable or
    frameless one. Damage ffmpeg notices while reading (e.g. a truncated file) is logged."""
    path = _existing_file(path)
    code, lines = _ffmpeg_log(path, ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    section = _input_section(lines)
    problems = _problems(lines)
    detail = _summary(problems, f"ffmpeg exit code {code}")
    if section is None:
        raise VideoError(f"{path} is not a readable video ({detail}); it may be corrupt, truncated "
                         "or not a video: re-export or re-download it")
    video = _stream_lines(section, "Video")
    if not video:
        raise VideoError(f"{path} has no video stream; pass a video file")
    if code != 0:
        raise VideoError(f"ffmpeg could not read {path} ({detail}); re-export or re-download it")
    size_match = re.search(r", (\d+)x(\d+)[\s,\[]", video[0] + " ")
    fps = _parse_fps(video[0])
    if size_match is None or not fps:
        raise VideoError(f"could not read the frame size / frame rate of {path} from ffmpeg's "
                         f"description {video[0].strip()!r}; re-encode it (e.g. to H.264 mp4)")
    width, height = int(size_match.group(1)), int(size_match.group(2))
    rotation = next((float(m.group(1)) for m in (re.search(r"rotation of (-?[\d.]+) degrees", line, re.I)
                                                 for line in section) if m), 0.0)
    if round(abs(rotation)) % 180 == 90:  # ffmpeg rotates the frames upright when decoding
        width, height = height, width
    counts = [int(m.group(1)) for m in (re.search(r"frame=\s*(\d+)", line) for line in lines) if m]
    n_frames = counts[-1] if counts else None
    if n_frames == 0:
        raise VideoError(f"{path} contains no video frames; re-export it")
    if problems:
        _warn("%s looks damaged (ffmpeg: %s); frames may be missing", path, detail)
    return VideoInfo(path=path, fps=fps, size=(width, height), n_frames=n_frames,
                     duration=_parse_duration(section), has_audio=bool(_stream_lines(section, "Audio")),
                     variable_rate=_is_variable_rate(video[0], fps))


# ----------------------------------------------------------------------------------------- reading

def iter_frames(path: PathLike, max_frames: Optional[int] = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video one at a time as writable uint8 RGB arrays [H, W, 3].

    A clip with a variable frame rate (``VideoInfo.variable_rate``) is resampled to its average rate (a frame
    repeated or skipped where the spacing is uneven), so that frame ``k`` shows the clip at ``k / fps`` seconds and
    an output written at ``fps`` keeps the clip's timing and its audio in sync.

    The file is probed now (FileNotFoundError / VideoError are raised by this call); decoding
    streams, and closing the iterator early stops ffmpeg. A file whose frames stop early (e.g.
    truncated) yields what decodes and logs a warning; one that yields no frame raises VideoError."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    info = probe_video(path)
    return _decode(info, max_frames)


def _decode(info: VideoInfo, max_frames: Optional[int]) -> Iterator[np.ndarray]:
    width, height = info.size
    frame_bytes = width * height * 3
    # passthrough: one output frame per decoded frame (no duplicates/drops to force a constant rate; a clip with a
    # variable rate is made even by the fps filter first); -s keeps every frame at the probed (upright) size, so the
    # byte count of a frame is known before ffmpeg starts
    cmd = [_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", _ffmpeg_url(info.path),
           "-map", "0:v:0"]
    if info.variable_rate:  # evenly spaced frames at the average rate: the output keeps the clip's timing
        _warn("%s has a variable frame rate; its frames are resampled to %.3f fps", info.path, info.fps,
              level=logging.INFO)
        cmd += ["-vf", f"fps={info.fps!r}:round=near"]
    cmd += ["-fps_mode", "passthrough", "-s", f"{width}x{height}"]
    if max_frames is not None:
        cmd += ["-frames:v", str(max_frames)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    count = 0
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: ffmpeg never blocks on a full stderr
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        try:
            while max_frames is None or count < max_frames:
                data = _read_exact(proc.stdout, frame_bytes)
                if not data:
                    break
                if len(data) < frame_bytes:  # ffmpeg stopped in the middle of a frame
                    detail = _log_tail(log, f"{len(data)} of {frame_bytes} bytes of frame {count + 1}")
                    if count == 0:
                        raise VideoError(f"ffmpeg could not decode {info.path}: {detail}")
                    _warn("%s: decoding stopped after %d frames: %s", info.path, count, detail)
                    return
                yield np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).copy()
                count += 1
        finally:
            _stop(proc)  # also when the caller stops iterating early: no ffmpeg (or zombie) is left behind
        if count == 0:
            detail = _log_tail(log, f"ffmpeg exit code {proc.returncode}")
            raise VideoError(f"no frame of {info.path} could be decoded ({detail}); the file is corrupt or uses an "
                             "unsupported codec: re-export it (e.g. as H.264 mp4)")
    expected = info.n_frames
    if info.variable_rate:  # resampled at the average rate (stored frames / the video's length): about as many
        # frames as stored, give or take those the resampling merges; not the container's duration, which a longer
        # audio stream sets
        if info.n_frames is not None:
            expected = max(1, info.n_frames - 2)
        elif info.duration:
            expected = max(1, math.floor(info.duration * info.fps) - 1)
    if max_frames is not None and expected is not None:
        expected = min(expected, max_frames)
    if expected is not None and count < expected:
        if _duration_holds(info, count):
            logger.debug("%s: %d frames shown of %d stored; the rest lie outside the clip's %.2f s (an edit list "
                         "trims them, as players do)", info.path, count, info.n_frames, info.duration)
        else:
            _warn("%s: decoded only %d of %d frames; the file may be truncated or damaged", info.path, count,
                  expected)


def _read_exact(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes from a pipe: fewer only at its end."""
    chunks: List[bytes] = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """Close ffmpeg's output, end it if it still runs, and reap it."""
    if proc.stdout is not None:
        proc.stdout.close()
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _log_tail(log: Any, default: str) -> str:
    """ffmpeg's last error messages in the temporary ``log`` file, or ``default`` when it wrote none."""
    log.seek(0)
    lines = [line.strip() for line in log.read()[-4000:].decode("utf-8", "replace").splitlines() if line.strip()]
    return "; ".join(dict.fromkeys(lines[:1] + lines[-1:])) or default


def _duration_holds(info: VideoInfo, count: int) -> bool:
    """Whether the file stores more frames than its stated duration shows (``n_frames`` counts packets), which is
    what an edit list does, and ``count`` decoded frames fill that duration (to 2 frames): then the frames not
    decoded are ones the edit list hides, not ones lost to damage."""
    if info.duration is None or not info.fps or info.n_frames is None:
        return False
    shown = info.duration * info.fps
    return info.n_frames > shown + 1 and count >= shown - 2
