"""The demo's live mode: a prepared source driven by the browser's camera, frame by frame.

The source is prepared (inverted and tuned, cached by :class:`demo.session.DemoSession`) by an
explicit request first; camera frames then go through :class:`latentreenact.live.LiveReenactor`
one at a time, never inverting anything. :class:`LiveState` is one browser tab's state: its
reenactor (started again when the source or the settings change) and its frame rates: the
server's work per frame, and the rate at which results leave the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple

import numpy as np

from latentreenact.live import STAGES, LiveReenactor

from .uploads import check_array

if TYPE_CHECKING:
    from .session import DemoSession, ImageUpload

#: weight of the newest frame in the frame-rate averages
RATE_SMOOTHING = 0.2
STAGE_LABELS = {"landmarks": "landmarks", "align": "align", "check": "check", "net3d": "Net3D", "render": "render",
                "compose": "compose"}


def follow_setting(checked: bool) -> Optional[bool]:
    """A "follow the driving eyes / mouth" box as the option takes it: checked, where the model can (None);
    unchecked, off (False)."""
    return None if checked else False


@dataclass
class LiveState:
    """One browser tab's live stream: which source it drives (``key``), its reenactor and counters."""

    key: Tuple[Any, ...]
    live: LiveReenactor
    frames: int = 0
    found: int = 0
    interval_s: float = 0.0  # average seconds between results
    stages_s: dict = field(default_factory=dict)  # average seconds per stage
    last_end: Optional[float] = None

    @property
    def work_s(self) -> float:
        """Average seconds of work per frame (the stages' averages add up to it: the averages are linear)."""
        return float(sum(self.stages_s.values()))

    def record(self, seconds: dict, found: bool, end: float) -> None:
        """Count one frame: its stage times, whether it had a face, when it left."""
        self.frames += 1
        self.found += int(found)
        for stage, value in seconds.items():
            before = self.stages_s.get(stage, value)
            self.stages_s[stage] = (1 - RATE_SMOOTHING) * before + RATE_SMOOTHING * value
        if self.last_end is not None:
            gap = end - self.last_end
            self.interval_s = gap if self.interval_s == 0.0 else (1 - RATE_SMOOTHING) * self.interval_s \
                + RATE_SMOOTHING * gap
        self.last_end = end

    def line(self) -> str:
        """The status line the page shows under the live result."""
        work = 1.0 / self.work_s if self.work_s > 0 else 0.0
        shown = f"{1.0 / self.interval_s:.1f}" if self.interval_s > 0 else "-"
        stages = ", ".join(f"{STAGE_LABELS[s]} {1000 * self.stages_s.get(s, 0.0):.0f}" for s in STAGES)
        return (f"**{shown} frames/s shown**; the server's work: {work:.1f} frames/s "
                f"({1000 * self.work_s:.0f} ms per frame: {stages} ms); "
                f"face found in {self.found} of {self.frames} frames")


def live_step(session: "DemoSession", state: Optional[LiveState], frame: Optional[np.ndarray],
              image: "ImageUpload", tune: Optional[str], tune_steps: Optional[int], paste_back: bool,
              extras: Sequence["ImageUpload"] = (), follow_eyes: bool = True,
              follow_mouth: bool = True) -> Tuple[Optional[np.ndarray], str, Optional[LiveState]]:
    """Reenact one camera frame with the prepared source: (output frame, status line, new state).
    ``follow_eyes`` / ``follow_mouth``: follow the camera face's eyes / mouth where the model can (off: not).
    Raises :class:`~demo.errors.DemoInputError` when the source was not prepared with these settings."""
    if frame is None:
        return None, state.line() if state is not None else "waiting for the camera", state
    frame = check_array(frame, "camera frame", session.limits.max_image_pixels)
    src, key = session.prepared_source(image, tune, tune_steps, extras)
    key = (*key, bool(paste_back), bool(follow_eyes), bool(follow_mouth))
    if state is None or state.key != key:
        state = LiveState(key, LiveReenactor(session.reenactor, src, paste_back=paste_back,
                                             follow_eyes=follow_setting(follow_eyes),
                                             follow_mouth=follow_setting(follow_mouth)))
    with session.model_lock():
        step = state.live.step(frame)
    state.record(step.seconds, step.found, time.perf_counter())
    return step.image, state.line(), state
