"""File I/O shared by every layer: atomic writing (a file, or a folder of outputs, appears complete
under its final name, or not at all), the safe reading of ``torch.save`` files, and the error for a file of the wrong format."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Type, Union

import torch

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["CheckpointFormatError", "OutputNotWritableError", "UnsafePickleError", "atomic_path", "nearest_existing",
           "check_format", "read_format_file", "read_torch_file", "staged_directory", "update_with_state",
           "write_outputs"]


class CheckpointFormatError(ValueError):
    """A checkpoint file is unreadable or does not hold the expected layout."""


class UnsafePickleError(CheckpointFormatError):
    """A pickle asked for something the restricted unpickler refuses (code execution, I/O)."""


class OutputNotWritableError(OSError):
    """An output that cannot be written: an unwritable folder, a file in the way, a directory where a
    file should go, a full disk. An ``OSError`` (never a ``FileNotFoundError``) whose message names the
    output the caller asked for, not a temporary file."""


def _not_writable(final: Path, exc: OSError, *temporary: Path, folder: Optional[Path] = None) -> OutputNotWritableError:
    """``exc`` as an :class:`OutputNotWritableError` naming ``final`` (temporary names replaced by it;
    ``folder``: the temporary file could not be created there)."""
    if isinstance(exc, OutputNotWritableError):
        return exc
    text = exc.strerror or str(exc) or type(exc).__name__
    if folder is not None:
        text = f"{folder} is not writable ({text})"
    elif exc.filename is not None and exc.strerror and Path(exc.filename) not in (final, *temporary):
        text += f": {exc.filename}"  # the folder or file in the way
    for tmp in temporary:
        text = text.replace(str(tmp), str(final))
    error = OutputNotWritableError(f"cannot write {final}: {text}")
    error.errno = exc.errno
    return error


def _mentions(exc: BaseException, paths: Iterable[Path]) -> bool:
    """Whether an exception is about one of ``paths`` (its ``filename`` or its message)."""
    names = [str(p) for p in paths]
    filename = getattr(exc, "filename", None)
    return (filename is not None and str(filename) in names) or any(n in str(exc) for n in names)


def nearest_existing(path: PathLike) -> Path:
    """``path`` made absolute, or its nearest ancestor that exists (a file or a directory)."""
    existing = Path(os.path.abspath(path))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def _make_parent(final: Path) -> None:
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way (FileExistsError, NotADirectoryError), permissions
        blocker = nearest_existing(final.parent)
        if not blocker.is_dir():
            raise OutputNotWritableError(f"cannot write {final}: {blocker} is a file, not a directory") from exc
        raise _not_writable(final, exc) from exc


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it.

    The temporary name keeps the final suffix so writers that pick a format from it work. An
    ``OSError`` about the temporary file (creating, writing or renaming it) is raised as an
    :class:`OutputNotWritableError` naming ``path``.
    """
    final = Path(path)
    _make_parent(final)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f"{final.suffix}.part{final.suffix}",
                                   dir=final.parent)
    except OSError as exc:
        raise _not_writable(final, exc, folder=final.parent) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual mode
    try:
        try:
            yield tmp_path
        except OSError as exc:
            if _mentions(exc, [tmp_path]):
                raise _not_writable(final, exc, tmp_path) from exc
            raise
        try:
            os.replace(tmp_path, final)
        except OSError as exc:  # e.g. a directory of that name
            raise _not_writable(final, exc, tmp_path) from exc
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
        text = str(exc)
        if "Weights only load failed" in text:  # pickled objects: loading them could run their code
            found = re.search(r"GLOBAL ([\w.]+)", text)
            raise CheckpointFormatError(
                f"{path}: holds pickled Python objects{f' ({found.group(1)})' if found else ''}, e.g. a whole model "
                "saved with torch.save(model); they are not loaded, since unpickling can run code: save "
                "model.state_dict() instead") from exc
        raise CheckpointFormatError(f"{path}: cannot read as a PyTorch checkpoint ({type(exc).__name__}: "
                                    f"{text.splitlines()[0] if text else ''})") from exc


def check_format(obj: Any, path: PathLike, fmt: str, version: int, what: str,
                 error: Type[ValueError] = CheckpointFormatError) -> Dict[str, Any]:
    """``obj`` when it is a dict of format ``fmt`` (its ``"format"`` key) and version ``version`` (its
    ``"format_version"``); else ``error`` naming the file ``path``, ``what`` it should be (e.g.
    ``"Net3D regressor file"``) and the versions."""
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise error(f"{path}: not a {what} (format {fmt!r})")
    if obj.get("format_version") != version:
        raise error(f"{path}: {what} format version {obj.get('format_version')!r} is not supported "
                    f"(this version reads {version})")
    return obj


def read_format_file(path: PathLike, fmt: str, version: int, what: str) -> Dict[str, Any]:
    """A ``torch.save`` dict of format ``fmt`` and version ``version`` (:func:`read_torch_file`, then
    :func:`check_format`; :class:`CheckpointFormatError` naming the file otherwise)."""
    return check_format(read_torch_file(path), path, fmt, version, what)


@contextlib.contextmanager
def staged_directory(output: Path) -> Iterator[Path]:
    """Yield a staging folder beside ``output``; on success move its files into ``output``
    (created if needed), on failure delete it, leaving ``output`` untouched."""
    if output.exists() and not output.is_dir():
        raise OutputNotWritableError(f"cannot write the output directory {output}: a file of that name exists")
    _make_parent(output)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    except OSError as exc:
        raise _not_writable(output, exc, folder=output.parent) from exc
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the final folder gets the usual mode
    try:
        yield staging
        try:
            if not output.exists():
                os.replace(staging, output)
            else:
                for item in sorted(staging.iterdir()):
                    os.replace(item, output / item.name)
        except OSError as exc:
            raise _not_writable(output, exc, staging) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_outputs(output: Path, writers: Dict[str, Callable[[Path], Any]]) -> None:
    """Run ``writers[name](path)`` for every file inside a staging folder, then move them into ``output``."""
    with staged_directory(output) as staging:
        for name, write in writers.items():
            write(staging / name)


def update_with_state(digest: Any, module: torch.nn.Module, prefix: str = "") -> None:
    """Feed a module's tensors to a ``hashlib`` digest, by name in sorted order (each name, with ``prefix``, then
    the tensor's bytes): how a run's generator and a prepared source's models are fingerprinted."""
    state = module.state_dict()
    for key in sorted(state):
        digest.update(f"{prefix}{key}".encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())


def file_digest(path: Union[str, "os.PathLike[str]"], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
