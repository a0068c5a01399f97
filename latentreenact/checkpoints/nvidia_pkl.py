"""Read NVIDIA stylegan2-ada-pytorch network pickles (``ffhq.pkl`` ...) without running their code.

The pickle is a dict ``{"G", "D", "G_ema", "augment_pipe", "training_set_kwargs", ...}``; only
``G_ema`` is used. It is unpickled with :mod:`.restricted_pickle` (the embedded source code is
never executed), flattened to ``state_dict``-style names (``mapping.fc0.weight``,
``synthesis.b8.conv0.affine.weight``, ...) and converted to rosinality's ``g_ema`` layout
(docs/architecture.md, generator formats). The activation clamp (``conv_clamp``) is read from the
synthesis layers' pickled attributes and returned in ``meta``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from .errors import CheckpointFormatError
from .restricted_pickle import OpaqueObject, PathLike, PersistentRecord, restricted_load_path

__all__ = ["ada_state_to_rosinality", "collect_module_tensors", "read_conv_clamp", "read_stylegan2_ada_pkl"]

SOURCE = "stylegan2-ada-pkl"

_MAX_DEPTH = 64
_FC_RE = re.compile(r"^mapping\.fc(\d+)\.(weight|bias)$")
_BLOCK_RE = re.compile(r"^synthesis\.b(\d+)\.(.+)$")
_SG3_RE = re.compile(r"^synthesis\.(L\d+_\d+_\d+|input)\.")
_CONV_PARTS = ("affine.weight", "affine.bias", "weight", "bias", "noise_strength", "noise_const")
_RGB_PARTS = ("affine.weight", "affine.bias", "weight", "bias")


def _module_state(obj: Any) -> Optional[Dict[str, Any]]:
    if isinstance(obj, PersistentRecord):
        return obj.state
    if isinstance(obj, OpaqueObject):  # a torch.nn module class outside torch_utils.persistence
        state = obj.state
        if isinstance(state, tuple) and len(state) == 2:
            state = state[0]
        return state if isinstance(state, dict) else None
    return None


def collect_module_tensors(module: Any, where: str = "G_ema") -> Dict[str, torch.Tensor]:
    """Flatten an unpickled module record to ``{dotted name: tensor}`` (parameters and buffers)."""
    out: Dict[str, torch.Tensor] = {}

    def visit(obj: Any, prefix: str, depth: int) -> None:
        name = prefix[:-1] or where
        if depth > _MAX_DEPTH:
            raise CheckpointFormatError(f"{where}: modules nested deeper than {_MAX_DEPTH} levels")
        state = _module_state(obj)
        if state is None:
            raise CheckpointFormatError(
                f"{name} is a {type(obj).__name__}, not a pickled torch module"
            )
        for group in ("_parameters", "_buffers"):
            entries = state.get(group) or {}
            if not isinstance(entries, dict):
                raise CheckpointFormatError(f"{name}.{group} is not a dict")
            for key, value in entries.items():
                if value is None:
                    continue
                if not isinstance(value, torch.Tensor):
                    raise CheckpointFormatError(f"{prefix}{key} is not a tensor")
                out[f"{prefix}{key}"] = value
        children = state.get("_modules") or {}
        if not isinstance(children, dict):
            raise CheckpointFormatError(f"{name}._modules is not a dict")
        for key, child in children.items():
            if child is not None:
                visit(child, f"{prefix}{key}.", depth + 1)

    visit(module, "", 0)
    return out


def read_conv_clamp(g_ema: Any) -> Optional[float]:
    """The ``conv_clamp`` of the synthesis layers (``None``: no clamp); one value for all layers.

    stylegan2-ada passes one ``conv_clamp`` to every ``SynthesisLayer`` and ``ToRGBLayer``;
    a pickle whose layers disagree is refused rather than silently rendered wrong."""
    values = {}

    def visit(obj: Any, name: str, depth: int) -> None:
        state = _module_state(obj)
        if state is None or depth > _MAX_DEPTH:
            return
        leaf = name.rsplit(".", 1)[-1]
        if name.startswith("synthesis.b") and leaf in ("conv0", "conv1", "torgb"):
            clamp = state.get("conv_clamp")
            if clamp is not None and (isinstance(clamp, bool) or not isinstance(clamp, (int, float))
                                      or not math.isfinite(clamp) or clamp <= 0):
                raise CheckpointFormatError(f"G_ema {name}.conv_clamp is {clamp!r}, expected a positive number or None")
            values[name] = None if clamp is None else float(clamp)
        for key, child in (state.get("_modules") or {}).items():
            if child is not None:
                visit(child, f"{name}.{key}" if name else str(key), depth + 1)

    visit(g_ema, "", 0)
    distinct = set(values.values())
    if len(distinct) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items())[:6])
        raise CheckpointFormatError(f"G_ema synthesis layers have different conv_clamp values ({shown}); "
                                    "only one clamp for all layers is supported")
    return distinct.pop() if distinct else None


def _expect(tensors: Mapping[str, torch.Tensor], key: str, shape: Tuple[int, ...]) -> torch.Tensor:
    t = tensors[key]
    if tuple(t.shape) != shape:
        raise CheckpointFormatError(
            f"G_ema tensor {key} has shape {tuple(t.shape)}, expected {shape} for a StyleGAN2 generator"
        )
    if not t.is_floating_point():
        raise CheckpointFormatError(f"G_ema tensor {key} has dtype {t.dtype}, expected floating point")
    return t.detach().to(torch.float32).contiguous()


def _check_synthesis_names(keys: List[str]) -> Dict[int, List[str]]:
    """Group synthesis keys by block resolution; reject layouts other than StyleGAN2 'skip'."""
    blocks: Dict[int, List[str]] = {}
    for key in keys:
        m = _BLOCK_RE.match(key)
        if m is None:
            if _SG3_RE.match(key):
                raise CheckpointFormatError(
                    f"G_ema holds {key}: this is a StyleGAN3 (alias-free) generator, which is not "
                    "supported; use a StyleGAN2 / StyleGAN2-ADA pickle"
                )
            raise CheckpointFormatError(
                f"G_ema holds {key}, which is not part of a StyleGAN2 synthesis network"
            )
        res, part = int(m.group(1)), m.group(2)
        if part.endswith("resample_filter"):
            continue  # fixed [1,3,3,1] blur kernels: our model builds its own
        if part.startswith("skip."):
            raise CheckpointFormatError(
                f"G_ema holds {key}: a 'resnet' synthesis architecture; only the StyleGAN2 default "
                "'skip' architecture is supported"
            )
        layer = part.split(".", 1)[0]
        allowed = ("const", "conv1", "torgb") if res == 4 else ("conv0", "conv1", "torgb")
        if layer not in allowed:
            raise CheckpointFormatError(
                f"G_ema holds {key}, which is not part of a StyleGAN2 synthesis block"
            )
        blocks.setdefault(res, []).append(part)
    if not blocks:
        raise CheckpointFormatError("G_ema has no synthesis network tensors")
    resolutions = sorted(blocks)
    top = resolutions[-1]
    expected = [2 ** i for i in range(2, int(round(math.log2(top))) + 1)]
    if resolutions != expected:
        raise CheckpointFormatError(
            f"G_ema synthesis blocks are at resolutions {resolutions}; expected {expected}"
        )
    return blocks


def ada_state_to_rosinality(
    tensors: Mapping[str, torch.Tensor], source: str = SOURCE
) -> Dict[str, Any]:
    """Convert flattened stylegan2-ada ``G_ema`` tensors to rosinality's ``g_ema`` layout.

    Returns ``{"state_dict", "latent_avg", "meta"}`` as :func:`read_stylegan2_ada_pkl`.
    """
    mapping_keys = [k for k in tensors if k.startswith("mapping.")]
    synthesis_keys = [k for k in tensors if k.startswith("synthesis.")]

    # ---- mapping network
    if any(k.startswith("mapping.embed.") for k in mapping_keys):
        raise CheckpointFormatError(
            "G_ema has a conditional mapping network (mapping.embed): class-conditional "
            "generators are not supported"
        )
    fc_index = set()
    for key in mapping_keys:
        m = _FC_RE.match(key)
        if m is not None:
            fc_index.add(int(m.group(1)))
        elif key != "mapping.w_avg":
            raise CheckpointFormatError(f"G_ema holds {key}, which is not part of a StyleGAN2 mapping network")
    n_mlp = len(fc_index)
    if n_mlp == 0:
        raise CheckpointFormatError("G_ema has no mapping network tensors (mapping.fc0.weight missing)")
    if sorted(fc_index) != list(range(n_mlp)):
        raise CheckpointFormatError(f"G_ema mapping layers are numbered {sorted(fc_index)}; expected 0..{n_mlp - 1}")
    blocks = _check_synthesis_names(synthesis_keys)
    resolution = max(blocks)
    n_up = int(round(math.log2(resolution))) - 2

    required = [f"mapping.fc{i}.{p}" for i in range(n_mlp) for p in ("weight", "bias")]
    required += ["synthesis.b4.const"]
    required += [f"synthesis.b4.conv1.{p}" for p in _CONV_PARTS]
    required += [f"synthesis.b4.torgb.{p}" for p in _RGB_PARTS]
    for i in range(n_up):
        r = 2 ** (i + 3)
        for conv in ("conv0", "conv1"):
            required += [f"synthesis.b{r}.{conv}.{p}" for p in _CONV_PARTS]
        required += [f"synthesis.b{r}.torgb.{p}" for p in _RGB_PARTS]
    missing = [k for k in required if k not in tensors]
    if missing:
        shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
        raise CheckpointFormatError(f"G_ema is missing tensors of a StyleGAN2 generator: {shown}")

    style_dim = int(tensors[f"mapping.fc{n_mlp - 1}.weight"].shape[0])
    sd: Dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        sd[f"style.{i + 1}.weight"] = _expect(tensors, f"mapping.fc{i}.weight", (style_dim, style_dim))
        sd[f"style.{i + 1}.bias"] = _expect(tensors, f"mapping.fc{i}.bias", (style_dim,))

    latent_avg: Optional[torch.Tensor] = None
    if "mapping.w_avg" in tensors:
        latent_avg = _expect(tensors, "mapping.w_avg", (style_dim,))

    # ---- synthesis network
    const = tensors["synthesis.b4.const"]
    if const.dim() != 3:
        raise CheckpointFormatError(f"G_ema synthesis.b4.const has shape {tuple(const.shape)}, expected [C, 4, 4]")
    c4 = int(const.shape[0])
    sd["input.input"] = _expect(tensors, "synthesis.b4.const", (c4, 4, 4)).unsqueeze(0)
    channels: Dict[int, int] = {4: c4}
    noises: Dict[str, torch.Tensor] = {}

    def conv(src: str, dst: str, in_ch: int, res: int, noise_index: int) -> int:
        weight = tensors[f"{src}.weight"]
        if weight.dim() != 4:
            raise CheckpointFormatError(f"G_ema {src}.weight has shape {tuple(weight.shape)}, expected [out, in, 3, 3]")
        out_ch = int(weight.shape[0])
        sd[f"{dst}.conv.weight"] = _expect(tensors, f"{src}.weight", (out_ch, in_ch, 3, 3)).unsqueeze(0)
        sd[f"{dst}.conv.modulation.weight"] = _expect(tensors, f"{src}.affine.weight", (in_ch, style_dim))
        sd[f"{dst}.conv.modulation.bias"] = _expect(tensors, f"{src}.affine.bias", (in_ch,))
        sd[f"{dst}.noise.weight"] = _expect(tensors, f"{src}.noise_strength", ()).reshape(1)
        sd[f"{dst}.activate.bias"] = _expect(tensors, f"{src}.bias", (out_ch,))
        noises[f"noises.noise_{noise_index}"] = _expect(tensors, f"{src}.noise_const", (res, res)).reshape(
            1, 1, res, res
        )
        return out_ch

    def to_rgb(src: str, dst: str, in_ch: int) -> None:
        sd[f"{dst}.bias"] = _expect(tensors, f"{src}.bias", (3,)).reshape(1, 3, 1, 1)
        sd[f"{dst}.conv.weight"] = _expect(tensors, f"{src}.weight", (3, in_ch, 1, 1)).unsqueeze(0)
        sd[f"{dst}.conv.modulation.weight"] = _expect(tensors, f"{src}.affine.weight", (in_ch, style_dim))
        sd[f"{dst}.conv.modulation.bias"] = _expect(tensors, f"{src}.affine.bias", (in_ch,))

    ch = conv("synthesis.b4.conv1", "conv1", c4, 4, 0)
    if ch != c4:
        raise CheckpointFormatError(f"G_ema synthesis.b4.conv1 has {ch} output channels, expected {c4}")
    to_rgb("synthesis.b4.torgb", "to_rgb1", ch)
    for k in range(n_up):
        r = 2 ** (k + 3)
        ch = conv(f"synthesis.b{r}.conv0", f"convs.{2 * k}", ch, r, 2 * k + 1)
        ch = conv(f"synthesis.b{r}.conv1", f"convs.{2 * k + 1}", ch, r, 2 * k + 2)
        to_rgb(f"synthesis.b{r}.torgb", f"to_rgbs.{k}", ch)
        channels[r] = ch
    sd.update(noises)

    meta = {
        "resolution": resolution,
        "style_dim": style_dim,
        "n_mlp": n_mlp,
        "channels": channels,
        "source": source,
    }
    return {"state_dict": sd, "latent_avg": latent_avg, "meta": meta}


def read_stylegan2_ada_pkl(path: PathLike) -> Dict[str, Any]:
    """Read ``G_ema`` of a stylegan2-ada-pytorch ``.pkl`` as a rosinality ``g_ema`` state dict.

    Returns ``{"state_dict": {key: tensor}, "latent_avg": tensor [style_dim] or None,
    "meta": {"resolution", "style_dim", "n_mlp", "channels": {res: ch}, "source", "conv_clamp"}}``. The
    pickle's embedded source code is never executed. Raises ``CheckpointFormatError``.
    """
    data = restricted_load_path(path)
    if not isinstance(data, dict):
        raise CheckpointFormatError(
            f"{path}: holds a {type(data).__name__}, not the dict of a stylegan2-ada-pytorch network pickle"
        )
    if "G_ema" not in data:
        keys = ", ".join(sorted(str(k) for k in data)[:10])
        raise CheckpointFormatError(
            f"{path}: no 'G_ema' entry (keys: {keys}); expected a stylegan2-ada-pytorch network pickle"
        )
    try:
        tensors = collect_module_tensors(data["G_ema"], where="G_ema")
        result = ada_state_to_rosinality(tensors, source=SOURCE)
        result["meta"]["conv_clamp"] = read_conv_clamp(data["G_ema"])
    except CheckpointFormatError as exc:
        raise CheckpointFormatError(f"{path}: {exc}") from exc
    return result
