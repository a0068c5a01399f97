"""What the Gradio demo does, without Gradio: inputs checked against limits, the source inverted once
and cached, reenactment to a result video plus a side-by-side video, pose / expression edits.

Every user-facing failure is a :class:`DemoInputError` (a ``ValueError``) or one of the library's
own ``ValueError`` subclasses (``NoFaceError``, ``VideoError``, ...); the app shows their message.
Model work is serialised by a lock, so concurrent requests queue instead of sharing the networks.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from PIL import Image

from latentreenact.faces import as_rgb_uint8, read_image
from latentreenact.images import array_key
from latentreenact.reenact_video import ReenactOptions, video_frames
from latentreenact.video import VideoWriter, is_video_path, probe_video

if TYPE_CHECKING:
    from latentreenact.reenactor import Reenactor, Source
    from latentreenact.video import VideoInfo

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
TUNE_PRESETS = ("none", "released", "pti")


class DemoInputError(ValueError):
    """An input the demo refuses (missing, too large, too long), with a message for the user."""


@dataclass
class DemoLimits:
    """Upload limits: file size (enforced by the server), image pixels, driving frames used, tuning steps."""

    max_upload_mb: int = 50
    max_image_pixels: int = 40_000_000
    max_frames: int = 300
    max_tune_steps: int = 400

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_image_pixels", "max_frames", "max_tune_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class ReenactResult:
    """A finished reenactment: the result video, the [driving | result] video and a one-line summary."""

    video: Path
    side_by_side: Path
    summary: str
    frames: int
    frames_without_face: int
    seconds_per_frame: float
    notes: List[str] = field(default_factory=list)


class DemoSession:
    """The demo's state: a lazily built :class:`~latentreenact.reenactor.Reenactor` (``factory``), a
    small cache of inverted sources and a folder for outputs (a temporary one unless ``workdir``)."""

    def __init__(self, factory: Callable[[], "Reenactor"], limits: Optional[DemoLimits] = None,
                 workdir: Optional[PathLike] = None, cache_size: int = 4, keep_outputs_s: float = 3600.0) -> None:
        self._factory = factory
        self.limits = limits or DemoLimits()
        self._reenactor: Optional["Reenactor"] = None
        self._lock = threading.RLock()
        self._sources: "OrderedDict[Tuple[str, str, Optional[int]], Source]" = OrderedDict()
        self._cache_size = int(cache_size)
        self._keep_outputs_s = float(keep_outputs_s)
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="latentreenact-demo-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ models
    @property
    def reenactor(self) -> "Reenactor":
        """The reenactor, built on first use."""
        with self._lock:
            if self._reenactor is None:
                self._reenactor = self._factory()
            return self._reenactor

    def expression_names(self) -> List[str]:
        """Names of the expression entries of the model's pose vector (``exp_0``, ...)."""
        return [n for n in self.reenactor.spec.names if n.startswith("exp_")]

    def expression_range(self, name: str) -> Tuple[float, float]:
        """The (min, max) of an expression entry over the data the matrix was fitted on (raw units)."""
        ranges = self.reenactor.spec.ranges
        if name not in ranges:
            raise DemoInputError(f"unknown expression entry {name!r}; this model has "
                                 f"{', '.join(self.expression_names())}")
        low, high = ranges[name]
        return float(low), float(high)

    # ------------------------------------------------------------------ inputs
    def load_image(self, image: Union[None, np.ndarray, PathLike], what: str = "source image") -> np.ndarray:
        """A checked uint8 RGB image from an upload (a path or an array)."""
        if image is None or (isinstance(image, str) and not image):
            raise DemoInputError(f"upload a {what} first")
        if not isinstance(image, np.ndarray):
            path = Path(image)
            self._check_file(path, what)
            try:
                with Image.open(path) as probe:
                    self._check_pixels(probe.size[0] * probe.size[1], what)
            except (OSError, Image.DecompressionBombError) as exc:
                raise DemoInputError(f"the {what} is not a readable image ({exc})") from exc
            return read_image(path)
        self._check_pixels(int(image.shape[0]) * int(image.shape[1]) if image.ndim >= 2 else 0, what)
        return as_rgb_uint8(image, name=what)

    def _check_file(self, path: Path, what: str) -> None:
        if not path.is_file():
            raise DemoInputError(f"the {what} upload was not found on the server: {path.name}")
        size_mb = path.stat().st_size / 2**20
        if size_mb > self.limits.max_upload_mb:
            raise DemoInputError(f"the {what} is {size_mb:.0f} MB; this demo accepts at most "
                                 f"{self.limits.max_upload_mb} MB")

    def _check_pixels(self, pixels: int, what: str) -> None:
        if pixels > self.limits.max_image_pixels:
            raise DemoInputError(f"the {what} has {pixels / 1e6:.0f} megapixels; this demo accepts at most "
                                 f"{self.limits.max_image_pixels / 1e6:.0f}")

    def preview(self, image: Union[None, np.ndarray, PathLike]) -> np.ndarray:
        """The aligned crop of the largest face in the source (what the encoder sees)."""
        photo = self.load_image(image)
        with self._lock:
            return self.reenactor.crop(photo, True, "source image")[0]

    def source(self, image: Union[None, np.ndarray, PathLike], tune: str = "none",
               tune_steps: Optional[int] = None, progress: bool = False) -> "Source":
        """The inverted source (cached by image content and tuning settings)."""
        return self._source(image, tune, tune_steps, progress)[0]

    def _source(self, image: Union[None, np.ndarray, PathLike], tune: str, tune_steps: Optional[int],
                progress: bool) -> Tuple["Source", bool]:
        """(source, whether it came from the cache)."""
        if tune not in TUNE_PRESETS:
            raise DemoInputError(f"unknown tuning preset {tune!r}; choose from {', '.join(TUNE_PRESETS)}")
        if tune_steps is not None and not 0 <= int(tune_steps) <= self.limits.max_tune_steps:
            raise DemoInputError(f"tuning steps must be in [0, {self.limits.max_tune_steps}], got {tune_steps}")
        photo = self.load_image(image)

        key = (array_key(photo), tune, None if tune == "none" or tune_steps is None else int(tune_steps))
        with self._lock:
            if key in self._sources:
                self._sources.move_to_end(key)
                return self._sources[key], True
            start = time.perf_counter()
            src = self.reenactor.invert(photo, tune=None if tune == "none" else tune,
                                        tune_steps=None if tune_steps is None else int(tune_steps),
                                        progress=progress, name="source image")
            src.info = {**src.info, "invert_seconds": time.perf_counter() - start}
            self._sources[key] = src
            while len(self._sources) > self._cache_size:
                self._sources.popitem(last=False)
            return src, False

    def check_driving(self, driving: Optional[PathLike]) -> Tuple[Path, "VideoInfo", List[str]]:
        """The driving clip's path, what ``probe_video`` learnt of it, and notes (e.g. that it will be
        cut to ``max_frames``)."""
        if driving is None or not str(driving):
            raise DemoInputError("upload a driving video first")
        path = Path(driving)
        self._check_file(path, "driving video")
        if not is_video_path(path):
            raise DemoInputError(f"the driving upload {path.name} is not a video file (.mp4, .mov, .webm, ...)")
        info = probe_video(path)
        notes = []
        if info.n_frames is not None and info.n_frames > self.limits.max_frames:
            notes.append(f"the driving clip has {info.n_frames} frames; only the first {self.limits.max_frames} "
                         f"were used (the demo's limit)")
        return path, info, notes

    # ------------------------------------------------------------------ work
    def reenact(self, image: Union[None, np.ndarray, PathLike], driving: Optional[PathLike], *, tune: str = "none",
                tune_steps: Optional[int] = None, relative: bool = True, smoothing: float = 0.5,
                paste_back: bool = True, progress: bool = False) -> ReenactResult:
        """Reenact the source photo with the driving clip: a result video (with the clip's audio) and a
        [driving | result] video, both at the clip's frame rate."""
        if not 0.0 <= float(smoothing) < 1.0:
            raise DemoInputError(f"smoothing must be in [0, 1), got {smoothing}")
        path, info, notes = self.check_driving(driving)
        with self._lock:
            start = time.perf_counter()
            src, cached = self._source(image, tune, tune_steps, progress)
            source_seconds = time.perf_counter() - start
            start = time.perf_counter()
            out_dir = self._new_output_dir()
            fps = info.fps
            options = ReenactOptions(relative=relative, smoothing=float(smoothing), paste_back=paste_back,
                                     side_by_side=True, progress=progress)
            track, frames = video_frames(self.reenactor, src, path, options, max_frames=self.limits.max_frames)
            result_width = src.image.shape[1] if paste_back else self.reenactor.render_size
            video, pair = out_dir / "reenacted.mp4", out_dir / "side_by_side.mp4"
            with VideoWriter(video, fps, audio_from=path) as result_writer, \
                    VideoWriter(pair, fps, audio_from=path) as pair_writer:
                for frame in frames:
                    pair_writer.write(frame)
                    result_writer.write(np.ascontiguousarray(frame[:, frame.shape[1] - result_width:]))
            written = result_writer.frames_written
        seconds = time.perf_counter() - start
        per_frame = seconds / max(written, 1)
        if track.missing:
            notes.append(f"{len(track.missing)} frame(s) without a face took a neighbour's pose")
        what = "inverted and tuned" if tune != "none" else "inverted"
        source_note = f"source {what} earlier (cached)" if cached else f"source {what} in {source_seconds:.1f} s"
        summary = (f"{written} frames, {len(track.missing)} without a face, {per_frame:.2f} s per frame "
                   f"({seconds:.1f} s for the frames; {source_note})")
        return ReenactResult(video=video, side_by_side=pair, summary=summary, frames=written,
                             frames_without_face=len(track.missing), seconds_per_frame=per_frame, notes=notes)

    def edit(self, image: Union[None, np.ndarray, PathLike], yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
             expression: Optional[Dict[str, float]] = None, *, tune: str = "none", tune_steps: Optional[int] = None,
             paste_back: bool = False, progress: bool = False) -> np.ndarray:
        """The source with yaw / pitch / roll (degrees) and expression entries (raw units, by name)
        added to its own values."""
        names = self.expression_names()
        unknown = [n for n in (expression or {}) if n not in names]
        if unknown:
            raise DemoInputError(f"unknown expression entries {unknown}; this model has {', '.join(names)}")
        by_index = {int(n.split("_", 1)[1]): float(v) for n, v in (expression or {}).items() if float(v) != 0.0}
        with self._lock:
            src = self.source(image, tune, tune_steps, progress)
            return self.reenactor.edit(src, yaw=float(yaw), pitch=float(pitch), roll=float(roll),
                                       expression=by_index or None, paste_back=paste_back)

    # ------------------------------------------------------------------ outputs
    def _new_output_dir(self) -> Path:
        """A fresh folder for one request's outputs; folders older than ``keep_outputs_s`` are removed."""
        now = time.time()
        for old in self.workdir.glob("run-*"):
            try:
                if now - old.stat().st_mtime > self._keep_outputs_s:
                    shutil.rmtree(old, ignore_errors=True)
            except FileNotFoundError:
                pass
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.workdir))

    def close(self) -> None:
        """Remove the temporary output folder (if the session made one)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
