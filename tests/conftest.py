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


@pytest.fixture(scope="session")
def face_photos_dir(tmp_path_factory) -> Path:
    """A folder holding every named face test photo (``fixtures/face_photos.py``) as ``<name>.png``.

    The photos are built in memory from the committed files; this writes them losslessly for the
    tests that need files on disk (the CLI tests)."""
    from fixtures.face_photos import write_photos

    return write_photos(tmp_path_factory.mktemp("face_photos"))


@pytest.fixture()
def one_thread():
    """Tiny convolutions run much faster on one thread than on two contended ones."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
