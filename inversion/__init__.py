"""inversion: the e4e encoder (``load_encoder``), the latent projector (``project``) and pivotal
tuning (``tune``, presets in ``PRESETS``).

Nothing is loaded at import: :func:`load_encoder` reads a checkpoint only when called, and the
default perceptual loss (SFace features) is built only when a projection or tuning run starts.
"""

from .e4e import E4EEncoder
from .loading import build_encoder, load_encoder
from .losses import default_perceptual_loss, noise_regularization, normalize_noise_, sface_feature_loss
from .projector import ProjectionResult, project
from .pti import PRESETS, TuningPreset, TuningResult, select_parameters, tune

__all__ = [
    "E4EEncoder", "PRESETS", "ProjectionResult", "TuningPreset", "TuningResult", "build_encoder",
    "default_perceptual_loss", "load_encoder", "noise_regularization", "normalize_noise_", "project",
    "sface_feature_loss", "select_parameters", "tune",
]
