"""Skip marker for the tests that need the judge's MediaPipe environment (``make judge-env``).

``LATENTREENACT_REQUIRE_JUDGE=1`` (set by ``make test``) turns the skip into a failure."""

from __future__ import annotations

import os

import pytest

from latentreenact.judge import INSTALL_HINT, judge_available

REQUIRED = os.environ.get("LATENTREENACT_REQUIRE_JUDGE") == "1"


def needs_judge() -> None:
    """Skip (or fail, when required) the calling test if the judge's helper environment is absent."""
    if judge_available():
        return
    message = f"the judge's MediaPipe environment is absent: {INSTALL_HINT}"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)
