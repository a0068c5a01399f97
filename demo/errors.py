"""The demo's own errors: what a user sees is always one of these, in our words, without server paths."""

from __future__ import annotations


class DemoInputError(ValueError):
    """An input the demo refuses (missing, unreadable, too large, no face, ...), with a message for the user."""


class DemoTimeoutError(DemoInputError):
    """A request that ran past the demo's time limit; its work was stopped."""


class DemoClosedError(DemoInputError):
    """A request that arrived, or was still running, while the demo shut down."""
