"""Restricted unpicklers: the base that resolves globals by an allow-list only, and the reader of
network pickles that embed source code (stylegan2-ada-pytorch). What they hand out (records,
placeholders, checked rebuild functions) is in :mod:`.pickle_objects`.

NVIDIA's network pickles store every network as ``torch_utils.persistence``
``_reconstruct_persistent_obj(meta)``, where ``meta`` carries the Python source of the network's
module; the ordinary unpickler would execute that source. This unpickler never does:

* a short allow-list of globals resolves to safe implementations: tensor and parameter rebuild
  functions (storages are loaded with ``torch.load(..., weights_only=True)``),
  ``collections.OrderedDict``, plain-data builtins (``set``, ``frozenset``, ...), ``torch.Size``,
  ``torch.device`` and dtypes, ``dnnlib`` ``EasyDict`` (-> :class:`PickledDict`, a plain dict) and
  the persistence reconstructor (-> :class:`PersistentRecord`: class name and state, the source
  text is dropped unread);
* globals from modules that can reach code execution, the file system or the network (``os``,
  ``subprocess``, ``builtins.eval``, ...) are refused with :class:`UnsafePickleError`;
* any other global becomes an inert :class:`OpaqueObject` subclass that only records the
  arguments and state it is given; nothing is imported;
* persistent ids (``persistent_load``) are refused;
* allow-listed functions are handed out wrapped and ``EasyDict`` as a fresh subclass per load, so
  a ``BUILD`` opcode cannot set attributes on this module's functions or classes.
"""

from __future__ import annotations

import collections
import os
import pickle
import types
from typing import Any, BinaryIO, ClassVar, Dict, Mapping, Optional, Tuple, Type, Union

import torch

from .errors import CheckpointFormatError, UnsafePickleError
from .pickle_objects import (OpaqueObject, PersistentRecord, PickledDict, SafeCallable, _codecs_encode,
                             _load_from_bytes, _rebuild_from_type_v2, _rebuild_parameter, _rebuild_parameter_with_state,
                             _rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _reconstruct_persistent_obj,
                             _reconstructor)

__all__ = [
    "ALLOWED_GLOBALS",
    "AllowListUnpickler",
    "OpaqueObject",
    "PersistentRecord",
    "PickledDict",
    "RestrictedUnpickler",
    "SAFE_BUILTINS",
    "SafeCallable",
    "restricted_load",
    "restricted_load_path",
]

PathLike = Union[str, "os.PathLike[str]"]

# Python 2 names that pickle's ``fix_imports`` would translate (find_class sees the raw names).
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

# Module roots whose globals are refused outright: they reach code execution, I/O or the
# network, and no network pickle legitimately names them.
_DENIED_MODULE_ROOTS = frozenset(
    {
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess", "sys",
        "importlib", "imp", "runpy", "shutil", "socket", "pickle", "_pickle", "pickletools",
        "marshal", "ctypes", "_ctypes", "code", "codeop", "pty", "types", "operator",
        "functools", "inspect", "pydoc", "webbrowser", "multiprocessing", "threading", "_thread",
        "asyncio", "signal", "io", "_io", "pathlib", "tempfile", "glob", "urllib", "http",
        "ftplib", "smtplib", "telnetlib", "timeit", "trace", "pdb", "bdb", "cProfile", "profile",
        "dill", "cloudpickle", "joblib", "yaml",
    }
)
_DENIED_TORCH_PREFIXES = (
    "torch.hub", "torch.jit", "torch.ops", "torch.serialization", "torch.utils.cpp_extension",
    "torch._C", "torch.package", "torch.load", "torch.save",
)

_SAFE_BUILTINS = frozenset(
    {
        "set", "frozenset", "bytearray", "bytes", "complex", "slice", "object", "list", "dict",
        "tuple", "int", "float", "str", "bool", "range",
    }
)


# Values: immutable built-in types are returned as they are; Python functions are wrapped in
# a fresh SafeCallable per load; PickledDict in a fresh subclass per load.
_ALLOWED: Dict[Tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _codecs_encode,
    ("codecs", "encode"): _codecs_encode,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("dnnlib", "EasyDict"): PickledDict,
    ("dnnlib.util", "EasyDict"): PickledDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
}


def _is_denied(module: str, name: str) -> bool:
    root = module.split(".", 1)[0]
    if root == "builtins":
        return name not in _SAFE_BUILTINS
    if root in _DENIED_MODULE_ROOTS:
        return True
    full = f"{module}.{name}"
    return any(full == p or full.startswith(p + ".") or module == p or module.startswith(p + ".")
               for p in _DENIED_TORCH_PREFIXES)


class AllowListUnpickler(pickle.Unpickler):
    """The base of the project's unpicklers: a global resolves only through the class's
    ``allowed`` map ({(module, name): object}); an allowed Python function is handed out wrapped
    in :class:`SafeCallable`; persistent ids are refused; any other global goes to
    :meth:`find_other`, which refuses it. Subclasses widen ``allowed`` or override ``find_other``."""

    allowed: ClassVar[Mapping[Tuple[str, str], Any]] = {}
    #: how refusals name the file, e.g. "a whitening pickle"
    what: ClassVar[str] = "this pickle"
    persistent_message: ClassVar[str] = "refusing a pickle with persistent ids"

    def __init__(self, file: BinaryIO, *, encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self._safe_callables: Dict[Tuple[str, str], SafeCallable] = {}

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a global by the allow-list, else by :meth:`find_other`."""
        if not isinstance(module, str) or not isinstance(name, str):
            raise UnsafePickleError("pickle names a global with a non-string name")
        module = _MODULE_ALIASES.get(module, module)
        key = (module, name)
        if key in self.allowed:
            return self.allowed_object(key, self.allowed[key])
        return self.find_other(module, name)

    def allowed_object(self, key: Tuple[str, str], target: Any) -> Any:
        """What the pickle gets for an allow-listed global (functions come wrapped)."""
        if isinstance(target, types.FunctionType):
            return self._safe_callables.setdefault(key, SafeCallable(target))
        return target

    def find_other(self, module: str, name: str) -> Any:
        """A global off the allow-list: refused."""
        raise UnsafePickleError(f"refusing to load {module}.{name} from {self.what}")

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids."""
        raise UnsafePickleError(self.persistent_message)


class RestrictedUnpickler(AllowListUnpickler):
    """The network-pickle reader: tensors and the known containers are rebuilt, plain-data builtins
    and torch dtypes pass, globals that reach code, I/O or the network are refused, and any other
    class becomes an inert placeholder. Pickled code never runs."""

    allowed = _ALLOWED
    what = "a network pickle"
    persistent_message = "pickle uses persistent ids, which this reader refuses"

    def __init__(self, file: BinaryIO, *, encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self._placeholders: Dict[str, Type[OpaqueObject]] = {}
        self._easydict: Optional[Type[PickledDict]] = None

    def allowed_object(self, key: Tuple[str, str], target: Any) -> Any:
        """As the base, with a fresh ``EasyDict`` subclass per load."""
        if target is PickledDict:
            if self._easydict is None:
                self._easydict = type("EasyDict", (PickledDict,), {})
            return self._easydict
        return super().allowed_object(key, target)

    def find_other(self, module: str, name: str) -> Any:
        """A safe builtin or dtype, a refusal, or an inert placeholder class."""
        if module == "builtins" and name in _SAFE_BUILTINS:
            return getattr(__import__("builtins"), name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if _is_denied(module, name):
            raise UnsafePickleError(
                f"pickle asks for {module}.{name}, which a network pickle never needs; refusing "
                "to load it (the file may be malicious)"
            )
        full = f"{module}.{name}"
        cls = self._placeholders.get(full)
        if cls is None:
            cls = type("Opaque_" + "".join(c if c.isalnum() else "_" for c in full)[:80],
                       (OpaqueObject,), {"pickled_global": full, "__slots__": ()})
            self._placeholders[full] = cls
        return cls


def restricted_load(file: BinaryIO, source: str = "pickle",
                    unpickler: Type[AllowListUnpickler] = RestrictedUnpickler) -> Any:
    """Unpickle ``file`` with ``unpickler``; any failure -> ``CheckpointFormatError`` naming ``source``."""
    try:
        return unpickler(file).load()
    except CheckpointFormatError as exc:
        raise type(exc)(f"{source}: {exc}") from exc
    except Exception as exc:
        raise CheckpointFormatError(
            f"{source}: not a readable pickle (truncated or corrupt?): {type(exc).__name__}: {exc}"
        ) from exc


def restricted_load_path(path: PathLike) -> Any:
    """Open ``path`` and unpickle it with :func:`restricted_load`."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head.startswith(b"PK\x03\x04"):
                raise CheckpointFormatError(
                    f"{path}: this is a zip archive (a torch.save checkpoint?), not a network pickle"
                )
            if not head:
                raise CheckpointFormatError(f"{path}: the file is empty")
            f.seek(0)
            return restricted_load(f, source=path)
    except OSError as exc:
        raise CheckpointFormatError(f"{path}: cannot read the file: {exc}") from exc


#: public names of the allow-list and the plain-data builtins, for the unpicklers built on these
ALLOWED_GLOBALS: Mapping[Tuple[str, str], Any] = _ALLOWED
SAFE_BUILTINS = _SAFE_BUILTINS
