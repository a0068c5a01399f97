"""Per-source calibration: how far one inverted source's renders move per unit asked, read by the method's own
estimator (docs/driving.md, "Per-source pitch calibration" and "The mouth that follows").

- :func:`pose_gains`: the source rendered at -step and +step of each calibrated pose entry through A alone
  (:data:`~latentreenact.pose_delta.CALIBRATION_STEPS`: pitch and yaw) and read by the estimator; the gain is the
  measured change over the asked one. A driving Δp is divided by it (``Reenactor.calibrated``).
- :func:`pose_leaks`: the source rendered at -step and +step of each expression entry through A alone
  (:data:`~latentreenact.pose_delta.LEAK_STEP`) and read by the estimator; the head turn per unit of each
  entry (:data:`~latentreenact.pose_delta.LEAK_ANGLES`: yaw) is taken out of a driving Δp's angle before the
  gains divide it (``Reenactor.calibrated``).
- :func:`follower_gains`: the source rendered at 0 and at each follower's probe value of its W-space control
  (:data:`~latentreenact.driving_landmarks.FOLLOWERS`), its landmark opening read by the estimator; the gain
  scales how much of the control follows the driving face's opening.

Both render one batch and read it once; gains that cannot be measured are left out (logged), so that the
source is then moved as A or the control gives it.
"""

from __future__ import annotations

import logging
import math
from typing import Dict, Mapping, Optional, Protocol

import torch

from .driving_landmarks import FOLLOWERS, landmark_openings
from .face_meter import FaceMeter
from .images import resize_square
from .latent_controls import LATENT_CONTROLS
from .pose_delta import CALIBRATION_STEPS, calibration_deltas, gains_from_readings, leak_deltas, leaks_from_readings
from .reenact_video import FrameReenactor
from .source import Source

log = logging.getLogger(__name__)

__all__ = ["CalibratedRenderer", "follower_gains", "pose_gains", "pose_leaks"]


class CalibratedRenderer(FrameReenactor, Protocol):
    """A :class:`FrameReenactor` with the :class:`FaceMeter` that reads its renders. The calibration uses its
    renders (``faces``, ``control_series``, ``control_names``) and the meter's ``pose`` and ``estimate`` (a
    reenactor's own ``pose`` is not consulted)."""

    meter: FaceMeter


def pose_gains(renderer: CalibratedRenderer, src: Source,
               steps: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
    """The source's pose gains: for each entry of ``steps`` (default :data:`CALIBRATION_STEPS`; angles in degrees)
    in the layout, the change the estimator measures between renders edited by -step and +step through A alone,
    over 2 step. An entry whose renders the estimator cannot read, or whose gain is not positive, is left out
    (a warning names it)."""
    steps = CALIBRATION_STEPS if steps is None else steps
    meter = renderer.meter
    names, dp = calibration_deltas(meter.spec, src.p, steps)
    if not names:
        return {}
    renders = renderer.faces(src, dp, calibrate=False)  # A alone, as it is (no roll is asked)
    p, found = meter.pose([resize_square(r, meter.align_size) for r in renders])
    gains, failed = gains_from_readings(meter.spec, names, steps, p, found)
    for name, (both, gain) in failed.items():
        log.warning("%s: the %s calibration could not be measured (found %s, gain %.3g); it is left as A "
                    "gives it", src.name, name, both, gain)
    return gains


def pose_leaks(renderer: CalibratedRenderer, src: Source) -> Dict[str, Dict[str, float]]:
    """The source's leaks: for each angle of :data:`~latentreenact.pose_delta.LEAK_ANGLES` in the layout, the
    change the estimator measures between renders edited by -step and +step of each expression entry through A
    alone, over 2 step (rescaled units per rescaled unit), as ``{angle: {entry: leak}}``. Entries whose renders
    the estimator cannot read are left out (a warning names them)."""
    meter = renderer.meter
    names, dp = leak_deltas(meter.spec)
    if not names:
        return {}
    renders = renderer.faces(src, dp, calibrate=False)
    p, found = meter.pose([resize_square(r, meter.align_size) for r in renders])
    leaks = leaks_from_readings(meter.spec, names, p, found)
    for angle, per_entry in leaks.items():
        missing = [n for n in names if n not in per_entry]
        if missing:
            log.warning("%s: the %s turn of %s could not be measured; it is left as A gives it", src.name, angle,
                        ", ".join(missing))
    return leaks


def follower_gains(renderer: CalibratedRenderer, src: Source) -> Dict[str, float]:
    """How far the estimator's detected landmarks see this source's renders move per unit asked of each control
    that follows the driving face (:data:`FOLLOWERS`): the opening's change between renders at 0 and at the
    follower's ``probe`` value, times its sign, over ``probe * unit``, as ``{measure: gain}``. Controls the model
    lacks, and readings that are not positive, are left out (logged); nothing is rendered when the source's own
    openings are unknown (no detected landmarks: ``src.info`` has no ``{measure}_opening``)."""
    names = renderer.control_names()
    followers = [f for f in FOLLOWERS.values()
                 if f.control in names and isinstance(src.info.get(f"{f.measure}_opening"), float)]
    if not followers:
        return {}
    meter = renderer.meter
    probes = torch.cat([renderer.control_series(f.control, torch.tensor([f.probe])) for f in followers])
    offsets = torch.cat([torch.zeros_like(probes[:1]), probes])  # the source as it is, then each probe
    renders = renderer.faces(src, torch.zeros(len(offsets), meter.spec.k), calibrate=False, offset=offsets)
    readings = landmark_openings(meter.estimate([resize_square(r, meter.align_size) for r in renders]))
    gains: Dict[str, float] = {}
    for i, follower in enumerate(followers, 1):
        reading = getattr(readings, follower.measure)
        unit = LATENT_CONTROLS[follower.control].unit
        gain = follower.sign * float(reading[i] - reading[0]) / (follower.probe * unit)
        if math.isfinite(gain) and gain > 0:
            gains[follower.measure] = gain
        else:
            log.debug("%s: the %s calibration could not be measured (%s)", src.name, follower.measure,
                      [float(reading[0]), float(reading[i])])
    return gains
