"""The reenactment evaluation (``latentreenact eval reenact``) as one library call: clips from a
folder of videos or a pairs CSV, ours and the baselines, the scorer, and the run's metadata."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence

import numpy as np
import torch

from inversion.losses import sface_feature_loss

from ..identity.irse50 import load_irse50
from ..metrics.features import IdentityFeatures, TorchScriptFeatures
from ..perceptual import LPIPS
from ..reenactor import Reenactor
from .data import EvalClip, clips_from_videos, pair_clips, video_files
from .methods import IdentityBaseline, ReenactorMethod, WarpBaseline, dlib_landmarks
from .runner import EvalResult, evaluate
from .scoring import Scorer, dlib_face

#: the methods ``evaluate_reenactment`` knows: our reenactor and two baselines
METHODS = ("ours", "identity", "warp")


def _align(reenactor: Reenactor, frame: np.ndarray, name: str) -> Optional[np.ndarray]:
    return reenactor.driving_crop(frame, True, name)


def load_clips(data: Path, reenactor: Reenactor, mode: str = "both", frames: int = 8, seed: int = 0) -> List[EvalClip]:
    """Clips of a folder of videos (``mode`` self, cross or both; ``frames`` driving frames per video)
    or of a pairs CSV, aligned with the reenactor's driving crop."""
    align = functools.partial(_align, reenactor)
    if Path(data).is_dir():
        modes = ("self", "cross") if mode == "both" else (mode,)
        return clips_from_videos(video_files(data), frames, align, modes, seed)
    return pair_clips(data, align)


def choose_methods(reenactor: Reenactor, names: Sequence[str], tune: Optional[str] = None,
                   detector: str = "hog") -> List[Any]:
    """The methods named in ``names`` (see ``METHODS``), ours tuned with ``tune`` (``None``: untuned)."""
    chosen: List[Any] = []
    for name in names:
        if name == "ours":
            label = "ours (latentreenact)" if tune is None else f"ours (latentreenact, tuned: {tune})"
            chosen.append(ReenactorMethod(reenactor, name=label, tune=tune))
        elif name == "identity":
            chosen.append(IdentityBaseline())
        else:
            chosen.append(WarpBaseline(dlib_landmarks(detector)))
    return chosen


def evaluate_reenactment(data: Path, reenactor: Reenactor, *, mode: str = "both", frames: int = 8,
                         methods: Sequence[str] = METHODS, tune: Optional[str] = None, detector: str = "hog",
                         identity_weights: Optional[Path] = None, lpips_backbone: Optional[Path] = None,
                         fid_features: Optional[Path] = None, device: torch.device = torch.device("cpu"),
                         seed: int = 0, model: str = "default", progress: bool = False,
                         start: Optional[float] = None) -> EvalResult:
    """Score ``methods`` on the clips of ``data`` (a folder of videos or a pairs CSV).

    ``identity_weights`` (IR-SE50) replaces SFace for CSIM, ``lpips_backbone`` adds LPIPS and
    ``fid_features`` (a TorchScript Inception) adds FID. ``result.meta`` records the run; its
    ``seconds`` count from ``start`` (a ``time.perf_counter()`` value; default: the call).
    """
    start = time.perf_counter() if start is None else start
    clips = load_clips(data, reenactor, mode, frames, seed)
    face = dlib_face(detector)
    chosen = choose_methods(reenactor, methods, tune, detector)
    lpips = None
    if lpips_backbone is not None:
        lpips = LPIPS.load(lpips_backbone).to(device).eval()
    if identity_weights is not None:
        identity = IdentityFeatures(load_irse50(identity_weights, device), device=device,
                                    name="identity-embedding (ir-se50)", crop="e4e")
    else:
        identity = IdentityFeatures(device=device)
    scorer = Scorer(reenactor.estimator, reenactor.spec.names, identity, face,
                    perceptual=sface_feature_loss(device), lpips=lpips,
                    fid_features=None if fid_features is None else TorchScriptFeatures(fid_features, device=device),
                    device=device)
    result = evaluate(clips, chosen, scorer, progress=progress)
    result.meta = {"data": str(data), "mode": mode, "frames_per_video": frames, "methods": [m.name for m in chosen],
                   "model": model, "tune": "none" if tune is None else tune, "seed": seed, "device": str(device),
                   "clips": len(clips), "identity": identity.name, "lpips": lpips is not None,
                   "fid": fid_features is not None, "seconds": round(time.perf_counter() - start, 1),
                   "warp_fallbacks": sum(getattr(m, "fallbacks", 0) for m in chosen)}
    return result
