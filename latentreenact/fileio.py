"""File I/O shared by every layer: atomic writing (a file, or a folder of outputs, appears complete
under its final name, or not at all), the safe reading of ``torch.save`` files, and the error for a file of the wrong format."""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Union

import torch

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["CheckpointFormatError", "UnsafePickleError", "atomic_path", "read_torch_file", "staged_directory",
           "write_outputs"]


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


@contextlib.contextmanager
def staged_directory(output: Path) -> Iterator[Path]:
    """Yield a staging folder beside ``output``; on success move its files into ``output``
    (created if needed), on failure delete it, leaving ``output`` untouched."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"output {output} exists and is not a directory")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the final folder gets the usual mode
    try:
        yield staging
        if not output.exists():
            os.replace(staging, output)
        else:
            for item in sorted(staging.iterdir()):
                os.replace(item, output / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_outputs(output: Path, writers: Dict[str, Callable[[Path], Any]]) -> None:
    """Run ``writers[name](path)`` for every file inside a staging folder, then move them into ``output``."""
    with staged_directory(output) as staging:
        for name, write in writers.items():
            write(staging / name)
