"""inversion: the e4e encoder (``load_encoder``); the latent projector and PTI follow in later milestones.

Nothing is loaded at import: :func:`load_encoder` reads a checkpoint only when called.
"""

from .e4e import E4EEncoder
from .loading import build_encoder, load_encoder

__all__ = ["E4EEncoder", "build_encoder", "load_encoder"]
