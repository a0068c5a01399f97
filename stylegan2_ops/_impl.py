"""Choice between the CUDA plugin and the PyTorch implementation of an op."""

from __future__ import annotations

import os

import torch

IMPL_ENV = "LATENTREENACT_OPS_IMPL"
_CHOICES = ("auto", "cuda", "torch")


def resolve_impl(impl: str, x: torch.Tensor, plugin: str) -> str:
    """Return ``"cuda"`` or ``"torch"`` for a call of an op on ``x``.

    ``impl="auto"`` may be overridden by the ``LATENTREENACT_OPS_IMPL`` environment variable.
    ``"cuda"`` on a CPU tensor is an error; ``"cuda"`` or ``"auto"`` on a CUDA tensor falls back
    to PyTorch (with one warning, issued by the plugin loader) when the plugin cannot be built.
    """
    if impl not in _CHOICES:
        raise ValueError(f"impl must be one of {_CHOICES}, got {impl!r}")
    if impl == "auto":
        env = os.environ.get(IMPL_ENV, "auto").strip().lower() or "auto"
        if env not in _CHOICES:
            raise ValueError(f"{IMPL_ENV} must be one of {_CHOICES}, got {env!r}")
        impl = env
        if impl == "cuda" and not x.is_cuda:
            impl = "torch"  # the override forces CUDA for CUDA tensors only
    if impl == "torch":
        return "torch"
    if not x.is_cuda:
        if impl == "cuda":
            raise ValueError(f"impl='cuda' needs a CUDA tensor, got one on {x.device}")
        return "torch"
    from ._plugin import load_plugin

    return "cuda" if load_plugin(plugin) is not None else "torch"
