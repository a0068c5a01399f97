"""File I/O shared by every layer: atomic writing (a file appears complete under its final name, or
not at all), the safe reading of ``torch.save`` files, and the error for a file of the wrong format."""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, Union

import torch

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["CheckpointFormatError", "UnsafePickleError", "atomic_path", "read_torch_file"]


class CheckpointFormatError(ValueError):
    """A checkpoint file is unreadable or does not hold the expected layout."""


class UnsafePickleError(CheckpointFormatError):
    """A pickle asked for something the restricted unpickler refuses (code execution, I/O)."""


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it.

    The temporary name keeps the final suffix so writers that pick a format from it work.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f"{final.suffix}.part{final.suffix}",
                               dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def read_torch_file(path: PathLike, *, mmap: bool = False) -> Any:
    """``torch.load`` restricted to tensors, containers and ``argparse.Namespace`` (``mmap``: map the
    file instead of reading it). The one place the project calls ``torch.load`` on a file.

    Raises :class:`CheckpointFormatError` for truncated, corrupt or code-carrying files.
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise CheckpointFormatError(f"{path}: the file is empty")
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            raise CheckpointFormatError(f"{path}: truncated or corrupt PyTorch checkpoint (broken zip archive)")
    elif not head.startswith(b"\x80"):
        raise CheckpointFormatError(f"{path}: not a checkpoint (neither a PyTorch zip archive nor a pickle)")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, KeyError) as exc:
        raise CheckpointFormatError(f"{path}: cannot read as a PyTorch checkpoint ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
