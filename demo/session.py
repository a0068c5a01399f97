"""What the Gradio demo does, without Gradio: uploads checked against limits, the source detected once
and inverted once per upload (cached by content), reenactment to a result video plus a side-by-side
video, pose / expression edits, each request within a time limit.

Every user-facing failure is a :class:`DemoInputError` whose message is ours (no server paths, no
CLI advice); anything else is a programming error. Model work is serialised by a lock, so
concurrent requests queue instead of sharing the networks; a request's time limit starts when its
work does. Outputs live in per-request folders under ``workdir``, pruned by age and count on a
timer; :meth:`DemoSession.close` removes them (and the whole work folder when the session made it).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from inversion.recipes import DEFAULT_RECIPE, RECIPES, get_recipe
from latentreenact.faces import NoFaceError, find_face_counted
from latentreenact.faces.detection import detection_copy
from latentreenact.fileio import CheckpointFormatError
from latentreenact.identity.same_person import SAME_PERSON_DISTANCE
from latentreenact.images import array_key
from latentreenact.latent_controls import LATENT_CONTROLS, LatentControl
from latentreenact.net3d.controls import CONTROLS, ExpressionControl
from latentreenact.output_frame import beside
from latentreenact.reenact_video import ReenactOptions, video_frames
from latentreenact.source_file import SOURCE_SUFFIX, is_source_file
from latentreenact.video import VideoError, VideoWriter, is_video_path, iter_frames, probe_video

from .deadline import Deadline
from .errors import DemoClosedError, DemoInputError, DemoTimeoutError
from .outputs import RUN_PREFIX, OutputFolders
from .uploads import check_array, check_file, file_key, read_photo, too_many_pixels

if TYPE_CHECKING:
    from latentreenact.driving_landmarks import DrivingMeasurement
    from latentreenact.reenactor import Reenactor
    from latentreenact.source import Source
    from latentreenact.video import VideoInfo

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
ImageUpload = Union[None, np.ndarray, PathLike]
TUNE_PRESETS = tuple(RECIPES)  # the inversion recipes (inversion.recipes)
SOURCE = "source image"
PREPARED = "prepared source file"
__all__ = ["DemoClosedError", "DemoInputError", "DemoLimits", "DemoSession", "DemoTimeoutError", "ReenactResult",
           "TUNE_PRESETS", "DEFAULT_RECIPE"]


@dataclass
class DemoLimits:
    """Per-request limits: upload size (also enforced by the server), image pixels (checked from the
    header, before decoding), the longer side the source photo is worked at (larger ones are scaled
    down), driving frames used, tuning steps, extra photos of the source person (joint tuning) and the
    time one request may take (seconds)."""

    max_upload_mb: int = 50
    max_image_pixels: int = 24_000_000
    max_side: int = 1024
    max_frames: int = 300
    max_tune_steps: int = 400
    max_extra_photos: int = 3
    time_limit_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_image_pixels", "max_side", "max_frames", "max_tune_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.max_extra_photos) < 0:
            raise ValueError(f"max_extra_photos must be >= 0, got {self.max_extra_photos}")
        if not float(self.time_limit_s) > 0:
            raise ValueError(f"time_limit_s must be positive, got {self.time_limit_s}")


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


@dataclass
class _Face:
    """One source photo (at most ``max_side`` px), its face's landmarks and aligned crop: detected once."""

    key: str
    photo: np.ndarray
    landmarks: np.ndarray
    crop: np.ndarray
    notes: List[str]


class _Watched:
    """The reenactor as the video functions see it, with the deadline checked before each frame
    measured and each batch rendered."""

    def __init__(self, reenactor: "Reenactor", deadline: Deadline) -> None:
        self._reenactor, self._deadline = reenactor, deadline
        self.spec = reenactor.spec

    def measure_driving(self, frames: Iterable[np.ndarray], **kwargs: Any) -> "DrivingMeasurement":
        """:meth:`Reenactor.measure_driving` of the frames, checked one by one."""
        return self._reenactor.measure_driving(self._deadline.each(frames), **kwargs)

    def control_series(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """:meth:`Reenactor.control_series`."""
        return self._reenactor.control_series(name, values)

    def control_names(self) -> Tuple[str, ...]:
        """:meth:`Reenactor.control_names`."""
        return self._reenactor.control_names()

    def shift(self, src: "Source", dp: torch.Tensor) -> torch.Tensor:
        """:meth:`Reenactor.shift`."""
        return self._reenactor.shift(src, dp)

    def render(self, src: "Source", wplus: torch.Tensor) -> torch.Tensor:
        """:meth:`Reenactor.render` after a check."""
        self._deadline.check()
        return self._reenactor.render(src, wplus)

    def faces(self, src: "Source", dp: torch.Tensor, calibrate: bool = True,
              offset: Optional[torch.Tensor] = None, roll_region: str = "face") -> np.ndarray:
        """:meth:`Reenactor.faces` after a check."""
        self._deadline.check()
        return self._reenactor.faces(src, dp, calibrate, offset, roll_region)


class DemoSession:
    """The demo's state: a lazily built :class:`~latentreenact.reenactor.Reenactor` (``factory``), small
    caches of detected faces and inverted sources (by content) and a work folder: a new temporary one
    (under ``temp_root``, or the system's) unless ``workdir`` is given. Request folders older than
    ``keep_outputs_s`` or beyond the newest ``max_outputs`` are pruned every ``prune_every_s`` seconds
    (``None``: only when a request starts); ``upload_dir`` is the folder for the web server's uploads."""

    def __init__(self, factory: Callable[[], "Reenactor"], limits: Optional[DemoLimits] = None,
                 workdir: Optional[PathLike] = None, cache_size: int = 4, keep_outputs_s: float = 3600.0,
                 max_outputs: int = 20, prune_every_s: Optional[float] = 60.0,
                 temp_root: Optional[PathLike] = None, default_tune: str = DEFAULT_RECIPE) -> None:
        if default_tune not in TUNE_PRESETS:
            raise ValueError(f"unknown inversion recipe {default_tune!r}; choose from {', '.join(TUNE_PRESETS)}")
        self.default_tune = default_tune
        self._factory = factory
        self.limits = limits or DemoLimits()
        self._reenactor: Optional["Reenactor"] = None
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._cache_size = int(cache_size)
        self._file_keys: "OrderedDict[str, str]" = OrderedDict()
        self._faces: "OrderedDict[str, Union[_Face, str]]" = OrderedDict()  # a face, or why there is none
        self._sources: "OrderedDict[Tuple[Any, ...], Source]" = OrderedDict()
        self._file_hashes: "OrderedDict[Tuple[str, int, int], str]" = OrderedDict()
        self._owns_workdir = workdir is None
        if workdir is None:
            if temp_root is not None:
                Path(temp_root).mkdir(parents=True, exist_ok=True)
            workdir = tempfile.mkdtemp(prefix="latentreenact-demo-", dir=temp_root)
        self.workdir = Path(workdir)
        # like TemporaryDirectory: a session dropped without close() still leaves nothing at exit
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.workdir), True) if self._owns_workdir \
            else None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.upload_dir = self.workdir / "uploads"
        self.upload_dir.mkdir(exist_ok=True)
        self.outputs = OutputFolders(self.workdir, keep_outputs_s, max_outputs, prune_every_s, self.upload_dir)

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

    def edit_controls(self) -> List[Union[ExpressionControl, LatentControl]]:
        """The expression controls the model offers (``mouth_open``, ``smile``, and ``eyes_closed`` and
        ``lips_apart`` when its W-space controls file has them), each with ``name``, ``range`` and
        ``description``."""
        return [CONTROLS[n] if n in CONTROLS else LATENT_CONTROLS[n] for n in self.reenactor.control_names()]

    def expression_range(self, name: str) -> Tuple[float, float]:
        """The (min, max) of an expression entry over the data the matrix was fitted on (raw units)."""
        ranges = self.reenactor.spec.ranges
        if name not in ranges:
            raise DemoInputError(f"unknown expression entry {name!r}; this model has "
                                 f"{', '.join(self.expression_names())}")
        low, high = ranges[name]
        return float(low), float(high)

    def deadline(self) -> Deadline:
        """A new request's time limit (also stops it when the session closes)."""
        return Deadline(self.limits.time_limit_s, closed=self._closed.is_set)

    # ------------------------------------------------------------------ inputs
    def load_image(self, image: ImageUpload, what: str = SOURCE) -> np.ndarray:
        """A checked uint8 RGB image from an upload (a path or an array)."""
        if _empty(image):
            raise DemoInputError(f"upload a {what} first")
        if isinstance(image, np.ndarray):
            return check_array(image, what, self.limits.max_image_pixels)
        path = Path(image)
        self._upload(path, what)
        return read_photo(path, what, self.limits.max_image_pixels)

    def _upload(self, path: Path, what: str) -> None:
        """Check an uploaded file (present, not empty, not too large) and keep it from the pruning while it is in
        use (was: a live stream died an hour after its photo's upload)."""
        check_file(path, what, self.limits.max_upload_mb)
        self.outputs.mark_used(path)

    def _face(self, image: ImageUpload, deadline: Deadline, what: str = SOURCE) -> _Face:
        """The face of a source photo, detected once per upload content (a file's bytes, or its pixels); a
        photo without a usable face is refused from the cache too."""
        deadline.check()
        file_hash = None
        if image is not None and not isinstance(image, np.ndarray) and str(image):
            self._upload(Path(image), what)
            file_hash = self._file_hash(Path(image))
        with self._lock:
            key = self._file_keys.get(file_hash) if file_hash is not None else None
            if key is None or key not in self._faces:
                photo = self.load_image(image, what)
                key = array_key(photo)
                if file_hash is not None:
                    self._remember(self._file_keys, file_hash, key)
                if key not in self._faces:
                    deadline.check()
                    try:
                        self._remember(self._faces, key, self._detect(key, photo, what))
                    except DemoInputError as exc:
                        self._remember(self._faces, key, str(exc))  # the message, not the frames it holds
            found = self._hit(self._faces, key)
            if isinstance(found, str):
                raise DemoInputError(found)
            return found

    def _detect(self, key: str, photo: np.ndarray, what: str = SOURCE) -> _Face:
        """Scale the photo down to ``max_side``, find its largest face and align it."""
        notes = []
        small, _ = detection_copy(photo, self.limits.max_side)
        if small is not photo:
            notes.append(f"the {what} was scaled down to {self.limits.max_side} px on its longer side "
                         f"(the demo's limit)")
        try:
            face, count = find_face_counted(small, detector=self.reenactor.detector, name=what)
            if count > 1:  # said on the page, as the command line warns
                notes.append(f"{count} faces found in the {what}; the largest is used")
            landmarks = face.landmarks
            crop, _ = self.reenactor.crop(small, name=what, landmarks=landmarks)
        except NoFaceError as exc:
            raise DemoInputError(f"no face found in the {what}; use a photo with one clear, "
                                 "roughly frontal face") from exc
        except ValueError as exc:  # landmarks too degenerate to align
            raise DemoInputError(f"the face in the {what} could not be aligned; use a photo with a "
                                 "larger, clearer face") from exc
        return _Face(key=key, photo=small, landmarks=landmarks, crop=crop, notes=notes)

    def _file_hash(self, path: Path) -> str:
        """The upload's content key (:func:`~demo.uploads.file_key`), hashed once per file as it stands (path,
        modification time, size): the live tab asks for the source with every camera frame."""
        stat = path.stat()
        stamp = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            digest = self._file_hashes.get(stamp)
            if digest is None:
                digest = self._remember(self._file_hashes, stamp, file_key(path))
            return digest

    def _hit(self, cache: "OrderedDict[Any, Any]", key: Any) -> Any:
        cache.move_to_end(key)
        return cache[key]

    def _remember(self, cache: "OrderedDict[Any, Any]", key: Any, value: Any) -> Any:
        cache[key] = value
        while len(cache) > self._cache_size:
            cache.popitem(last=False)
        return value

    def preview(self, image: ImageUpload) -> np.ndarray:
        """The aligned crop of the largest face in the source (what the encoder sees); for a prepared source
        file, the crop it was prepared from."""
        with self._lock:
            if _prepared_upload(image):
                return self._prepared_file(image, self.deadline())[1].crop
            return self._face(image, self.deadline()).crop

    def source(self, image: ImageUpload, tune: Optional[str] = None, tune_steps: Optional[int] = None,
               progress: bool = False, extras: Sequence[ImageUpload] = ()) -> "Source":
        """The inverted source (cached by image content, extra photos and tuning settings)."""
        with self._lock:
            return self._source(image, tune, tune_steps, progress, self.deadline(), extras)[0]

    def _source(self, image: ImageUpload, tune: Optional[str], tune_steps: Optional[int], progress: bool,
                deadline: Deadline, extras: Sequence[ImageUpload] = ()) -> Tuple["Source", bool, List[str]]:
        """(source, whether it came from the cache, notes for the user). ``extras``: more photos of the same
        person, for joint tuning. A prepared source file (``.lrsource``) is loaded instead of inverted."""
        with self._lock:
            if _prepared_upload(image):
                _check_no_extras(extras)
                _, src, cached = self._prepared_file(image, deadline)
                notes = [f"the {PREPARED}'s own inversion was used (the recipe and tuning steps settings do not "
                         f"apply to it)"]
                height, width = (int(n) for n in src.image.shape[:2])
                if max(height, width) > self.limits.max_side:
                    notes.append(f"the {PREPARED}'s photo is {width}x{height} px, larger than the "
                                 f"{self.limits.max_side} px this demo scales photos down to; the results are "
                                 f"pasted back at its size, which takes longer")
                return src, cached, notes
            key, tune, face, more = self._source_key(image, tune, tune_steps, deadline, extras)
            if key in self._sources:
                return self._hit(self._sources, key), True, face.notes
            deadline.check()
            start = time.perf_counter()
            try:
                src = self.reenactor.invert(face.photo, tune=None if tune == "none" else tune,
                                            tune_steps=None if tune_steps is None else int(tune_steps),
                                            progress=progress, name=SOURCE, landmarks=face.landmarks,
                                            tune_callback=deadline.check, also=[f.photo for f in more],
                                            also_landmarks=[f.landmarks for f in more])
            except NoFaceError as exc:
                raise DemoInputError("the face in the source image could not be measured; use a photo with "
                                     "a clearer, roughly frontal face") from exc
            src.info = {**src.info, "invert_seconds": time.perf_counter() - start}
            return self._remember(self._sources, key, src), False, face.notes

    def _prepared_file(self, upload: PathLike, deadline: Deadline) -> Tuple[Tuple[str, str], "Source", bool]:
        """(cache key, source, whether it came from the cache) of an uploaded prepared source file, loaded once
        per file content; a file from other models, or a damaged one, is refused in our words."""
        path = Path(upload)
        self._upload(path, PREPARED)
        with self._lock:
            key = ("prepared", self._file_hash(path))
            if key in self._sources:
                return key, self._hit(self._sources, key), True
            deadline.check()
            try:
                src = self.reenactor.load_source(path)
            except CheckpointFormatError as exc:  # the message names the server's path: say it without
                reason = str(exc).replace(f"{path}: ", "").replace(str(path), "the file")
                raise DemoInputError(f"the {PREPARED} cannot be used: {reason}") from exc
            if int(src.image.shape[0]) * int(src.image.shape[1]) > self.limits.max_image_pixels:
                raise too_many_pixels(f"{PREPARED}'s photo", self.limits.max_image_pixels)
            return key, self._remember(self._sources, key, src), False

    def save_prepared(self, image: ImageUpload, tune: Optional[str] = None, tune_steps: Optional[int] = None,
                      extras: Sequence[ImageUpload] = (), progress: bool = False) -> Path:
        """The source prepared with these settings (inverted now unless cached) saved as a prepared source file
        (``source.lrsource`` in a new output folder), to be uploaded again instead of the photo: no tuning then."""
        with self._lock:
            deadline = self.deadline()
            src = self._source(image, tune, tune_steps, progress, deadline, extras)[0]
            deadline.check()
            with self.outputs.new() as out_dir:
                return self.reenactor.save_source(src, out_dir / f"source{SOURCE_SUFFIX}")

    def _source_key(self, image: ImageUpload, tune: Optional[str], tune_steps: Optional[int], deadline: Deadline,
                    extras: Sequence[ImageUpload]) -> Tuple[Tuple[Any, ...], str, _Face, List[_Face]]:
        """The source cache's key for these settings (uploads detected, settings checked), the recipe's
        name, the source face and the extra photos' faces."""
        tune = self.default_tune if tune is None else tune
        if tune not in TUNE_PRESETS:
            raise DemoInputError(f"unknown inversion recipe {tune!r}; choose from {', '.join(TUNE_PRESETS)}")
        if tune_steps is not None and not 0 <= int(tune_steps) <= self.limits.max_tune_steps:
            raise DemoInputError(f"tuning steps must be in [0, {self.limits.max_tune_steps}], got {tune_steps}")
        extras = [e for e in (extras or ()) if not _empty(e)]
        if len(extras) > self.limits.max_extra_photos:
            raise DemoInputError(f"at most {self.limits.max_extra_photos} extra photos of the person, "
                                 f"got {len(extras)}")
        if extras and get_recipe(tune).tuning is None:
            raise DemoInputError(f"extra photos of the person are used only by tuning; the recipe {tune!r} "
                                 f"does not tune (choose released, pti, local or editable)")
        with self._lock:
            face = self._face(image, deadline)
            more = [self._face(e, deadline, f"extra photo {i + 1}") for i, e in enumerate(extras)]
        key = (face.key, tuple(f.key for f in more), tune,
               None if tune == "none" or tune_steps is None else int(tune_steps))
        return key, tune, face, more

    def prepared_source(self, image: ImageUpload, tune: Optional[str] = None, tune_steps: Optional[int] = None,
                        extras: Sequence[ImageUpload] = ()) -> Tuple["Source", Tuple[Any, ...]]:
        """The source already inverted with these settings and its cache key, without inverting anything
        (``DemoInputError`` when it was not prepared: see :meth:`source`)."""
        if _empty(image):
            raise DemoInputError("upload a source photo and press Prepare first")
        with self._lock:
            if _prepared_upload(image):  # loading one takes a fraction of a second: no Prepare needed
                _check_no_extras(extras)
                key, src, _ = self._prepared_file(image, self.deadline())
                return src, key
            key = self._source_key(image, tune, tune_steps, self.deadline(), extras)[0]
            if key not in self._sources:
                raise DemoInputError("prepare the source first: press Prepare (the camera then drives it)")
            return self._hit(self._sources, key), key

    def model_lock(self) -> ContextManager[Any]:
        """The lock that serialises work on the models (hold it around direct use of :attr:`reenactor`)."""
        return self._lock

    def check_driving(self, driving: Optional[PathLike]) -> Tuple[Path, "VideoInfo", List[str]]:
        """The driving clip's path, what ``probe_video`` learnt of it, and notes (e.g. that it will be
        cut to ``max_frames``)."""
        if driving is None or not str(driving):
            raise DemoInputError("upload a driving video first")
        path = Path(driving)
        self._upload(path, "driving video")
        if not is_video_path(path):
            raise DemoInputError("the driving upload is not a video file (.mp4, .mov, .webm, ...)")
        try:
            info = probe_video(path)
        except VideoError as exc:
            raise _video_error() from exc
        notes = []
        if info.n_frames is not None and info.n_frames > self.limits.max_frames:
            notes.append(f"the driving clip has {info.n_frames} frames; only the first {self.limits.max_frames} "
                         f"were used (the demo's limit)")
        return path, info, notes

    # ------------------------------------------------------------------ work
    def reenact(self, image: ImageUpload, driving: Optional[PathLike], *, tune: Optional[str] = None,
                tune_steps: Optional[int] = None, relative: bool = True, smoothing: float = 0.5,
                paste_back: bool = True, progress: bool = False, extras: Sequence[ImageUpload] = (),
                absolute_expression: bool = False, follow_eyes: Optional[bool] = None,
                follow_mouth: Optional[bool] = None) -> ReenactResult:
        """Reenact the source photo with the driving clip: a result video (with the clip's audio) and a
        [driving | result] video, both at the clip's frame rate. ``extras``: more photos of the same
        person for joint tuning (the first photo is the one reenacted); ``relative`` and
        ``absolute_expression``, ``follow_eyes`` and ``follow_mouth`` as in
        :class:`latentreenact.reenact_video.ReenactOptions`."""
        if not 0.0 <= float(smoothing) < 1.0:
            raise DemoInputError(f"smoothing must be in [0, 1), got {smoothing}")
        path, info, notes = self.check_driving(driving)
        with self._lock:
            deadline = self.deadline()
            start = time.perf_counter()
            src, cached, source_notes = self._source(image, tune, tune_steps, progress, deadline, extras)
            source_seconds = time.perf_counter() - start
            start = time.perf_counter()
            options = ReenactOptions(relative=relative, absolute_expression=absolute_expression,
                                     follow_eyes=follow_eyes, follow_mouth=follow_mouth, smoothing=float(smoothing),
                                     paste_back=paste_back, progress=progress)
            with self.outputs.new() as out_dir:
                video, pair = out_dir / "reenacted.mp4", out_dir / "side_by_side.mp4"
                try:
                    track, frames = video_frames(_Watched(self.reenactor, deadline), src, path, options,
                                                 max_frames=self.limits.max_frames)
                    with VideoWriter(video, info.fps, audio_from=path) as result_writer, \
                            VideoWriter(pair, info.fps, audio_from=path) as pair_writer:
                        # the pair from the result and the driving frame (a third decode of the clip), so the
                        # result keeps its own size whatever the pair's bound does to the pair
                        for frame, shown in zip(deadline.each(frames), iter_frames(path, self.limits.max_frames)):
                            result_writer.write(frame)
                            pair_writer.write(beside(shown, frame, options.max_side))
                except NoFaceError as exc:
                    raise DemoInputError(f"no face found in the driving video's first {self.limits.max_frames} "
                                         "frames; use a clip with a visible face") from exc
                except VideoError as exc:
                    raise _video_error() from exc
                except FileNotFoundError as exc:  # the clip's upload removed mid-request (its server path unsaid)
                    raise DemoInputError("the driving video upload is no longer on the server; upload it "
                                         "again") from exc
            written = result_writer.frames_written
        seconds = time.perf_counter() - start
        per_frame = seconds / max(written, 1)
        if track.missing:
            notes.append(f"{len(track.missing)} frame(s) without a face took a neighbour's pose")
        recipe = src.info.get("recipe", self.default_tune if tune is None else tune)
        photos = int(src.info.get("photos", 1))
        what = f"inverted ({recipe}" + (f", tuned jointly on {photos} photos)" if photos > 1 else ")")
        distance = src.info.get("identity_distance", 0.0)
        if distance is None or distance > SAME_PERSON_DISTANCE:
            notes.append("the inverted face may look like another person (dlib distance "
                         + ("unmeasured: no face found" if distance is None else f"{distance:.2f} > 0.6")
                         + "); try a tuning recipe (released, editable) or a sharper, frontal photo")
        source_note = f"source {what} earlier (cached)" if cached else f"source {what} in {source_seconds:.1f} s"
        summary = (f"{written} frames, {len(track.missing)} without a face, {per_frame:.2f} s per frame "
                   f"({seconds:.1f} s for the frames; {source_note})")
        return ReenactResult(video=video, side_by_side=pair, summary=summary, frames=written,
                             frames_without_face=len(track.missing), seconds_per_frame=per_frame,
                             notes=source_notes + notes)

    def edit(self, image: ImageUpload, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
             expression: Optional[Dict[str, float]] = None, *, controls: Optional[Dict[str, float]] = None,
             tune: Optional[str] = None, tune_steps: Optional[int] = None, paste_back: bool = False,
             progress: bool = False, extras: Sequence[ImageUpload] = ()) -> np.ndarray:
        """The source with yaw / pitch / roll (degrees), expression controls (``mouth_open``, ``smile``,
        ``eyes_closed``, ``lips_apart``) and expression entries (raw units, by name) added to its own values;
        ``extras``: more photos of the same person for joint tuning."""
        names = self.expression_names()
        unknown = [n for n in (expression or {}) if n not in names]
        if unknown:
            raise DemoInputError(f"unknown expression entries {unknown}; this model has {', '.join(names)}")
        by_index = {int(n.split("_", 1)[1]): float(v) for n, v in (expression or {}).items() if float(v) != 0.0}
        offered = self.reenactor.control_names()
        unknown = [n for n in (controls or {}) if n not in offered]
        if unknown:
            raise DemoInputError(f"unknown expression controls {unknown}; choose from {', '.join(offered)}")
        chosen = {n: float(v) for n, v in (controls or {}).items() if float(v) != 0.0}
        edit = {"yaw": float(yaw), "pitch": float(pitch), "roll": float(roll), "expression": by_index or None,
                "controls": chosen or None}
        with self._lock:
            src = self._source(image, tune, tune_steps, progress, self.deadline(), extras)[0]
            try:  # the values a user asked for, checked (a value out of range, not a number)
                self.reenactor.edit_delta(src, **edit)
            except (TypeError, ValueError) as exc:
                raise DemoInputError(f"cannot make this edit: {exc}") from exc
            return self.reenactor.edit(src, paste_back=paste_back, **edit)

    # ------------------------------------------------------------------ files
    def close(self) -> None:
        """Stop running requests at their next check, stop the pruning timer and remove the outputs and
        uploads (the whole work folder when the session made it)."""
        self._closed.set()
        self.outputs.close()
        if self._finalizer is not None:
            self._finalizer()
            return
        for folder in [*self.workdir.glob(f"{RUN_PREFIX}*"), self.upload_dir]:
            shutil.rmtree(folder, ignore_errors=True)


def _empty(upload: ImageUpload) -> bool:
    """Whether an upload slot holds nothing (None, or the empty path Gradio sends)."""
    return upload is None or (isinstance(upload, str) and not upload)


def _prepared_upload(upload: ImageUpload) -> bool:
    """Whether the source upload is a prepared source file (by its suffix) rather than a photo."""
    return not _empty(upload) and not isinstance(upload, np.ndarray) and is_source_file(str(upload))


def _check_no_extras(extras: Sequence[ImageUpload]) -> None:
    """Refuse extra photos next to a prepared source file: its tuning is done."""
    if any(not _empty(e) for e in (extras or ())):
        raise DemoInputError(f"a {PREPARED} is already tuned; extra photos of the person cannot be added to it "
                             f"(remove them, or upload the photos instead)")


def _video_error() -> DemoInputError:
    """The error for a driving video that ffmpeg cannot read (or whose audio cannot be copied)."""
    return DemoInputError("the driving video could not be read (corrupt, truncated, or a codec or audio track "
                          "ffmpeg does not handle); re-export it as an MP4 (H.264 video, AAC audio)")
