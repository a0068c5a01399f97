"""Exceptions raised by the checkpoint readers (defined in :mod:`latentreenact.fileio`)."""

from __future__ import annotations

from ..fileio import CheckpointFormatError, UnsafePickleError

__all__ = ["CheckpointFormatError", "UnsafePickleError"]
