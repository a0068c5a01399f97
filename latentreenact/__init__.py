"""latentreenact: one-shot face reenactment by learned directions in StyleGAN2's latent space.

Public entry points are imported lazily so that ``import latentreenact`` (and the CLI's
``--help``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_generator": ("latentreenact.checkpoints.loading", "load_generator"),
    "save_generator": ("latentreenact.checkpoints.loading", "save_generator"),
    "StyleGAN2Generator": ("latentreenact.models.stylegan2", "StyleGAN2Generator"),
    "StyleGAN2Discriminator": ("latentreenact.models.discriminator", "StyleGAN2Discriminator"),
    "Reenactor": ("latentreenact.reenactor", "Reenactor"),
    "ReenactOptions": ("latentreenact.reenact_video", "ReenactOptions"),
    "LiveReenactor": ("latentreenact.live", "LiveReenactor"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'latentreenact' has no attribute {name!r}")
