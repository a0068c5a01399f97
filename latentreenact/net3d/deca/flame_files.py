"""Safe readers for FLAME's ``generic_model.pkl`` and DECA's ``landmark_embedding.npy``.

``generic_model.pkl`` is a Python-2 pickle that names ``chumpy`` classes (the arrays are
``chumpy.ch.Ch`` objects) and a ``scipy.sparse`` ``csc_matrix`` (``J_regressor``). It is read
with :class:`FlameUnpickler`, a strict subclass of the project's restricted unpickler: numpy
arrays are rebuilt by safe stand-ins for numpy's reconstructors, ``chumpy.*`` classes become inert
placeholders whose array (the pickled ``x`` attribute) is extracted afterwards, ``scipy.sparse``
csc/csr matrices become placeholders rebuilt densely from ``data``/``indices``/``indptr``/
``shape``; every other global is refused. Neither chumpy nor scipy is imported, and no pickled
code runs. ``landmark_embedding.npy`` is an object ``.npy`` holding a pickled dict of arrays (and
torch tensors), read with the same unpickler after the ``.npy`` header.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Dict, Union

import numpy as np
import torch

from ...checkpoints.errors import CheckpointFormatError, UnsafePickleError
from ...checkpoints.restricted_pickle import (ALLOWED_GLOBALS, SAFE_BUILTINS, OpaqueObject, RestrictedUnpickler,
                                              restricted_load)

__all__ = ["FlameData", "FlameUnpickler", "read_flame_model", "read_landmark_embedding", "flame_unpickle"]

PathLike = Union[str, "os.PathLike[str]"]

_SPARSE_CLASSES = frozenset(f"scipy.sparse.{mod}.{kind}_{cls}" for mod in ("csc", "_csc", "csr", "_csr")
                            for kind in ("csc", "csr") for cls in ("matrix", "array") if mod.strip("_") == kind)
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
FLAME_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f")
LANDMARK_KEYS = ("static_lmk_faces_idx", "static_lmk_bary_coords", "dynamic_lmk_faces_idx",
                 "dynamic_lmk_bary_coords", "full_lmk_faces_idx", "full_lmk_bary_coords")


class _NdarrayToken:
    """Handed out for the global ``numpy.ndarray``: only :func:`_np_reconstruct` accepts it (not callable)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafePickleError("pickle tried to call numpy.ndarray directly; refusing")

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("pickle tried to set state on numpy.ndarray; refusing")


_NDARRAY = _NdarrayToken()


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """Safe ``numpy.core.multiarray._reconstruct``: an empty plain ndarray (BUILD fills it)."""
    if subtype is not _NDARRAY:
        raise UnsafePickleError(f"numpy _reconstruct asked for {subtype!r}; only numpy.ndarray is allowed")
    if isinstance(dtype, bytes):
        dtype = dtype.decode("latin-1")
    return np.ndarray.__new__(np.ndarray, shape, np.dtype(dtype))


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    """Safe ``numpy.core.multiarray.scalar`` for non-object dtypes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy scalar record with an object dtype; refusing")
    if isinstance(data, str):
        data = data.encode("latin-1")
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointFormatError("numpy scalar record does not hold bytes")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


_NUMPY_ALLOWED: Dict[Any, Any] = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): np.dtype}
for _mod in _NUMPY_MODULES:
    _NUMPY_ALLOWED[(_mod, "_reconstruct")] = _np_reconstruct
    _NUMPY_ALLOWED[(_mod, "scalar")] = _np_scalar


class FlameUnpickler(RestrictedUnpickler):
    """Strict restricted unpickler for FLAME/DECA data pickles (Python-2 strings read as latin-1).

    Allowed: numpy array/dtype/scalar reconstruction, the base allow-list (torch tensors,
    ``OrderedDict``, plain-data builtins), ``chumpy.*`` and scipy csc/csr matrices as inert
    placeholders. Everything else raises :class:`UnsafePickleError`.
    """

    allowed = {**ALLOWED_GLOBALS, **_NUMPY_ALLOWED}
    what = "a FLAME/DECA data file"

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, encoding="latin1")  # Python-2 str -> latin-1

    def find_other(self, module: str, name: str) -> Any:
        """chumpy and scipy sparse classes as placeholders, plain-data builtins and dtypes; else refused."""
        full = f"{module}.{name}"
        if (module.split(".", 1)[0] == "chumpy" or full in _SPARSE_CLASSES
                or (module == "builtins" and name in SAFE_BUILTINS)
                or (module == "torch" and isinstance(getattr(torch, name, None), torch.dtype))):
            return super().find_other(module, name)
        raise UnsafePickleError(f"pickle asks for {full}, which a FLAME/DECA data file never needs; refusing "
                                "to load it (the file may be malicious)")


def flame_unpickle(file: BinaryIO, source: str) -> Any:
    """Unpickle with :class:`FlameUnpickler`; any failure -> ``CheckpointFormatError`` naming ``source``."""
    return restricted_load(file, source, FlameUnpickler)


def _state_dict(obj: OpaqueObject) -> Dict[str, Any]:
    state = obj.state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        state = state[0]  # (dict, slots) form
    return state if isinstance(state, dict) else {}


def _dense_sparse(obj: OpaqueObject, what: str) -> np.ndarray:
    """Rebuild a pickled scipy csc/csr matrix densely, validating its index arrays."""
    state = _state_dict(obj)
    try:
        data = np.asarray(state["data"], dtype=np.float64)
        indices = np.asarray(state["indices"]).astype(np.int64)
        indptr = np.asarray(state["indptr"]).astype(np.int64)
        shape = tuple(int(v) for v in state.get("_shape", state.get("shape")))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"{what}: sparse matrix record lacks data/indices/indptr/shape ({exc})") from exc
    csc = obj.pickled_global.rsplit(".", 1)[1].startswith("csc")
    if len(shape) != 2 or min(shape) < 0:
        raise CheckpointFormatError(f"{what}: invalid sparse matrix shape {shape}")
    major, minor = (shape[1], shape[0]) if csc else shape
    if (indptr.shape != (major + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0)
            or indptr[-1] != data.size or indices.shape != data.shape
            or (indices.size and (indices.min() < 0 or indices.max() >= minor))):
        raise CheckpointFormatError(f"{what}: inconsistent sparse matrix index arrays")
    dense = np.zeros(shape, dtype=np.float64)
    outer = np.repeat(np.arange(major), np.diff(indptr))
    rows, cols = (indices, outer) if csc else (outer, indices)
    np.add.at(dense, (rows, cols), data)
    return dense


def as_array(value: Any, what: str) -> np.ndarray:
    """A pickled value (ndarray, chumpy placeholder, sparse placeholder, tensor, list) as ndarray."""
    if isinstance(value, OpaqueObject):
        name = value.pickled_global
        if name in _SPARSE_CLASSES:
            return _dense_sparse(value, what)
        if name.startswith("chumpy."):
            state = _state_dict(value)
            if "x" not in state:
                raise CheckpointFormatError(f"{what}: a {name} object without stored values (a chumpy "
                                            "expression, not an array); this file layout is not supported")
            return as_array(state["x"], what)
        raise CheckpointFormatError(f"{what}: unexpected pickled object {name}")
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise CheckpointFormatError(f"{what}: holds Python objects, not numbers")
    return array


@dataclass
class FlameData:
    """FLAME arrays (float64 / int64 numpy): see :func:`read_flame_model`."""

    v_template: np.ndarray      # [V, 3]
    shapedirs: np.ndarray       # [V, 3, S + E]
    posedirs: np.ndarray        # [V, 3, 9 * (J - 1)]
    J_regressor: np.ndarray     # [J, V]
    parents: np.ndarray         # [J], parents[0] = -1
    weights: np.ndarray         # [V, J]
    faces: np.ndarray           # [F, 3]


def _open_checked(path: Path, what: str, hint: str) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} ({hint})")
    data = path.read_bytes()
    if not data:
        raise CheckpointFormatError(f"{path}: the file is empty")
    return data


FLAME_HINT = "FLAME 2020 generic_model.pkl, free registration at https://flame.is.tue.mpg.de"


def read_flame_model(path: PathLike) -> FlameData:
    """Read ``generic_model.pkl`` without chumpy, validating the shapes against each other."""
    path = Path(path)
    raw = _open_checked(path, "FLAME model", FLAME_HINT)
    obj = flame_unpickle(io.BytesIO(raw), str(path))
    if not isinstance(obj, dict):
        raise CheckpointFormatError(f"{path}: not a FLAME model (top level is {type(obj).__name__}, not a dict)")
    missing = [k for k in FLAME_KEYS if k not in obj]
    if missing:
        raise CheckpointFormatError(f"{path}: not a FLAME model; missing keys {missing}")
    arr = {k: as_array(obj[k], f"{path}:{k}") for k in FLAME_KEYS}
    v = arr["v_template"].astype(np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise CheckpointFormatError(f"{path}: v_template must be [V, 3], got {v.shape}")
    n_v = v.shape[0]
    kintree = arr["kintree_table"].astype(np.int64)
    if kintree.ndim != 2 or kintree.shape[0] != 2:
        raise CheckpointFormatError(f"{path}: kintree_table must be [2, J], got {kintree.shape}")
    n_j = kintree.shape[1]
    expected = {"shapedirs": (n_v, 3, None), "posedirs": (n_v, 3, 9 * (n_j - 1)), "J_regressor": (n_j, n_v),
                "weights": (n_v, n_j), "f": (None, 3)}
    for key, shape in expected.items():
        got = arr[key].shape
        if len(got) != len(shape) or any(e is not None and g != e for g, e in zip(got, shape)):
            want = tuple("*" if e is None else e for e in shape)
            raise CheckpointFormatError(f"{path}: {key} must be {want} for {n_v} vertices and {n_j} joints, got {got}")
    parents = kintree[0].copy()
    parents[0] = -1
    if np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, n_j)):
        raise CheckpointFormatError(f"{path}: kintree_table parents must precede their children, got {parents}")
    faces = arr["f"].astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= n_v):
        raise CheckpointFormatError(f"{path}: face indices out of range for {n_v} vertices")
    out = FlameData(v, arr["shapedirs"].astype(np.float64), arr["posedirs"].astype(np.float64),
                    arr["J_regressor"].astype(np.float64), parents, arr["weights"].astype(np.float64), faces)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        if not np.isfinite(getattr(out, key)).all():
            raise CheckpointFormatError(f"{path}: {key} contains NaN or Inf")
    return out


def read_landmark_embedding(path: PathLike) -> Dict[str, np.ndarray]:
    """Read DECA's ``landmark_embedding.npy`` (a pickled dict in an object ``.npy``) safely.

    Returns the six arrays of :data:`LANDMARK_KEYS` (faces indices int64, barycentric float64).
    """
    path = Path(path)
    raw = _open_checked(path, "FLAME landmark embedding",
                        "landmark_embedding.npy from DECA's data folder, https://github.com/yfeng95/DECA")
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)(stream, max_header_size=10000)
    except ValueError as exc:
        raise CheckpointFormatError(f"{path}: not a .npy file ({exc})") from exc
    shape, _, dtype = header
    if dtype.hasobject:
        obj = flame_unpickle(stream, str(path))
        if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.size == 1:
            obj = obj.reshape(()).item()
    else:
        raise CheckpointFormatError(f"{path}: expected a pickled dict inside the .npy, found a {dtype} array {shape}")
    if not isinstance(obj, dict):
        raise CheckpointFormatError(f"{path}: expected a dict of landmark arrays, found {type(obj).__name__}")
    missing = [k for k in LANDMARK_KEYS if k not in obj]
    if missing:
        raise CheckpointFormatError(f"{path}: not a FLAME landmark embedding; missing keys {missing}")
    out = {}
    for key in LANDMARK_KEYS:
        array = as_array(obj[key], f"{path}:{key}")
        out[key] = array.astype(np.int64) if key.endswith("faces_idx") else array.astype(np.float64)
    full_idx, full_bary = out["full_lmk_faces_idx"].reshape(-1), out["full_lmk_bary_coords"].reshape(-1, 3)
    if full_idx.shape != (68,) or full_bary.shape != (68, 3):
        raise CheckpointFormatError(f"{path}: full_lmk_faces_idx/bary_coords must describe 68 landmarks, got "
                                    f"{out['full_lmk_faces_idx'].shape} and {out['full_lmk_bary_coords'].shape}")
    out["full_lmk_faces_idx"], out["full_lmk_bary_coords"] = full_idx, full_bary
    return out
