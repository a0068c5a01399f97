"""Streaming video reading and writing with the ffmpeg binary shipped by ``imageio-ffmpeg``.

Frames are uint8 RGB arrays ``[H, W, 3]``. Reading streams one frame at a time; writing encodes as
frames arrive and publishes the file atomically (it appears complete under its name, or not at all).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .fileio import PathLike, atomic_path

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif")
_FASTSTART_SUFFIXES = (".mp4", ".mov", ".m4v")  # containers whose index can move to the front


class VideoError(ValueError):
    """A video (or audio source) that cannot be read, or an encode that produced no valid video."""


@dataclass
class VideoInfo:
    """What ``probe_video`` learns about a file. ``size`` is (width, height) as frames are decoded."""

    path: Path
    fps: float
    size: Tuple[int, int]
    n_frames: Optional[int]
    duration: Optional[float]
    has_audio: bool


def is_video_path(path: PathLike) -> bool:
    """Whether ``path`` has a video file suffix (``VIDEO_SUFFIXES``, case-insensitive)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


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
        logger.warning("%s looks damaged (ffmpeg: %s); frames may be missing", path, detail)
    return VideoInfo(path=path, fps=fps, size=(width, height), n_frames=n_frames,
                     duration=_parse_duration(section), has_audio=bool(_stream_lines(section, "Audio")))


# ----------------------------------------------------------------------------------------- reading

def iter_frames(path: PathLike, max_frames: Optional[int] = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video one at a time as writable uint8 RGB arrays [H, W, 3].

    The file is probed now (FileNotFoundError / VideoError are raised by this call); decoding
    streams, and closing the iterator early stops ffmpeg. A file whose frames stop early (e.g.
    truncated) yields what decodes and logs a warning; one that yields no frame raises VideoError."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    info = probe_video(path)
    return _decode(info, max_frames)


def _decode(info: VideoInfo, max_frames: Optional[int]) -> Iterator[np.ndarray]:
    import imageio_ffmpeg

    # passthrough: one output frame per decoded frame (no duplicates/drops to force a constant rate)
    output_params = ["-map", "0:v:0", "-fps_mode", "passthrough"]
    if max_frames is not None:
        output_params += ["-frames:v", str(max_frames)]
    reader = imageio_ffmpeg.read_frames(_ffmpeg_url(info.path), output_params=output_params)
    count = 0
    try:
        try:
            width, height = next(reader)["size"]
        except (OSError, RuntimeError) as err:
            raise VideoError(f"ffmpeg could not decode {info.path}: {err}") from err
        while max_frames is None or count < max_frames:
            try:
                data = next(reader)
            except StopIteration:
                break
            except RuntimeError as err:  # ffmpeg stopped in the middle of a frame
                if count == 0:
                    raise VideoError(f"ffmpeg could not decode {info.path}: {err}") from err
                logger.warning("%s: decoding stopped after %d frames: %s", info.path, count, err)
                return
            yield np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).copy()
            count += 1
    finally:
        reader.close()  # stops ffmpeg (also when the caller stops iterating early)
    if count == 0:
        raise VideoError(f"no frame of {info.path} could be decoded; the file is corrupt or uses an "
                         "unsupported codec: re-export it (e.g. as H.264 mp4)")
    expected = info.n_frames
    if max_frames is not None and expected is not None:
        expected = min(expected, max_frames)
    if expected is not None and count < expected:
        logger.warning("%s: decoded only %d of %d frames; the file may be truncated or damaged",
                       info.path, count, expected)


# ----------------------------------------------------------------------------------------- writing

def _check_frame(frame: np.ndarray) -> np.ndarray:
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB frame [H, W, 3], got {array.dtype} {array.shape} "
                         "(see latentreenact.images.to_uint8)")
    return array


def _check_fps(fps: float) -> float:
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return float(fps)


class VideoWriter:
    """Context manager that encodes frames into a video file as they are written.

    ``with VideoWriter("out.mp4", fps=25) as writer: writer.write(frame)``. The frame size is
    ``size`` (width, height) or that of the first frame; all frames must match it. Frames with an
    odd width or height are padded to even by repeating the last column / row (yuv420p, which
    players need, has no odd sizes), so such a video is one pixel larger than the frames.
    ``crf`` is the constant-rate-factor quality (0 best, 51 worst; None: the codec's default,
    for codecs without a CRF mode). With ``audio_from`` the audio of that file (video or audio
    file) is added, cut to the video's length; a source without audio gives a silent video.
    The file appears at ``path`` only when the block exits without an exception and at least
    one frame was written (otherwise VideoError); nothing is left behind on failure."""

    def __init__(self, path: PathLike, fps: float, size: Optional[Tuple[int, int]] = None,
                 audio_from: Optional[PathLike] = None, crf: Optional[int] = 18,
                 codec: str = "libx264", audio_codec: Optional[str] = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() == ".gif":
            raise ValueError(f"VideoWriter does not write GIFs ({self.path}); use write_gif")
        self.fps = _check_fps(fps)
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        self.crf = crf
        self.codec = codec
        self.audio_codec = audio_codec or ("libopus" if self.path.suffix.lower() == ".webm" else "aac")
        self.audio_from: Optional[Path] = None
        if audio_from is not None:
            if _has_audio(audio_from):
                self.audio_from = Path(audio_from)
            else:
                logger.info("%s has no audio stream; writing %s without audio", audio_from, self.path)
        self.frames_written = 0
        self._session: Optional[contextlib.AbstractContextManager] = None
        self._encode_path: Optional[Path] = None
        self._encoder = None
        self._padding = (0, 0)

    def __enter__(self) -> "VideoWriter":
        if self._session is not None:
            raise RuntimeError("a VideoWriter can be entered only once")
        self._session = self._run()
        return self._session.__enter__()

    def __exit__(self, exc_type, exc, tb) -> bool:
        return self._session.__exit__(exc_type, exc, tb)

    @contextlib.contextmanager
    def _run(self) -> Iterator["VideoWriter"]:
        with atomic_path(self.path) as final_tmp:
            # with audio, the video goes to a second temporary file and the audio is muxed in at
            # the end, when the video's length is known
            video_tmp = final_tmp if self.audio_from is None else \
                final_tmp.with_name(final_tmp.stem + ".video" + final_tmp.suffix)
            self._encode_path = video_tmp
            try:
                yield self
                self._close_encoder()
                if self.frames_written == 0:
                    raise VideoError(f"no frames were written to {self.path}; nothing was saved")
                if self.audio_from is not None:
                    self._mux_audio(video_tmp, final_tmp)
                self._verify(final_tmp)
            finally:
                self._close_encoder()
                if video_tmp != final_tmp:
                    with contextlib.suppress(FileNotFoundError):
                        video_tmp.unlink()

    def write(self, frame: np.ndarray) -> None:
        """Encode one uint8 RGB frame [H, W, 3]."""
        if self._encode_path is None:
            raise RuntimeError("use VideoWriter as a context manager: with VideoWriter(...) as w: ...")
        frame = _check_frame(frame)
        height, width = frame.shape[:2]
        if self.size is None:
            self.size = (width, height)
        if (width, height) != self.size:
            raise ValueError(f"frame size {width}x{height} differs from the video's "
                             f"{self.size[0]}x{self.size[1]}")
        if self._encoder is None:
            self._start()
        if any(self._padding):
            frame = np.pad(frame, ((0, self._padding[1]), (0, self._padding[0]), (0, 0)), mode="edge")
        try:
            self._encoder.send(np.ascontiguousarray(frame))
        except OSError as err:
            raise VideoError(f"ffmpeg stopped while writing {self.path} (codec {self.codec!r}): "
                             f"{str(err).splitlines()[0]}") from err
        self.frames_written += 1

    def _start(self) -> None:
        import imageio_ffmpeg

        width, height = self.size
        self._padding = (width % 2, height % 2)
        if any(self._padding):
            logger.info("padding %dx%d frames to %dx%d for %s (yuv420p needs even sizes)", width,
                        height, width + self._padding[0], height + self._padding[1], self.path)
        output_params = ["-crf", str(self.crf)] if self.crf is not None else []
        if self._encode_path.suffix.lower() in _FASTSTART_SUFFIXES:
            output_params += ["-movflags", "+faststart"]  # index first: playable while downloading
        self._encoder = imageio_ffmpeg.write_frames(
            _ffmpeg_url(self._encode_path), (width + self._padding[0], height + self._padding[1]),
            fps=self.fps, quality=None, codec=self.codec,
            macro_block_size=1, ffmpeg_log_level="error", output_params=output_params)
        self._encoder.send(None)  # starts ffmpeg

    def _close_encoder(self) -> None:
        """Let ffmpeg finish the file (waits for it)."""
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.close()

    def _mux_audio(self, video: Path, output: Path) -> None:
        duration = self.frames_written / self.fps
        cmd = [_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-i", _ffmpeg_url(video), "-i", _ffmpeg_url(self.audio_from),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", self.audio_codec,
               "-t", f"{duration:.6f}"]
        if output.suffix.lower() in _FASTSTART_SUFFIXES:
            cmd += ["-movflags", "+faststart"]
        proc = subprocess.run(cmd + [_ffmpeg_url(output)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            raise VideoError(f"could not add the audio of {self.audio_from} to {self.path} "
                             f"(ffmpeg: {detail[0]}); try audio_codec='aac' or audio_from=None")

    def _verify(self, output: Path) -> None:
        """Check ffmpeg's result, since imageio-ffmpeg does not report its exit status."""
        try:
            info = probe_video(output)
        except VideoError as err:
            raise VideoError(f"ffmpeg did not produce a valid video for {self.path} (codec "
                             f"{self.codec!r}; see ffmpeg's messages on stderr): {err}") from err
        if info.n_frames is not None and info.n_frames != self.frames_written:
            raise VideoError(f"{self.path}: wrote {self.frames_written} frames but the encoded video "
                             f"holds {info.n_frames}")
        if self.audio_from is not None and not info.has_audio:
            raise VideoError(f"{self.path}: the audio of {self.audio_from} was not added")


def write_video(path: PathLike, frames: Iterable[np.ndarray], fps: float,
                audio_from: Optional[PathLike] = None, *, crf: Optional[int] = 18,
                codec: str = "libx264") -> int:
    """Write uint8 RGB frames [H, W, 3] to a video (a ``.gif`` goes to ``write_gif``); return how
    many were written. See ``VideoWriter`` for the options."""
    if Path(path).suffix.lower() == ".gif":
        if audio_from is not None:
            logger.warning("GIFs have no audio; ignoring audio_from=%s", audio_from)
        return write_gif(path, frames, fps)
    with VideoWriter(path, fps, audio_from=audio_from, crf=crf, codec=codec) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames_written


def write_gif(path: PathLike, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write uint8 RGB frames [H, W, 3] to a looping GIF (atomically); return how many were
    written. GIF timing has 10 ms steps, so the frame rate is approximate."""
    _check_fps(fps)
    images = (Image.fromarray(_check_frame(frame)) for frame in frames)
    first = next(images, None)
    if first is None:
        raise VideoError(f"no frames given for {path}; nothing was saved")
    count = 1

    def counted() -> Iterator[Image.Image]:
        nonlocal count
        for image in images:
            if image.size != first.size:
                raise ValueError(f"frame size {image.size} differs from the first frame's {first.size}")
            count += 1
            yield image

    with atomic_path(path) as tmp:
        first.save(tmp, format="GIF", save_all=True, append_images=counted(),
                   duration=max(10, round(1000 / fps)), loop=0)
    return count
