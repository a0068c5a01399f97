"""Exceptions raised by the checkpoint readers."""

from __future__ import annotations


class CheckpointFormatError(ValueError):
    """A checkpoint file is unreadable or does not hold the expected layout."""


class UnsafePickleError(CheckpointFormatError):
    """A pickle asked for something the restricted unpickler refuses (code execution, I/O)."""
