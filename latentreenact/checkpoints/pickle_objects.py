"""What the restricted unpicklers hand a pickle: inert records for what they will not build
(:class:`PersistentRecord`, :class:`OpaqueObject`, :class:`PickledDict`), the checked rebuild
functions of tensors, parameters and storages that the allow-list maps torch's names to, and
:class:`SafeCallable`, the wrapper that keeps ``BUILD`` off those functions."""

from __future__ import annotations

import collections
import io
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

import torch

from .errors import CheckpointFormatError, UnsafePickleError

__all__ = ["OpaqueObject", "PersistentRecord", "PickledDict", "SafeCallable"]


class PersistentRecord:
    """Inert stand-in for a ``torch_utils.persistence`` object: class name and pickled state.

    ``state`` is the module's ``__dict__`` as pickled (``_parameters``, ``_buffers``,
    ``_modules``, ``init_kwargs``, plain attributes). The embedded source code is never kept.
    """

    __slots__ = ("class_name", "version", "state")

    def __init__(self, class_name: str, version: Any, state: Dict[str, Any]) -> None:
        self.class_name = class_name
        self.version = version
        self.state = state

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("a persistent object was given extra pickled state; refusing")

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name!r}, keys={sorted(self.state)!r})"


class OpaqueObject:
    """Inert placeholder for an instance of a class outside the allow-list.

    Records what the pickle hands it (constructor arguments, ``BUILD`` state, list and dict
    items) and does nothing else. ``pickled_global`` names the class the pickle asked for.
    """

    pickled_global: str = "<unknown>"
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]
    state: Any
    items: List[Any]
    dictitems: Dict[Any, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> "OpaqueObject":
        obj = object.__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.items = []
        obj.dictitems = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accept and ignore constructor arguments (already recorded by ``__new__``)."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dictitems[key] = value

    def append(self, item: Any) -> None:
        """Record a pickled list item."""
        self.items.append(item)

    def extend(self, items: Sequence[Any]) -> None:
        """Record pickled list items."""
        self.items.extend(items)

    def __repr__(self) -> str:
        return f"<OpaqueObject {self.pickled_global}>"


class PickledDict(dict):
    """A plain dict standing in for ``dnnlib.EasyDict`` (attribute state is kept separately)."""

    pickled_state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.pickled_state = state


# ----------------------------------------------------------------------------- safe callables


def _check_int_tuple(value: Any, what: str) -> Tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise CheckpointFormatError(f"tensor record has an invalid {what}: {value!r}")
    return tuple(value)


def _make_tensor(
    untyped: Any, dtype: Any, storage_offset: Any, size: Any, stride: Any, metadata: Any
) -> torch.Tensor:
    if not isinstance(untyped, torch.UntypedStorage) or not isinstance(dtype, torch.dtype):
        raise CheckpointFormatError("tensor record does not reference a loaded storage")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise CheckpointFormatError(f"tensor record has an invalid storage offset {storage_offset!r}")
    shape = _check_int_tuple(size, "size")
    strides = _check_int_tuple(stride, "stride")
    tensor = torch.empty((0,), dtype=dtype, device=untyped.device)
    tensor.set_(untyped, storage_offset, shape, strides)  # set_ checks the storage bounds
    if metadata:
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, bool) for k, v in metadata.items()
        ):
            raise CheckpointFormatError(f"tensor record has invalid metadata {metadata!r}")
        torch._utils.set_tensor_metadata(tensor, metadata)
    return tensor


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_tensor``."""
    if not isinstance(storage, torch.TypedStorage):
        raise CheckpointFormatError("tensor record does not reference a loaded storage")
    return _make_tensor(storage._untyped_storage, storage.dtype, storage_offset, size, stride, None)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_tensor_v2`` (hooks and ``requires_grad`` are dropped)."""
    if not isinstance(storage, torch.TypedStorage):
        raise CheckpointFormatError("tensor record does not reference a loaded storage")
    return _make_tensor(
        storage._untyped_storage, storage.dtype, storage_offset, size, stride, metadata
    )


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_tensor_v3`` (untyped storage plus an explicit dtype)."""
    if isinstance(storage, torch.TypedStorage):
        storage = storage._untyped_storage
    return _make_tensor(storage, dtype, storage_offset, size, stride, metadata)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_parameter``: returns the plain tensor."""
    if not isinstance(data, torch.Tensor):
        raise CheckpointFormatError("parameter record does not hold a tensor")
    return data


def _rebuild_parameter_with_state(
    data: Any, requires_grad: Any, backward_hooks: Any, state: Any
) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_parameter_with_state``: the Python state is dropped."""
    return _rebuild_parameter(data)


_TENSOR_REBUILDERS: Tuple[Callable[..., torch.Tensor], ...] = (
    _rebuild_tensor,
    _rebuild_tensor_v2,
    _rebuild_tensor_v3,
    _rebuild_parameter,
    _rebuild_parameter_with_state,
)


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    """Safe ``torch._tensor._rebuild_from_type_v2``: the base tensor, subclass and state dropped."""
    fn = func.fn if isinstance(func, SafeCallable) else None
    if fn not in _TENSOR_REBUILDERS or not isinstance(args, tuple):
        raise UnsafePickleError("tensor subclass record names a function outside the allow-list")
    return fn(*args)


def _load_from_bytes(data: Any) -> Union[torch.TypedStorage, torch.UntypedStorage]:
    """Safe ``torch.storage._load_from_bytes``: ``torch.load`` with ``weights_only=True``."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointFormatError("storage record does not hold bytes")
    try:
        storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refusals and corrupt bytes alike
        raise CheckpointFormatError(f"an embedded tensor storage could not be loaded safely: {exc}") from exc
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointFormatError(
            f"an embedded storage record holds {type(storage).__name__}, not a tensor storage"
        )
    return storage


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``; never reads ``module_src``."""
    if not isinstance(meta, dict):
        raise CheckpointFormatError("persistent object record is not a dict")
    if meta.get("type") != "class":
        raise CheckpointFormatError(f"unsupported persistent object type {meta.get('type')!r}")
    class_name = meta.get("class_name")
    if not isinstance(class_name, str):
        raise CheckpointFormatError("persistent object record has no class name")
    state = meta.get("state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise CheckpointFormatError(f"persistent object {class_name!r} has a non-dict state")
    return PersistentRecord(class_name, meta.get("version"), dict(state))


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """Safe ``_codecs.encode`` as used by protocol-2 pickles for bytes (latin-1 only)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("pickle used _codecs.encode other than for latin-1 bytes")
    return text.encode("latin-1")


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """Safe ``copyreg._reconstructor`` (protocol 0/1 objects) for placeholder and dict classes."""
    if isinstance(cls, type) and issubclass(cls, OpaqueObject):
        return cls(base, state)
    if cls in (collections.OrderedDict, dict) or (isinstance(cls, type) and issubclass(cls, PickledDict)):
        return cls()
    raise UnsafePickleError(f"copyreg._reconstructor asked to build {cls!r}; refusing")


class SafeCallable:
    """An allow-listed function as handed to the pickle: callable, but immune to ``BUILD``.

    (``BUILD`` on a bare function would set attributes on our module-level functions.)
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("pickle tried to set state on an allow-listed function; refusing")

    def __repr__(self) -> str:
        return f"<allowed {self.fn.__name__}>"
