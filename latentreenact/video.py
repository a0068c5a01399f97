"""Streaming video reading and writing with the ffmpeg binary shipped by ``imageio-ffmpeg``
(probing and reading are in :mod:`latentreenact.video_probe`, re-exported here).

Frames are uint8 RGB arrays ``[H, W, 3]``. Reading streams one frame at a time; writing encodes as
frames arrive and publishes the file atomically (it appears complete under its name, or not at all).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

import numpy as np
from PIL import Image

from .fileio import PathLike, atomic_path
from .output_paths import VIDEO_CODECS, output_kind
from .video_probe import (_FASTSTART_SUFFIXES, AUDIO_SUFFIXES, VIDEO_SUFFIXES, VideoError, VideoInfo, _ffmpeg_exe, _ffmpeg_url,
                          _has_audio, is_video_path, iter_frames, probe_video, warnings_once)

logger = logging.getLogger(__name__)

#: output options of the codecs that need more than ``-crf`` for a constant-quality encode
_CODEC_OPTIONS = {"libvpx-vp9": ["-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"]}

__all__ = ["AUDIO_SUFFIXES", "VIDEO_CODECS", "VIDEO_SUFFIXES", "VideoError", "VideoInfo", "VideoWriter", "is_video_path", "iter_frames", "probe_video",
           "warnings_once", "write_gif", "write_video"]


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
    ``crf`` is the constant-rate-factor quality (0 best, 51 worst for H.264, 63 for VP9; None: the
    codec's default, for codecs without a CRF mode). ``codec`` / ``audio_codec``: ffmpeg encoders,
    by default those of the container (``output_paths.VIDEO_CODECS``: H.264 and AAC in .mp4, .mov
    and .mkv, VP9 and Opus in .webm); other suffixes need an explicit ``codec``. With
    ``audio_from`` the audio of that file (video or audio file) is added, cut to the video's length; a source without audio gives a silent video.
    The file appears at ``path`` only when the block exits without an exception and at least
    one frame was written (otherwise VideoError); nothing is left behind on failure."""

    def __init__(self, path: PathLike, fps: float, size: Optional[Tuple[int, int]] = None,
                 audio_from: Optional[PathLike] = None, crf: Optional[int] = 18,
                 codec: Optional[str] = None, audio_codec: Optional[str] = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix == ".gif":
            raise ValueError(f"VideoWriter does not write GIFs ({self.path}); use write_gif")
        if codec is None:
            output_kind(self.path, "video")  # UnsupportedOutputError for a container without default codecs
        self.fps = _check_fps(fps)
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        self.crf = crf
        defaults = VIDEO_CODECS.get(suffix, ("libx264", "aac"))
        self.codec = codec or defaults[0]
        self.audio_codec = audio_codec or defaults[1]
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
        output_params += _CODEC_OPTIONS.get(self.codec, [])
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
               # the audio on the clip's timeline from 0: silence before a late first sound (a clip cut to frames
               # before it would otherwise get no audio packet at all) and after an early last one
               "-af", "aresample=async=1:first_pts=0,apad", "-t", f"{duration:.6f}"]
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
                codec: Optional[str] = None) -> int:
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
