"""Lazy build and load of the CUDA plugins (``upfirdn2d``, ``bias_act``).

A plugin is compiled with ninja through ``torch.utils.cpp_extension.load`` on its first use in a
process, into a versioned cache directory::

    $LATENTREENACT_CACHE_DIR (default ~/.cache/latentreenact) / ops /
        <torch version>-cu<torch CUDA version>-<sha256 of the sources, 12 hex digits> / <op>

A ``filelock.FileLock`` in that directory serialises concurrent builds: a second process waits,
then loads the finished build. The result is memoised per process, failures included: a plugin
that cannot be built gives exactly one ``PluginFallbackWarning`` per op and process, and
``load_plugin`` returns ``None`` so the callers use the PyTorch implementation.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Dict, Optional, Tuple

import torch
from filelock import FileLock, Timeout
from torch.utils import cpp_extension

logger = logging.getLogger(__name__)

CACHE_ENV = "LATENTREENACT_CACHE_DIR"
CSRC_DIR = Path(__file__).resolve().parent / "csrc"
SOURCES: Dict[str, Tuple[str, ...]] = {
    "upfirdn2d": ("upfirdn2d.cpp", "upfirdn2d_kernel.cu"),
    "bias_act": ("bias_act.cpp", "bias_act_kernel.cu"),
}
LOCK_NAME = ".latentreenact-build.lock"
_SOURCE_SUFFIXES = (".cpp", ".cu", ".h", ".cuh")

_LOADED: Dict[str, Optional[ModuleType]] = {}
_GUARD = threading.Lock()


class PluginFallbackWarning(RuntimeWarning):
    """A CUDA plugin could not be built or loaded; the PyTorch implementation is used."""


class PluginUnavailable(RuntimeError):
    """Why a plugin cannot be built here (no CUDA in torch, no toolkit, no ninja...)."""


def cache_root() -> Path:
    """``$LATENTREENACT_CACHE_DIR`` or ``~/.cache/latentreenact``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "latentreenact"


def sources_digest(csrc_dir: Path = CSRC_DIR) -> str:
    """SHA-256 over the names and contents of every C++/CUDA source in ``csrc_dir``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in csrc_dir.iterdir() if p.suffix in _SOURCE_SUFFIXES):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def build_dir(name: str) -> Path:
    """The versioned cache directory of plugin ``name``."""
    _check_name(name)
    version = f"{torch.__version__}-cu{torch.version.cuda}-{sources_digest()[:12]}"
    return cache_root() / "ops" / version / name


def load_plugin(name: str) -> Optional[ModuleType]:
    """The compiled plugin ``name`` (``"upfirdn2d"`` or ``"bias_act"``), or ``None``.

    Builds on the first call only; later calls return the memoised module (or ``None``). A
    failure warns once per op and process, naming the cause and the PyTorch fallback.
    """
    _check_name(name)
    with _GUARD:
        if name in _LOADED:
            return _LOADED[name]
        try:
            module: Optional[ModuleType] = _build(name)
        except Exception as exc:  # noqa: BLE001 - any failure means: fall back to PyTorch
            logger.debug("building the CUDA plugin %r failed", name, exc_info=True)
            warnings.warn(_fallback_message(name, exc), PluginFallbackWarning, stacklevel=2)
            module = None
        _LOADED[name] = module
        return module


def _check_name(name: str) -> None:
    if name not in SOURCES:
        raise ValueError(f"unknown CUDA plugin {name!r}; expected one of {sorted(SOURCES)}")


def _fallback_message(name: str, exc: BaseException) -> str:
    cause = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, PluginUnavailable):
        cause = f"{type(exc).__name__}: {cause}"
    if len(cause) > 2000:
        cause = cause[:1000] + "\n[...]\n" + cause[-1000:]
    return (
        f"latentreenact: the CUDA plugin {name!r} is unavailable ({cause}); "
        f"the PyTorch implementation is used instead (slower, same results)."
    )


def _check_toolchain() -> None:
    """Raise ``PluginUnavailable`` naming the first missing piece of the CUDA build chain."""
    if torch.version.cuda is None:
        raise PluginUnavailable(f"this PyTorch build ({torch.__version__}) has no CUDA support")
    if not torch.cuda.is_available():
        raise PluginUnavailable("no CUDA device is available")
    if cpp_extension.CUDA_HOME is None:
        raise PluginUnavailable("no CUDA toolkit (nvcc) was found; set CUDA_HOME to its location")
    if not cpp_extension.is_ninja_available():
        raise PluginUnavailable("ninja is not installed (pip install ninja)")


def _build(name: str) -> ModuleType:
    """Compile (or reuse the cached build of) plugin ``name`` under a file lock and import it."""
    _check_toolchain()
    directory = build_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("waiting for another process building the CUDA plugin %r in %s", name, directory)
        lock.acquire()
    try:
        logger.info("loading the CUDA plugin %r (compiled on first use) from %s", name, directory)
        return cpp_extension.load(
            name=f"latentreenact_{name}",
            sources=[str(CSRC_DIR / source) for source in SOURCES[name]],
            build_directory=str(directory),
            extra_cflags=["-O3"],
            extra_cuda_cflags=["-O3"],
            verbose=False,  # torch prints the build log when verbose; on failure it is in the error
        )
    finally:
        lock.release()
