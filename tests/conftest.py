"""Shared fixtures: paths to the team's golden files."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT.parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """``../shared/golden`` beside the project root (required: CI provides it)."""
    if not GOLDEN.is_dir():
        pytest.fail(f"golden reference files not found at {GOLDEN}: the tests need ../shared/golden")
    return GOLDEN
