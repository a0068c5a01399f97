"""The driving face's eye opening, and the ``eyes_closed`` control values that make the source follow it.

The 3D face model's expressions cannot close the eyes (docs/editing.md), so a driving blink never reaches the
pose vector. With ``ReenactOptions(follow_eyes=True)`` the eye aspect ratio of the driving face's dlib 68
landmarks (:func:`latentreenact.faces.measures.eye_opening_68`; the landmark-fitting estimators, the default
``bfm-rigid`` among them, detect them anyway) is filled (not smoothed: a blink lasts a frame or two) and turned
into per-frame ``eyes_closed`` values (:func:`latentreenact.reenact_video.eye_track`):
``-(eye_t - eye_ref) / unit / gain``, with ``eye_ref`` from :func:`eye_reference` (the first driving frame's for
relative driving, else the source's own) and ``gain`` how far this source's renders close per unit asked
(``Reenactor.calibrate_eyes``, measured with the same landmarks at inversion).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import torch

from .faces.measures import eye_opening_68

__all__ = ["DrivingMeasurement", "eye_openings", "eye_reference"]


class DrivingMeasurement(NamedTuple):
    """Driving frames measured: raw pose vectors ``p`` [N, k] (NaN rows without a face), ``found`` [N], and the
    eye opening ``eye`` [N] (NaN where unknown)."""

    p: torch.Tensor
    found: torch.Tensor
    eye: torch.Tensor


def eye_openings(params: Any) -> torch.Tensor:
    """Eye aspect ratio [N] of the landmarks an estimator detected (``params.extras["detected_landmarks"]``
    [N, 68, 2]); NaN for faces not found, and for every face with estimators that report no such landmarks."""
    found = params.found.detach().cpu().bool()
    detected = (getattr(params, "extras", None) or {}).get("detected_landmarks")
    if detected is None:
        return torch.full((len(found),), math.nan)
    eye = torch.as_tensor(eye_opening_68(detected.detach().cpu().numpy()), dtype=torch.float32)
    return torch.where(found & torch.isfinite(eye), eye, torch.full_like(eye, math.nan))


def eye_reference(eye: torch.Tensor, found: torch.Tensor, source_eye: Optional[float], *, against_source: bool
                  ) -> float:
    """The eye opening the driving series is taken against: the source's (``against_source``) or the first
    driving frame's with a face and a value."""
    if against_source:
        if source_eye is None or not math.isfinite(source_eye):
            raise ValueError("the source's eye opening is unknown (invert it with a landmark-fitting estimator such "
                             "as bfm-rigid), so the driving eyes cannot be taken against it")
        return float(source_eye)
    usable = torch.nonzero(found.bool() & torch.isfinite(eye)).flatten()
    if len(usable) == 0:
        raise ValueError("the driving eye opening is unknown on every frame (the estimator reports no detected "
                         "landmarks; follow_eyes needs a landmark-fitting estimator such as bfm-rigid)")
    return float(eye[int(usable[0])])
