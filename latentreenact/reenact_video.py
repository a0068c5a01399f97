"""Driving sequences for :class:`~latentreenact.reenactor.Reenactor`: driving inputs (images, folders,
videos), pose tracks (gap filling, smoothing, Δp), composing output frames, and the streamed video path.

Frames without a face (no detection, or Net3D reports none) take the pose of the previous frame
with a face (leading ones: the first frame with a face); they are counted and logged, never fatal
unless no frame has a face (``NoFaceError``). ``smoothing`` is the factor a of an exponential
moving average of the raw pose vector, ``s_t = a * s_(t-1) + (1 - a) * p_t`` (0 = off; the video
default 0.5 damps Net3D's frame-to-frame jitter at the cost of about one frame of lag).

The video path runs in two streamed passes over the driving clip: (1) detect, align and measure
every frame (one Net3D pass per ``batch_size`` frames; only the pose vectors and eye and mouth openings are kept),
(2) decode again, render the shifted latents ``batch_size`` at a time (one generator pass per frame), compose
and encode. Nothing but the pose vectors is held for the whole clip.

``follow_eyes`` and ``follow_mouth`` (on by default where the model can) add what the pose vector carries
poorly: per frame an ``eyes_closed`` value from the driving face's eye opening, and a ``lips_apart`` value from
its inner-lip gap (:mod:`latentreenact.driving_landmarks`, :func:`follow_track`), rendered as W+ offsets along
the model's directions.
"""

from __future__ import annotations

import itertools
import logging
import numbers
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Protocol, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .driving_landmarks import FOLLOWERS, DrivingMeasurement, Follower, opening_reference
from .faces import NoFaceError, as_rgb_uint8, read_image
from .latent_controls import LATENT_CONTROLS
from .net3d.pose_vector import ANGLE_SCALES
from .pose_delta import EXPRESSION_LIMIT, GAIN_LIMITS, check_expression_limit, limit_expression
from .source import Source
from .output_frame import canvas_source, compose, roll_region_for, side_by_side_cap
from .output_paths import check_not_input, check_output
from .video import (AUDIO_SUFFIXES, VideoWriter, is_video_path, iter_frames, probe_video, warnings_once,
                    write_gif)

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_SMOOTHING = 0.5
#: Longest side of a pasted-back output frame by default (ReenactOptions.max_side)
OUTPUT_MAX_SIDE = 1920
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class FrameReenactor(Protocol):
    """What the driving-sequence functions use of a :class:`~latentreenact.reenactor.Reenactor`."""

    spec: Any

    def measure_driving(self, frames: Iterable[np.ndarray], align: bool = True, batch_size: int = 8,
                        progress: bool = False, total: Optional[int] = None) -> DrivingMeasurement:
        """Raw pose vectors [N, k], whether each frame had a face [N], and each frame's eye and mouth opening [N]."""

    def faces(self, src: Source, dp: torch.Tensor, calibrate: bool = True,
              offset: Optional[torch.Tensor] = None, roll_region: str = "face") -> np.ndarray:
        """uint8 faces [B, S, S, 3] of the source moved by the rescaled pose changes ``dp`` [B, k] (and the W+
        ``offset`` [B or 1, n_latent, D]); ``roll_region``: see :func:`roll_region_for`."""

    def control_series(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """W+ offsets [N, n_latent, D] of a W-space control taking ``values`` [N]."""

    def control_names(self) -> Tuple[str, ...]:
        """The expression controls the model offers."""


@dataclass(frozen=True)
class ReenactOptions:
    """How driving frames drive the source: the reenactment settings, as one value.

    ``relative``: a sequence moves the source by its motion relative to its first frame with a
    face (a single image: relative to the source); otherwise every frame's pose counts against the
    source. ``align``: detect and align the driving faces (``False``: frames are aligned crops).
    ``smoothing``: the factor a of the pose EMA in [0, 1); ``None`` takes the default for the kind
    of input (:meth:`smoothing_for`). ``paste_back``: paste the face into the source photo.
    ``side_by_side``: put the driving frame on the left. ``batch_size``: frames per Net3D and
    generator pass. ``progress``: progress bars on stderr. ``absolute_expression``: with ``relative``,
    take the expression entries (not the angles) against the source instead of the first frame, so the
    source gets the driving face's expression rather than its change of expression (opt-in; measured
    in docs/driving.md: a closed-mouthed source's mouth then opens with the driving mouth, at some
    cost in identity and head motion). ``follow_eyes``: the source's eyes open and close with the driving
    eyes (the model's ``eyes_closed`` direction, see :func:`follow_track`): ``None`` (default) where the model
    can (a W-space ``eyes_closed`` control and an estimator that reports the landmarks it detected; otherwise
    logged and left out), ``True`` required (ValueError where it cannot), ``False`` off. ``follow_mouth``: the
    same for the driving mouth's inner-lip gap and the ``lips_apart`` direction, on top of the mouth that the
    pose vector's expression entries open. ``expression_limit``: the source's rescaled expression plus Δp is kept
    within this bound (:func:`~latentreenact.pose_delta.limit_expression`; default 6, the generated faces' range;
    ``None``: no bound), so a laugh on a smiling source does not push A's columns past that range. ``max_side``: with
    ``paste_back``, the source photo is scaled down so that its longer side is at most this many pixels before the
    faces are pasted into it (default :data:`OUTPUT_MAX_SIDE`, 1920: a phone photo makes a 1080p-class video, which
    players decode and which is made several times faster, docs/benchmarks.md; ``None``: the photo's own size); with
    ``side_by_side`` the whole frame, driving half included, is kept within it (the photo scaled down further).
    """

    relative: bool = True
    align: bool = True
    smoothing: Optional[float] = None
    paste_back: bool = False
    side_by_side: bool = False
    batch_size: int = 8
    progress: bool = False
    absolute_expression: bool = False
    follow_eyes: Optional[bool] = None
    follow_mouth: Optional[bool] = None
    expression_limit: Optional[float] = EXPRESSION_LIMIT
    max_side: Optional[int] = OUTPUT_MAX_SIDE

    def __post_init__(self) -> None:
        if not _integer_at_least(self.batch_size, 1):
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.smoothing is not None and not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1) (or None for the default), got {self.smoothing!r}")
        if self.max_side is not None and not _integer_at_least(self.max_side, 16):
            raise ValueError(f"max_side must be an integer of at least 16 pixels (or None for the photo's size), got "
                             f"{self.max_side!r}")
        object.__setattr__(self, "batch_size", int(self.batch_size))  # numpy integers welcome, stored as int
        object.__setattr__(self, "max_side", None if self.max_side is None else int(self.max_side))
        check_expression_limit(self.expression_limit)

    def smoothing_for(self, video: bool) -> float:
        """The EMA factor to use: ``smoothing``, or :data:`DEFAULT_SMOOTHING` for a video and 0 for images."""
        if self.smoothing is not None:
            return float(self.smoothing)
        return DEFAULT_SMOOTHING if video else 0.0

    def with_(self, **changes: Any) -> "ReenactOptions":
        """A copy with some settings changed."""
        return replace(self, **changes)


def _integer_at_least(value: Any, low: int) -> bool:
    """Whether ``value`` is an integer (Python's or numpy's, not a bool) of at least ``low``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def resolve_options(options: Optional[ReenactOptions], settings: dict, caller: str) -> ReenactOptions:
    """``options``, or (deprecated) the same settings given as keyword arguments."""
    if settings:
        warnings.warn(f"{caller}: pass the reenactment settings as options=ReenactOptions(...), not as keywords "
                      f"({', '.join(sorted(settings))})", DeprecationWarning, stacklevel=3)
        return (options or ReenactOptions()).with_(**settings)
    return options or ReenactOptions()


@dataclass
class PoseTrack:
    """Driving poses: ``p`` [N, k] raw (gaps filled, smoothed), ``found`` [N], ``dp`` [N, k] rescaled Δp, and
    ``controls``: the values [N] of each W-space control that follows the driving face (``eyes_closed`` with
    ``follow_eyes``, ``lips_apart`` with ``follow_mouth``)."""

    p: torch.Tensor
    found: torch.Tensor
    dp: torch.Tensor
    controls: Dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def missing(self) -> List[int]:
        """Indices of the frames without a face."""
        return [int(i) for i in torch.nonzero(~self.found).flatten()]


@dataclass
class ImageReenactment:
    """Result of reenacting from driving images: ``frames`` (uint8), their ``names``, and the indices of
    the driving images without a face (their pose came from a neighbour)."""

    frames: List[np.ndarray]
    names: List[str]
    frames_without_face: List[int] = field(default_factory=list)


@dataclass
class VideoSummary:
    """What :func:`reenact_video` did."""

    output: Path
    frames: int
    frames_without_face: int
    fps: float
    seconds: float
    seconds_per_frame: float
    missing_frames: List[int] = field(default_factory=list)

    def line(self) -> str:
        """One-line human summary."""
        return (f"{self.frames} frames ({self.frames_without_face} without a face) at {self.fps:.3g} fps, "
                f"{self.seconds_per_frame:.3f} s/frame, {self.seconds:.1f} s in all -> {self.output}")


# ----------------------------------------------------------------------------------------- inputs

def is_image_path(path: PathLike) -> bool:
    """Whether ``path`` has an image suffix (:data:`IMAGE_SUFFIXES`)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def driving_kind(driving: Any) -> str:
    """``"video"`` for a path with a video suffix, else ``"images"``; ``ValueError`` for an audio file."""
    if isinstance(driving, (str, os.PathLike)) and not Path(driving).is_dir():
        if is_video_path(driving):
            return "video"
        if Path(driving).suffix.lower() in AUDIO_SUFFIXES:
            raise ValueError(f"{driving} is an audio file; drive the source with a video, an image or a folder of "
                             "images (a video's own audio is carried into the output)")
    return "images"


def folder_images(folder: PathLike, role: str = "driving") -> List[Path]:
    """The image files of a folder, sorted by name; ``ValueError`` naming its ``role`` when there are none."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p))
    if not files:
        raise ValueError(f"{role} folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_driving_images(driving: Any) -> Tuple[List[np.ndarray], List[str], bool]:
    """(images, names, single) for a path, an array ([H, W, 3] or [N, H, W, 3]), a list of them or a folder."""
    if isinstance(driving, (str, os.PathLike)):
        path = Path(driving)
        if path.is_dir():
            files = folder_images(path)
            return [read_image(f) for f in files], [f.name for f in files], False
        if driving_kind(path) == "video":
            raise ValueError(f"{path} is a video (its frames are driving images only through Reenactor.reenact or "
                             "reenact_video)")
        return [read_image(path)], [path.name], True
    if isinstance(driving, Image.Image):
        return [as_rgb_uint8(driving, name="driving")], ["driving"], True
    if isinstance(driving, np.ndarray):
        if driving.ndim == 4:
            driving = list(driving)
        else:
            return [as_rgb_uint8(driving, name="driving")], ["driving"], True
    if not isinstance(driving, Iterable):
        raise TypeError(f"driving must be an image path, a folder, an array, a PIL image or a list of them, got "
                        f"{type(driving).__name__}")
    items = list(driving)
    if not items:
        raise ValueError("no driving images given (empty list)")
    images, names = [], []
    for i, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            images.append(read_image(item))
            names.append(Path(item).name)
        else:
            images.append(as_rgb_uint8(item, name=f"driving[{i}]"))
            names.append(f"driving[{i}]")
    return images, names, False


# ----------------------------------------------------------------------------------------- pose tracks

def fill_missing(p: torch.Tensor, found: torch.Tensor, what: str = "the driving frames") -> torch.Tensor:
    """Rows without a face take the previous found row (leading ones: the first found row)."""
    hits = torch.nonzero(found).flatten()
    if len(hits) == 0:
        raise NoFaceError(f"no face found in any of {what} ({len(found)}); use a clip with a visible face, "
                          f"or align=False / --no-align for already aligned crops")
    out = p.clone()
    last = out[hits[0]]
    for i in range(len(out)):
        if found[i]:
            last = out[i]
        else:
            out[i] = last
    return out


def smooth(p: torch.Tensor, factor: float) -> torch.Tensor:
    """Exponential moving average along frames: ``s_t = factor * s_(t-1) + (1 - factor) * p_t``."""
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {factor}")
    if factor == 0.0:
        return p
    out = p.clone()
    for i in range(1, len(out)):
        out[i] = factor * out[i - 1] + (1.0 - factor) * p[i]
    return out


def motion_reference(names: Sequence[str], first: torch.Tensor, src: Source, *, relative: bool,
                     absolute_expression: bool = False) -> torch.Tensor:
    """The raw pose [1, k] that Δp is taken against: the first driving pose ``first`` [1, k] (relative), the
    source's (not relative), or the first pose's angles with the source's other entries
    (relative with ``absolute_expression``)."""
    source = src.p.detach().float().cpu().reshape(1, -1)
    if not relative:
        return source
    if not absolute_expression:
        return first
    angles = torch.tensor([name in ANGLE_SCALES for name in names])
    return torch.where(angles[None], first, source)


def pose_track(reenactor: "FrameReenactor", src: Source, p: torch.Tensor, found: torch.Tensor, *, relative: bool,
               sequence: bool, smoothing: float, what: str, absolute_expression: bool = False,
               expression_limit: Optional[float] = None) -> PoseTrack:
    """Fill, smooth and turn driving poses into Δp: relative sequences against the first frame with a face,
    otherwise (absolute, or a single image) against the source (see :mod:`latentreenact.reenactor`);
    ``absolute_expression`` keeps the angles relative but takes the other entries against the source;
    ``expression_limit``: the bound on the source's expression plus Δp (:func:`~latentreenact.pose_delta.limit_expression`)."""
    filled = smooth(fill_missing(p, found, what), smoothing)
    first = filled[int(torch.nonzero(found).flatten()[0])][None]
    reference = motion_reference(reenactor.spec.names, first, src, relative=relative and sequence,
                                 absolute_expression=absolute_expression)
    dp = reenactor.spec.rescale(filled) - reenactor.spec.rescale(reference)
    dp = limit_expression(reenactor.spec, dp, source_rescaled(reenactor, src), expression_limit)
    return PoseTrack(p=filled, found=found.clone(), dp=dp)


def source_rescaled(reenactor: "FrameReenactor", src: Source) -> torch.Tensor:
    """The source's own pose vector, rescaled [k]."""
    return reenactor.spec.rescale(src.p.detach().float().cpu().reshape(1, -1))[0]


def follow_track(follower: Follower, series: torch.Tensor, found: torch.Tensor, src: Source, *, against_source: bool,
                 smoothing: float = 0.0) -> torch.Tensor:
    """Control values [N] that follow a driving opening series ``series`` [N] (:data:`FOLLOWERS`): frames without
    a value take the previous one's (leading ones: the first), the series is smoothed by an EMA ``smoothing``
    (the video path passes 0: a blink lasts a frame or two), and taken against the first usable frame, or the
    source's own opening (``against_source``; ``src.info["{measure}_opening"]``), by :func:`follow_values`."""
    usable = found.bool() & torch.isfinite(series)
    what = f"{follower.measure} opening"
    reference = opening_reference(series, found, src.info.get(f"{follower.measure}_opening"),
                                  against_source=against_source, what=what)
    filled = smooth(fill_missing(series.float()[:, None], usable, f"the driving {what}s")[:, 0], smoothing)
    return follow_values(follower, filled, reference, src)


def follow_values(follower: Follower, series: torch.Tensor, reference: float, src: Source) -> torch.Tensor:
    """``sign * share * (series - reference) / unit / gain`` clipped to the follower's ``limits``; ``gain``: the
    source's ``src.info["{measure}_gain"]`` (:meth:`Reenactor.calibrate_followers`, clipped to
    :data:`GAIN_LIMITS`; 1 when absent)."""
    gain = min(max(float(src.info.get(f"{follower.measure}_gain", 1.0)), GAIN_LIMITS[0]), GAIN_LIMITS[1])
    unit = LATENT_CONTROLS[follower.control].unit
    values = follower.sign * follower.share * (series.float() - reference) / unit / gain
    return values.clamp(*follower.limits)


def follow_against_source(relative: bool, absolute_expression: bool) -> bool:
    """Whether the driving openings are taken against the source's own (absolute driving, or relative with the
    expression against the source), not against the first driving frame's."""
    return not relative or absolute_expression


def control_missing(follower: Follower, reenactor: "FrameReenactor") -> Optional[str]:
    """Why the model cannot follow ``follower`` at all (None when it has the W-space control it drives): known before
    any source or frame."""
    if follower.control not in reenactor.control_names():
        return (f"this model has no W-space {follower.control} control (the default model ships one; a model "
                "directory names it as 'controls' in reenactor.json)")
    return None


def follow_missing(follower: Follower, reenactor: "FrameReenactor", src: Source, series: torch.Tensor,
                   found: torch.Tensor, against_source: bool) -> Optional[str]:
    """Why the driving opening cannot be followed (None when it can): ``series`` [N] and ``found`` [N] are the
    driving frames' openings and faces so far (the video path: the whole clip; live: the first face)."""
    missing = control_missing(follower, reenactor)
    if missing is not None:
        return missing
    if not bool((found.bool() & torch.isfinite(series)).any()):
        return (f"the driving {follower.measure} opening is unknown on every frame measured (the estimator "
                f"reports no detected landmarks; {follower.option} needs a landmark-fitting estimator such as "
                "bfm-rigid)")
    if against_source and not isinstance(src.info.get(f"{follower.measure}_opening"), float):
        return f"the source's {follower.measure} opening is unknown (its estimator reported no detected landmarks)"
    return None


def can_follow(follower: Follower, wanted: Optional[bool], reenactor: "FrameReenactor", src: Source,
               series: torch.Tensor, found: torch.Tensor, against_source: bool) -> bool:
    """Whether ``follower`` follows the driving face, as its option ``wanted`` asks: False when off, True or a
    ValueError saying why not when required, and where the model can (None) False with the reason logged when
    :func:`follow_missing` finds a reason."""
    if wanted is False:
        return False
    missing = follow_missing(follower, reenactor, src, series, found, against_source)
    if missing is None:
        return True
    if wanted:
        raise ValueError(missing)
    log.info("the driving %s is not followed: %s", follower.measure, missing)
    return False


def _with_followed(reenactor: "FrameReenactor", src: Source, track: PoseTrack, measured: DrivingMeasurement,
                   options: ReenactOptions, sequence: bool) -> Tuple[PoseTrack, Optional[torch.Tensor]]:
    """The track with the values of the controls that follow the driving face (``follow_eyes``,
    ``follow_mouth``) and their summed W+ offsets [N, n_latent, D] (None when none follows)."""
    against_source = follow_against_source(options.relative and sequence, options.absolute_expression)
    values: Dict[str, torch.Tensor] = {}
    offsets: Optional[torch.Tensor] = None
    for follower in FOLLOWERS.values():
        series = getattr(measured, follower.measure)
        if not can_follow(follower, getattr(options, follower.option), reenactor, src, series, measured.found,
                          against_source):
            continue
        values[follower.control] = follow_track(follower, series, measured.found, src, against_source=against_source)
        offset = reenactor.control_series(follower.control, values[follower.control])
        offsets = offset if offsets is None else offsets + offset
    return replace(track, controls=values), offsets


def _log_missing(track: PoseTrack, what: str) -> None:
    missing = track.missing
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        log.warning("%d of %d %s had no face (%s); their pose was taken from the neighbouring frames",
                    len(missing), len(track.found), what, shown)


# ----------------------------------------------------------------------------------------- frames

def _rendered(reenactor: "FrameReenactor", src: Source, frames: Iterator[np.ndarray], dp: torch.Tensor,
              options: ReenactOptions, offsets: Optional[torch.Tensor] = None) -> Iterator[np.ndarray]:
    """Render ``dp[i]`` (plus the W+ offset ``offsets[i]`` when given) for each driving frame ``i``
    (``batch_size`` per generator pass) and compose."""
    batch_size, progress = options.batch_size, options.progress
    roll_region = roll_region_for(options.paste_back)
    if options.paste_back:
        max_side = options.max_side
        if options.side_by_side and max_side is not None:  # both halves within max_side: the first frame decides
            first = next(frames, None)
            if first is not None:
                max_side = side_by_side_cap(src.image.shape[:2], first.shape[:2], max_side)
                frames = itertools.chain([first], frames)
        src = canvas_source(src, max_side)

    def flush(batch: List[np.ndarray], start: int) -> Iterator[np.ndarray]:
        end = start + len(batch)
        faces = reenactor.faces(src, dp[start:end], offset=None if offsets is None else offsets[start:end],
                                roll_region=roll_region)
        for face, frame in zip(faces, batch):
            yield compose(src, face, options.paste_back, frame, options.side_by_side, options.max_side)

    batch: List[np.ndarray] = []
    count = 0
    bar = tqdm(total=len(dp), desc="rendering", unit="frame", disable=not progress)
    try:
        for frame in frames:
            if count + len(batch) >= len(dp):
                log.warning("the driving clip decoded more frames the second time; ignoring the extra ones")
                break
            batch.append(frame)
            if len(batch) == batch_size:
                yield from flush(batch, count)
                count += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            yield from flush(batch, count)
            count += len(batch)
            bar.update(len(batch))
    finally:
        bar.close()
    if count < len(dp):
        log.warning("the driving clip decoded %d frames the second time, %d the first", count, len(dp))


def reenact_images(reenactor: "FrameReenactor", src: Source, driving: Any, options: Optional[ReenactOptions] = None,
                   **settings: Any) -> ImageReenactment:
    """Reenact the source from driving images. A single image without a face raises ``NoFaceError``;
    in a list or folder such images take a neighbour's pose and are reported."""
    options = resolve_options(options, settings, "reenact_images")
    images, names, single = load_driving_images(driving)
    measured = reenactor.measure_driving(images, align=options.align, batch_size=options.batch_size,
                                         progress=options.progress)
    p, found = measured.p, measured.found
    if single and not bool(found[0]):
        raise NoFaceError(f"no face found in the driving image {names[0]}")
    smoothing = options.smoothing_for(video=False)
    track = pose_track(reenactor, src, p, found, relative=options.relative, sequence=not single,
                       absolute_expression=options.absolute_expression,
                       smoothing=smoothing, what="the driving images", expression_limit=options.expression_limit)
    track, offsets = _with_followed(reenactor, src, track, measured, options, sequence=not single)
    _log_missing(track, "driving images")
    frames = list(_rendered(reenactor, src, iter(images), track.dp, options, offsets))
    return ImageReenactment(frames=frames, names=names, frames_without_face=track.missing)


def video_frames(reenactor: "FrameReenactor", src: Source, video: Path, options: Optional[ReenactOptions] = None, *,
                 max_frames: Optional[int] = None, **settings: Any) -> Tuple[PoseTrack, Iterator[np.ndarray]]:
    """Measure the clip (its first ``max_frames`` frames if given) now (pass 1), then return the track
    and a lazy iterator of output frames (pass 2)."""
    options = resolve_options(options, settings, "video_frames")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    info = probe_video(video)
    total = info.n_frames if max_frames is None or info.n_frames is None else min(info.n_frames, max_frames)
    measured = reenactor.measure_driving(iter_frames(video, max_frames), align=options.align,
                                         batch_size=options.batch_size, progress=options.progress, total=total)
    smoothing = options.smoothing_for(video=True)
    track = pose_track(reenactor, src, measured.p, measured.found, relative=options.relative, sequence=True,
                       absolute_expression=options.absolute_expression,
                       smoothing=smoothing, what=f"the frames of {video}", expression_limit=options.expression_limit)
    track, offsets = _with_followed(reenactor, src, track, measured, options, sequence=True)
    _log_missing(track, f"frames of {video}")
    return track, _rendered(reenactor, src, iter_frames(video, max_frames), track.dp, options, offsets)


def reenact_video(reenactor: "FrameReenactor", src: Source, video: PathLike, output: PathLike,
                  options: Optional[ReenactOptions] = None, *, max_frames: Optional[int] = None,
                  **settings: Any) -> VideoSummary:
    """Reenact the source from a driving video (its first ``max_frames`` frames if given) into
    ``output`` at the clip's frame rate: a video file with the clip's audio (cut to the frames
    written), or a GIF (no audio). Streamed; the file appears only when complete. The output path
    is checked first (``output_paths.check_output``: a video suffix, a writable folder); a damaged
    clip is warned about once."""
    options = resolve_options(options, settings, "reenact_video")
    start = time.perf_counter()
    video, output = Path(video), Path(output)
    check_output(output, "video")
    check_not_input(output, video)
    with warnings_once():
        track, written, fps = _reenact_video(reenactor, src, video, output, options, max_frames)
    seconds = time.perf_counter() - start
    summary = VideoSummary(output=output, frames=written, frames_without_face=len(track.missing), fps=fps,
                           seconds=seconds, seconds_per_frame=seconds / max(written, 1),
                           missing_frames=track.missing)
    log.info("reenacted %s", summary.line())
    return summary


def _reenact_video(reenactor: "FrameReenactor", src: Source, video: Path, output: Path, options: ReenactOptions,
                   max_frames: Optional[int]) -> Tuple[PoseTrack, int, float]:
    """The two passes of :func:`reenact_video`: ``(track, frames written, fps)``."""
    fps = probe_video(video).fps
    track, frames = video_frames(reenactor, src, video, options, max_frames=max_frames)
    if output.suffix.lower() == ".gif":
        written = write_gif(output, frames, fps)
    else:
        with VideoWriter(output, fps, audio_from=video) as writer:
            for frame in frames:
                writer.write(frame)
        written = writer.frames_written
    return track, written, fps
