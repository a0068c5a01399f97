"""Live reenactment: one driving frame in, one output frame out (a webcam, a stream).

:class:`LiveReenactor` is the causal form of the video path (:mod:`latentreenact.reenact_video`):
the same pose measurement, exponential smoothing, relative Δp and rendering, computed as each
frame arrives, with one Net3D pass and one generator pass per frame. Its differences, all forced
by not seeing the future: frames before the first face show the source unmoved (Δp = 0), and
frames without a face keep the last pose. With ``track=False`` and a first frame that has a face
its frames equal the video path's (up to float rounding; tested).

``track=True`` (the default here) follows the face with :class:`~latentreenact.faces.FaceTracker`
instead of detecting it on every frame, and hands its landmarks to the pose estimator, which then
starts from them in the aligned crop instead of detecting the face there again (``bfm-rigid``,
``bfm-fit``). On tracked frames a quick detection in the aligned crop (no upsampling: the face
fills it) checks that the face is still there, since the landmark predictor answers on any box.
The landmarks differ slightly from a fresh detection's (the pose difference is measured in
``benchmarks/bench_reenact.py``), so the video path keeps detecting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from .faces import FaceTracker, TrackedFace, as_rgb_uint8, detect_faces
from .driving_landmarks import FOLLOWERS, Follower, opening_reference
from .pose_delta import EXPRESSION_LIMIT, check_expression_limit, limit_expression
from .output_frame import canvas_source, compose, roll_region_for
from .reenact_video import (DEFAULT_SMOOTHING, OUTPUT_MAX_SIDE, can_follow, follow_against_source, follow_values,
                            motion_reference, source_rescaled)
from .source import Source

#: stages timed for every frame, in order
STAGES = ("landmarks", "align", "check", "net3d", "render", "compose")


@dataclass
class LiveFrame:
    """One output frame: ``image`` (uint8), whether this frame had a ``found`` face, whether the
    detector ran (``detected``; False: tracked or no face), and ``seconds`` per stage of :data:`STAGES`."""

    image: np.ndarray
    found: bool
    detected: bool
    seconds: Dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        """Time for the whole frame."""
        return float(sum(self.seconds.values()))


class LiveReenactor:
    """Reenact a prepared source frame by frame (see the module docstring).

    ``reenactor``: a :class:`~latentreenact.reenactor.Reenactor`; ``src``: its inverted source.
    ``smoothing``: the pose EMA factor in [0, 1) (default 0.5, as for videos); ``relative``: move
    the source by the motion since the first frame with a face (else against the source's pose);
    ``absolute_expression``: with ``relative``, the expression entries against the source's instead;
    ``follow_eyes``: the source's eyes open and close with the driving eyes, as in the video path (unsmoothed;
    frames without a face keep the last value; None: where the model can, True: required, False: off);
    ``follow_mouth``: the same for the driving mouth's inner-lip gap (``lips_apart``);
    ``expression_limit``: the bound on the source's expression plus Δp, as in the video path
    (:func:`~latentreenact.pose_delta.limit_expression`);
    ``paste_back``: paste the face into the source photo, scaled down to ``max_side`` pixels on its longer side
    (as in the video path; ``None``: the photo's size);
    ``track``: follow the face between detections, run every ``redetect_every`` frames.
    """

    def __init__(self, reenactor: Any, src: Source, *, smoothing: float = DEFAULT_SMOOTHING, relative: bool = True,
                 paste_back: bool = False, track: bool = True, redetect_every: int = 30,
                 absolute_expression: bool = False, follow_eyes: Optional[bool] = None,
                 follow_mouth: Optional[bool] = None, expression_limit: Optional[float] = EXPRESSION_LIMIT,
                 max_side: Optional[int] = OUTPUT_MAX_SIDE) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        check_expression_limit(expression_limit)  # here, not at the first face
        if reenactor.spec.k != src.p.shape[1]:
            raise ValueError(f"{src.name}: p has {src.p.shape[1]} entries, the reenactor's layout {reenactor.spec.k}")
        self.reenactor, self.src = reenactor, src
        self.smoothing, self.relative, self.paste_back = float(smoothing), bool(relative), bool(paste_back)
        self.track, self.absolute_expression = bool(track), bool(absolute_expression)
        self.follow_eyes, self.follow_mouth = follow_eyes, follow_mouth
        self.expression_limit = expression_limit
        self._source_pose = source_rescaled(reenactor, src)  # the bound's reference, fixed for this source
        self._canvas = canvas_source(src, max_side) if self.paste_back else src  # what the faces are pasted into
        self.tracker = FaceTracker(reenactor.detector, redetect_every=redetect_every if track else 1)
        self._idle: Optional[np.ndarray] = None
        self.reset()

    def reset(self) -> None:
        """Start over: the next frame with a face becomes the reference of the relative motion."""
        self.tracker.reset()
        self._raw: Optional[torch.Tensor] = None  # last measured pose [k]
        self._smoothed: Optional[torch.Tensor] = None
        self._reference: Optional[torch.Tensor] = None
        self._opening: Dict[str, float] = {}  # last measured opening per followed measure
        self._opening_reference: Dict[str, float] = {}
        self._off: Dict[str, bool] = {}  # the first face decided: not followed (off, or None and the model cannot)
        self.frames = 0

    def idle_frame(self) -> np.ndarray:
        """The output before any face was seen: the source at Δp = 0 (A's bias applied, as in the video path); the
        caller's own copy (rendered once), so that drawing on one frame does not mark the next."""
        if self._idle is None:
            zero = torch.zeros(1, self.reenactor.spec.k)
            face = self.reenactor.faces(self.src, zero, roll_region=roll_region_for(self.paste_back))[0]
            self._idle = compose(self._canvas, face, self.paste_back)
        return self._idle.copy()

    def _track_opening(self, follower: Follower, value: float) -> None:
        """Keep the latest opening of ``follower``'s measure (``follow_eyes``, ``follow_mouth``); the first face fixes
        the reference, or finds that it cannot be followed (ValueError when required; left out with None)."""
        wanted = getattr(self, follower.option)
        if wanted is False or self._off.get(follower.measure):
            return
        if follower.measure not in self._opening_reference:  # the first face decides, as the video path does
            against = follow_against_source(self.relative, self.absolute_expression)
            series, found = torch.tensor([value]), torch.tensor([True])
            if not can_follow(follower, wanted, self.reenactor, self.src, series, found, against):
                self._off[follower.measure] = True  # None: where the model can; it cannot
                return
            self._opening_reference[follower.measure] = opening_reference(
                series, found, self.src.info.get(f"{follower.measure}_opening"), against_source=against,
                what=f"{follower.measure} opening")
        if np.isfinite(value):
            self._opening[follower.measure] = value

    def _offset(self) -> Optional[torch.Tensor]:
        """The summed W+ offset of the controls that follow the last measured openings (None when none does)."""
        offset = None
        for measure, follower in FOLLOWERS.items():  # summed in the video path's order
            if measure not in self._opening:
                continue
            values = follow_values(follower, torch.tensor([self._opening[measure]]), self._opening_reference[measure],
                                   self.src)
            step = self.reenactor.control_series(follower.control, values)
            offset = step if offset is None else offset + step
        return offset

    def _aligned(self, rgb: np.ndarray, tracked: TrackedFace) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """The aligned crop of a found face and its transform; (None, None) for landmarks too degenerate to align."""
        try:
            return self.reenactor.crop(rgb, landmarks=tracked.landmarks)
        except ValueError:
            return None, None

    def step(self, frame: np.ndarray) -> LiveFrame:
        """Reenact one driving frame (uint8 RGB [H, W, 3]; other layouts are converted)."""
        seconds: Dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[stage] = now - clock
            clock = now

        rgb = as_rgb_uint8(frame, name=f"frame {self.frames}")
        self.frames += 1
        name = f"frame {self.frames - 1}"
        tracked = self.tracker(rgb, name=name)
        lap("landmarks")
        found = False
        if tracked is not None:
            crop, transform = self._aligned(rgb, tracked)
            lap("align")
            if crop is not None and not tracked.detected and not detect_faces(crop, self.reenactor.detector, 0):
                # the tracked face is gone (the landmark predictor answers on any box): search this frame again
                self.tracker.reset()
                tracked = self.tracker(rgb, name=name)
                crop, transform = self._aligned(rgb, tracked) if tracked is not None else (None, None)
            lap("check")
            if crop is not None:
                hint = [tracked.landmarks] if self.track else None  # tracked: no second detection in the crop
                measured = self.reenactor.measure_in_frame([crop], [transform], landmarks=hint)
                found = bool(measured.found[0])
                if found:
                    self._raw = measured.p[0]
                    for follower in FOLLOWERS.values():
                        self._track_opening(follower, float(getattr(measured, follower.measure)[0]))
                else:
                    self.tracker.reset()  # Net3D sees no face: the tracker has drifted off it
            lap("net3d")
        if self._raw is None:
            return LiveFrame(self.idle_frame(), found, bool(tracked and tracked.detected),
                             {**{s: 0.0 for s in STAGES}, **seconds})
        raw = self._raw
        self._smoothed = raw if self._smoothed is None else self.smoothing * self._smoothed + (1 - self.smoothing) * raw
        if self._reference is None:
            self._reference = motion_reference(self.reenactor.spec.names, self._smoothed[None], self.src,
                                               relative=self.relative, absolute_expression=self.absolute_expression)
        spec = self.reenactor.spec
        dp = spec.rescale(self._smoothed[None]) - spec.rescale(self._reference)
        dp = limit_expression(spec, dp, self._source_pose, self.expression_limit)
        face = self.reenactor.faces(self.src, dp, offset=self._offset(),
                                    roll_region=roll_region_for(self.paste_back))[0]
        lap("render")
        image = compose(self._canvas, face, self.paste_back)
        lap("compose")
        return LiveFrame(image, found, bool(tracked and tracked.detected),
                         {s: seconds.get(s, 0.0) for s in STAGES})
