"""What the project writes and where: the file suffixes of each kind of output (and the codecs of
each video container), and :func:`check_output`, which commands call before any work starts so
that a bad output path fails at once instead of after the compute.

Kinds (``OUTPUT_SUFFIXES``): ``image``, ``video`` (containers of ``VIDEO_CODECS`` and ``.gif``),
``gif``, ``table`` (a text table), ``ranges`` (``.npy``), ``checkpoint`` (``.pt``) and
``directory`` (any name).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Dict, Sequence, Tuple

from .fileio import OutputNotWritableError, PathLike, nearest_existing

__all__ = ["DIRECTORY", "IMAGE_FORMATS", "OUTPUT_SUFFIXES", "OutputIsInputError", "OutputNotWritableError",
           "UnsupportedOutputError", "VIDEO_CODECS", "check_none_is_input", "check_not_input", "check_output",
           "output_kind", "writable_directory"]

#: image suffix -> Pillow format name (only formats that hold 8-bit RGB without surprises)
IMAGE_FORMATS: Dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                                 ".tif": "TIFF", ".tiff": "TIFF"}
#: video container suffix -> (video codec, audio codec) of the ffmpeg shipped by imageio-ffmpeg;
#: ``.gif`` is written by Pillow and has no codec here
VIDEO_CODECS: Dict[str, Tuple[str, str]] = {".mp4": ("libx264", "aac"), ".mov": ("libx264", "aac"),
                                            ".mkv": ("libx264", "aac"), ".webm": ("libvpx-vp9", "libopus")}
DIRECTORY = "directory"
OUTPUT_SUFFIXES: Dict[str, Tuple[str, ...]] = {
    "image": tuple(IMAGE_FORMATS),
    "video": (*VIDEO_CODECS, ".gif"),
    "gif": (".gif",),
    "table": (".md", ".txt"),
    "ranges": (".npy",),
    "checkpoint": (".pt",),
    "source": (".lrsource",),
    DIRECTORY: (),
}
_KIND_NAMES = {"image": "an image file", "video": "a video file", "gif": "a GIF", "table": "a text table",
               "ranges": "a ranges file", "checkpoint": "a checkpoint", "source": "a prepared source",
               DIRECTORY: "a directory"}


class UnsupportedOutputError(ValueError):
    """An output path whose suffix is not one we write for that kind of output."""


class OutputIsInputError(UnsupportedOutputError):
    """An output path that names one of the command's inputs: writing it would destroy that input."""


def _same_path(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)  # links and hard links included
    return a.resolve() == b.resolve()


def _overwrites(output: Path, item: PathLike) -> OutputIsInputError:
    """The error for an output that is the input ``item``."""
    return OutputIsInputError(f"the output {output} is the input {item}; writing it would overwrite that input: "
                              "choose another output path")


def check_not_input(output: PathLike, *inputs: PathLike) -> None:
    """Before any work: :class:`OutputIsInputError` when ``output`` is one of ``inputs`` (the same file or folder,
    also through a link), which the command would overwrite."""
    out = Path(output)
    for item in inputs:
        if _same_path(out, Path(item)):
            raise _overwrites(out, item)


def check_none_is_input(outputs: Sequence[PathLike], inputs: Sequence[PathLike]) -> None:
    """:func:`check_not_input` for many outputs and inputs at once (the files a command writes into a folder), in
    one pass: only outputs that exist can be an input, and they are compared by file identity (device and inode,
    through links, as ``os.path.samefile``)."""
    existing = [Path(out) for out in outputs if Path(out).exists()]
    if not existing:
        return
    identities = {}
    for item in inputs:
        with contextlib.suppress(FileNotFoundError):
            stat = Path(item).stat()
            identities.setdefault((stat.st_dev, stat.st_ino), item)
    for out in existing:
        stat = out.stat()
        item = identities.get((stat.st_dev, stat.st_ino))
        if item is not None:
            raise _overwrites(out, item)


def output_kind(path: PathLike, *kinds: str) -> str:
    """Which of ``kinds`` the output ``path`` is: ``directory`` for an existing directory or a name
    without a suffix (when allowed), else the first kind that lists its suffix.

    Raises :class:`UnsupportedOutputError` naming ``path`` and the suffixes allowed."""
    unknown = [k for k in kinds if k not in OUTPUT_SUFFIXES]
    if not kinds or unknown:
        raise ValueError(f"unknown output kind(s) {unknown or kinds}; choose from {', '.join(OUTPUT_SUFFIXES)}")
    path = Path(path)
    if DIRECTORY in kinds and (len(kinds) == 1 or path.is_dir() or not path.suffix):
        return DIRECTORY
    suffix = path.suffix.lower()
    for kind in kinds:
        if suffix in OUTPUT_SUFFIXES[kind]:
            return kind
    allowed = [s for k in kinds for s in OUTPUT_SUFFIXES[k]]
    what = " or ".join(_KIND_NAMES[k] for k in kinds)
    raise UnsupportedOutputError(f"cannot write {what} to {path}: {f'suffix {suffix!r}' if suffix else 'no suffix'} "
                                 f"is not supported; use {', '.join(dict.fromkeys(allowed))}")


def writable_directory(folder: PathLike, output: PathLike) -> Path:
    """The nearest existing folder at or above ``folder``, checked writable by creating and deleting
    a file in it; :class:`OutputNotWritableError` naming ``output`` when a file is in the way or the
    folder cannot be written. Nothing is created on the way."""
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise OutputNotWritableError(f"cannot write {output}: {existing} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".latentreenact-write-test.", dir=existing)
    except OSError as exc:
        raise OutputNotWritableError(f"cannot write {output}: {existing} is not writable "
                                     f"({exc.strerror or type(exc).__name__})") from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return existing


def check_output(path: PathLike, *kinds: str) -> str:
    """Check, before any work, that the output ``path`` can be written as one of ``kinds``; return the
    kind it is (see :func:`output_kind`).

    A file output must have a supported suffix (:class:`UnsupportedOutputError`) and must not be an
    existing directory; a directory output must not be an existing file; and the nearest existing
    folder on its path (and an existing output directory) must be a writable directory
    (:class:`OutputNotWritableError`). Missing folders are not created here."""
    path = Path(path)
    kind = output_kind(path, *kinds)
    if kind == DIRECTORY:
        if path.exists() and not path.is_dir():
            raise OutputNotWritableError(f"cannot write the output directory {path}: a file of that name exists")
        writable_directory(path.parent, path)  # outputs are staged beside the directory
        if path.is_dir():
            writable_directory(path, path)
        return kind
    if path.is_dir():
        raise OutputNotWritableError(f"cannot write {path}: it is a directory; give a file name")
    writable_directory(path.parent, path)
    return kind
