"""Write network pickles in the official stylegan2-ada-pytorch layout, for tests.

stylegan2-ada-pytorch pickles every network as ``torch_utils.persistence``
``_reconstruct_persistent_obj(meta)`` with ``meta = dict(type="class", version=6,
module_src=<source text>, class_name=..., state=<module __dict__>)``; configuration dicts are
``dnnlib.util.EasyDict``. To write such a file without the NVIDIA code, :func:`fake_ada_modules`
registers stand-in modules under those names in ``sys.modules`` (pickle must resolve the globals
it writes) and removes them again afterwards, so a reader under test cannot rely on them.

The stand-in ``_reconstruct_persistent_obj`` executes ``module_src`` first, as the real one does:
a loader that resolved it would run the embedded source. ``module_src`` defaults to source that
raises; tests pass one that writes a marker file.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import re
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Union

import torch

DEFAULT_MODULE_SRC = "raise RuntimeError('the module_src of a test network pickle was executed')\n"
_FAKE_MODULES = ("dnnlib", "dnnlib.util", "torch_utils", "torch_utils.persistence")
_BUFFER_NAMES = ("w_avg", "noise_const", "resample_filter", "p")


def _reconstruct_persistent_obj(meta: Dict[str, Any]) -> Any:
    """Stand-in for the real reconstructor: it executes the embedded source, as the real one does."""
    exec(compile(meta["module_src"], "<module_src>", "exec"), {"__name__": "_imported_module"})
    raise RuntimeError("the test stand-in _reconstruct_persistent_obj was called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
_reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (same behaviour, pickled under the same name)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]


EasyDict.__module__ = "dnnlib.util"
EasyDict.__qualname__ = "EasyDict"


class _Persistent:
    """An object that pickles exactly like a ``persistent_class`` instance."""

    def __init__(self, meta: Dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self) -> Any:
        return (_reconstruct_persistent_obj, (self.meta,))


@contextlib.contextmanager
def fake_ada_modules() -> Iterator[None]:
    """Register ``dnnlib``/``torch_utils`` stand-ins in ``sys.modules``; restore on exit."""
    saved = {name: sys.modules.get(name) for name in _FAKE_MODULES}
    dnnlib = types.ModuleType("dnnlib")
    util = types.ModuleType("dnnlib.util")
    torch_utils = types.ModuleType("torch_utils")
    persistence = types.ModuleType("torch_utils.persistence")
    util.EasyDict = EasyDict
    dnnlib.util = util
    dnnlib.EasyDict = EasyDict
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    torch_utils.persistence = persistence
    sys.modules.update(
        {"dnnlib": dnnlib, "dnnlib.util": util, "torch_utils": torch_utils,
         "torch_utils.persistence": persistence}
    )
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# --------------------------------------------------------------------------- layout conversion


def _setup_filter() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = f[:, None] * f[None, :]
    return f / f.sum()


def rosinality_to_ada(
    g_ema_state_dict: Mapping[str, torch.Tensor], w_avg: Optional[torch.Tensor]
) -> Dict[str, torch.Tensor]:
    """Inverse of the key mapping of docs/architecture.md §11: rosinality ``g_ema`` -> flat ada ``G_ema`` names."""
    sd = g_ema_state_dict
    out: Dict[str, torch.Tensor] = OrderedDict()
    n_mlp = sum(1 for k in sd if re.fullmatch(r"style\.\d+\.weight", k))
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = sd[f"style.{i + 1}.weight"].clone()
        out[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.bias"].clone()
    if w_avg is not None:
        out["mapping.w_avg"] = w_avg.reshape(-1).clone()

    def conv(src: str, dst: str, noise_index: int) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0].clone()
        out[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"].reshape(()).clone()
        out[f"{dst}.bias"] = sd[f"{src}.activate.bias"].clone()
        out[f"{dst}.resample_filter"] = _setup_filter()
        out[f"{dst}.noise_const"] = sd[f"noises.noise_{noise_index}"][0, 0].clone()
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"].clone()
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"].clone()

    def rgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0].clone()
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(-1).clone()
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"].clone()
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"].clone()

    out["synthesis.b4.const"] = sd["input.input"][0].clone()
    out["synthesis.b4.resample_filter"] = _setup_filter()
    conv("conv1", "synthesis.b4.conv1", 0)
    rgb("to_rgb1", "synthesis.b4.torgb")
    n_up = sum(1 for k in sd if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
    for k in range(n_up):
        r = 2 ** (k + 3)
        out[f"synthesis.b{r}.resample_filter"] = _setup_filter()
        conv(f"convs.{2 * k}", f"synthesis.b{r}.conv0", 2 * k + 1)
        conv(f"convs.{2 * k + 1}", f"synthesis.b{r}.conv1", 2 * k + 2)
        rgb(f"to_rgbs.{k}", f"synthesis.b{r}.torgb")
    return out


# --------------------------------------------------------------------------- persistent objects


def _class_name(path: str) -> str:
    leaf = path.rsplit(".", 1)[-1]
    if path == "":
        return "Generator"
    if leaf == "mapping":
        return "MappingNetwork"
    if leaf == "synthesis":
        return "SynthesisNetwork"
    if re.fullmatch(r"b\d+", leaf):
        return "SynthesisBlock"
    if leaf in ("conv0", "conv1") or re.fullmatch(r"L\d+_\d+_\d+", leaf):
        return "SynthesisLayer"
    if leaf == "torgb":
        return "ToRGBLayer"
    if leaf == "affine" or re.fullmatch(r"fc\d+", leaf):
        return "FullyConnectedLayer"
    return "Module"


def _attributes(path: str, tensors: Mapping[str, torch.Tensor], conv_clamp: Optional[float] = None) -> Dict[str, Any]:
    """Plain attributes the real modules carry; readers need only the layers' ``conv_clamp``."""
    leaf = path.rsplit(".", 1)[-1]
    if path == "":
        return {"z_dim": 0, "c_dim": 0, "img_channels": 3, "_init_kwargs": EasyDict(
            mapping_kwargs=EasyDict(num_layers=8), synthesis_kwargs=EasyDict(
                channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=conv_clamp))}
    if leaf == "synthesis":
        res = sorted({int(m.group(1)) for k in tensors for m in [re.match(r"synthesis\.b(\d+)\.", k)] if m})
        return {"img_channels": 3, "block_resolutions": res, "num_fp16_res": 0}
    if re.fullmatch(r"b\d+", leaf):
        return {"resolution": int(leaf[1:]), "architecture": "skip", "use_fp16": False,
                "channels_last": False, "num_conv": 0, "num_torgb": 0}
    if leaf in ("conv0", "conv1"):
        return {"up": 2 if leaf == "conv0" else 1, "use_noise": True, "activation": "lrelu",
                "conv_clamp": conv_clamp, "padding": 1, "act_gain": math.sqrt(2.0)}
    if leaf == "torgb":
        return {"conv_clamp": conv_clamp, "weight_gain": 1.0}
    if leaf == "affine" or re.fullmatch(r"fc\d+", leaf):
        return {"activation": "linear", "lr_multiplier": 1.0, "weight_gain": 0.125, "bias_gain": 1.0}
    if leaf == "mapping":
        n_fc = sum(1 for k in tensors if re.fullmatch(r"mapping\.fc\d+\.weight", k))
        return {"c_dim": 0, "w_avg_beta": 0.995, "num_layers": n_fc}
    return {}


def _module_dict(
    params: Mapping[str, torch.Tensor], buffers: Mapping[str, torch.Tensor],
    modules: Mapping[str, Any], attrs: Mapping[str, Any],
) -> Dict[str, Any]:
    """The ``__dict__`` of an ``nn.Module`` as torch 2.x pickles it."""
    state: Dict[str, Any] = {"training": False, "_parameters": OrderedDict(params),
                             "_buffers": OrderedDict(buffers), "_non_persistent_buffers_set": set()}
    for hooks in ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks",
                  "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
                  "_forward_pre_hooks_with_kwargs", "_state_dict_hooks", "_state_dict_pre_hooks",
                  "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks"):
        state[hooks] = OrderedDict()
    state["_is_full_backward_hook"] = None
    state["_modules"] = OrderedDict(modules)
    state["_init_args"] = ()
    state["_init_kwargs"] = {}
    state.update(attrs)
    return state


def persistent_tree(
    flat: Mapping[str, torch.Tensor], module_src: str = DEFAULT_MODULE_SRC, root_class: Optional[str] = None,
    conv_clamp: Optional[float] = None,
) -> Any:
    """Nest flat ``state_dict`` names into persistent objects (one per module)."""
    tree: Dict[str, Any] = {"tensors": OrderedDict(), "children": OrderedDict()}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node["children"].setdefault(part, {"tensors": OrderedDict(), "children": OrderedDict()})
        node["tensors"][leaf] = value

    def build(node: Dict[str, Any], path: str) -> _Persistent:
        params: Dict[str, torch.Tensor] = OrderedDict()
        buffers: Dict[str, torch.Tensor] = OrderedDict()
        for name, t in node["tensors"].items():
            if name in _BUFFER_NAMES:
                buffers[name] = t.detach().clone()
            else:
                params[name] = torch.nn.Parameter(t.detach().clone(), requires_grad=False)
        modules = OrderedDict(
            (name, build(child, f"{path}.{name}" if path else name)) for name, child in node["children"].items()
        )
        class_name = root_class if (path == "" and root_class) else _class_name(path)
        meta = dict(type="class", version=6, module_src=module_src, class_name=class_name,
                    state=_module_dict(params, buffers, modules, _attributes(path, flat, conv_clamp)))
        return _Persistent(meta)

    return build(tree, "")


def write_ada_pkl(
    path: Union[str, Path],
    g_ema: Optional[Mapping[str, torch.Tensor]],
    extra_classes: bool = True,
    module_src: str = DEFAULT_MODULE_SRC,
    protocol: int = 4,
    extra_entries: Optional[Mapping[str, Any]] = None,
    conv_clamp: Optional[float] = None,
) -> Path:
    """Write a network pickle from flat ada ``G_ema`` names (``None``: no ``G_ema`` entry).

    With ``extra_classes``, the file also holds what official snapshots hold: ``G`` (different
    values from ``G_ema``), ``D``, ``augment_pipe``, ``training_set_kwargs`` (EasyDict), plus
    numpy objects (classes a reader must not need).
    """
    path = Path(path)
    data: Dict[str, Any] = {}
    if extra_classes:
        base = g_ema if g_ema is not None else {"mapping.fc0.weight": torch.zeros(4, 4)}
        data["G"] = persistent_tree(
            {k: (v + 1.0 if v.is_floating_point() else v) for k, v in base.items()}, module_src
        )
        data["D"] = persistent_tree(
            {"b8.fromrgb.weight": torch.randn(8, 3, 1, 1), "b8.conv0.weight": torch.randn(8, 8, 3, 3),
             "b8.resample_filter": _setup_filter(), "b4.out.weight": torch.randn(1, 8)},
            module_src, root_class="Discriminator",
        )
    if g_ema is not None:
        data["G_ema"] = persistent_tree(g_ema, module_src, conv_clamp=conv_clamp)
    if extra_classes:
        data["augment_pipe"] = persistent_tree({"p": torch.tensor(0.25), "Hz_geom": torch.randn(12)},
                                               module_src, root_class="AugmentPipe")
        data["training_set_kwargs"] = EasyDict(
            class_name="training.dataset.ImageFolderDataset", path="~/datasets/ffhq.zip",
            use_labels=False, max_size=70000, xflip=True, resolution=64)
        try:
            import numpy as np

            data["numpy_extras"] = {"array": np.arange(6, dtype=np.float32).reshape(2, 3),
                                    "scalar": np.float32(0.5), "dtype": np.dtype("int16")}
        except ImportError:  # numpy is a dependency; keep the writer usable without it anyway
            pass
    if extra_entries:
        data.update(extra_entries)
    with fake_ada_modules():
        payload = pickle.dumps(data, protocol=protocol)
    path.write_bytes(payload)
    return path


def write_stylegan2_ada_pkl(
    path: Union[str, Path],
    g_ema_state_dict: Mapping[str, torch.Tensor],
    w_avg: Optional[torch.Tensor],
    extra_classes: bool = True,
    module_src: str = DEFAULT_MODULE_SRC,
    protocol: int = 4,
    conv_clamp: Optional[float] = None,
) -> Path:
    """Write a rosinality ``g_ema`` state dict (+ ``w_avg``) as an official ada network pickle.

    ``conv_clamp`` is stored on every synthesis layer, as stylegan2-ada's training code does."""
    return write_ada_pkl(path, rosinality_to_ada(g_ema_state_dict, w_avg), extra_classes=extra_classes,
                         module_src=module_src, protocol=protocol, conv_clamp=conv_clamp)
