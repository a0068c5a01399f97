"""The driving face's eye and mouth opening, and the W-space control values that make the source follow them.

The 3D face model's expressions cannot close the eyes (docs/editing.md), and A's expression columns open the
mouth only partly and nod the head with it (docs/driving.md). So the openings of the driving face's dlib 68
landmarks (:mod:`latentreenact.faces.measures`; the landmark-fitting estimators, the default ``bfm-rigid``
among them, detect them anyway) also drive W-space controls (:mod:`latentreenact.latent_controls`), one
:class:`Follower` each: the eye aspect ratio drives ``eyes_closed`` (``ReenactOptions(follow_eyes=...)``), the
inner-lip gap ``lips_apart`` (``follow_mouth``). Per frame the value is
``sign * share * (m_t - m_ref) / unit / gain`` (:func:`latentreenact.reenact_video.follow_track`): ``m_ref``
from :func:`opening_reference` (the first driving frame's for relative driving, else the source's own),
``gain`` how far this source's renders move per unit asked (``Reenactor.calibrate_followers``, measured with the
same landmarks at inversion), ``share`` the part of the driving change the control is asked for (for the mouth
0.35: the pose vector's expression entries open it too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional, Tuple

import torch

from .faces.measures import eye_opening_68, mouth_opening_68

#: the openings measured on a face's 68 detected landmarks, by name (:func:`landmark_openings`)
OPENINGS = {"eye": eye_opening_68, "mouth": mouth_opening_68}

__all__ = ["DrivingMeasurement", "FOLLOWERS", "Follower", "OPENINGS", "Openings", "landmark_openings",
           "opening_reference"]


class DrivingMeasurement(NamedTuple):
    """Driving frames measured: raw pose vectors ``p`` [N, k] (NaN rows without a face), ``found`` [N], and the
    eye opening ``eye`` and inner-lip gap ``mouth`` [N] (NaN where unknown)."""

    p: torch.Tensor
    found: torch.Tensor
    eye: torch.Tensor
    mouth: torch.Tensor


@dataclass(frozen=True)
class Follower:
    """A landmark measure of the driving face followed by a W-space control.

    ``measure``: ``eye`` or ``mouth`` (the :class:`DrivingMeasurement` field; the source's ``info`` keys
    ``{measure}_opening`` and ``{measure}_gain``); ``control``: the W-space control; ``option``: the
    ``ReenactOptions`` field that turns it on; ``sign``: -1 when the control lowers the measure; ``share``: the
    part of the driving change the control is asked for; ``limits``: the values it may be asked; ``probe``: the
    control value the source's gain is measured at (against 0)."""

    measure: str
    control: str
    option: str
    sign: float
    share: float
    limits: Tuple[float, float]
    probe: float


#: Eyes: the whole change (the pose vector carries none of it). Mouth: 0.35 of it, on top of A's expression
#: columns, which give the mouth 0.35-0.93 of the driving opening on their own; the whole change on top
#: overshot (judged mouth gain 2.07 on biden_blue_room), 0.5 still did on two of eight runs (1.59, 1.71), 0.35
#: kept the eight runs whose driving mouth opens within 0.78-1.49 (docs/driving.md).
FOLLOWERS: Dict[str, Follower] = {f.measure: f for f in (
    Follower("eye", "eyes_closed", "follow_eyes", -1.0, 1.0, (-0.4, 1.6), 1.0),
    Follower("mouth", "lips_apart", "follow_mouth", 1.0, 0.35, (-0.5, 3.0), 2.0),
)}


class Openings(NamedTuple):
    """The eye aspect ratio ``eye`` and inner-lip gap ``mouth`` [N] of detected landmarks (NaN where unknown); the
    field names are :class:`DrivingMeasurement`'s and the followers' measures."""

    eye: torch.Tensor
    mouth: torch.Tensor


def landmark_openings(params: Any) -> Openings:
    """:class:`Openings` of the landmarks an estimator detected (``params.extras["detected_landmarks"]``
    [N, 68, 2], measured by :data:`OPENINGS`); NaN for faces not found, and for every face with estimators that
    report no such landmarks."""
    found = params.found.detach().cpu().bool()
    detected = (getattr(params, "extras", None) or {}).get("detected_landmarks")
    if detected is None:
        return Openings(*(torch.full((len(found),), math.nan) for _ in Openings._fields))
    points = detected.detach().cpu().double().numpy()
    out = []
    for name in Openings._fields:
        value = torch.as_tensor(OPENINGS[name](points), dtype=torch.float32)
        out.append(torch.where(found & torch.isfinite(value), value, torch.full_like(value, math.nan)))
    return Openings(*out)


def opening_reference(series: torch.Tensor, found: torch.Tensor, source_value: Optional[float], *,
                      against_source: bool, what: str = "eye opening") -> float:
    """The opening the driving series is taken against: the source's (``against_source``) or the first driving
    frame's with a face and a value; ``what`` names the measure in the errors."""
    if against_source:
        if source_value is None or not math.isfinite(source_value):
            raise ValueError(f"the source's {what} is unknown (invert it with a landmark-fitting estimator such as "
                             "bfm-rigid), so the driving face cannot be taken against it")
        return float(source_value)
    usable = torch.nonzero(found.bool() & torch.isfinite(series)).flatten()
    if len(usable) == 0:
        raise ValueError(f"the driving {what} is unknown on every frame (the estimator reports no detected "
                         "landmarks; following it needs a landmark-fitting estimator such as bfm-rigid)")
    return float(series[int(usable[0])])
