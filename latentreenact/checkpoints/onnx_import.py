"""A small ONNX -> PyTorch importer: the graph becomes a plain, differentiable ``nn.Module``.

Supports the operators of the OpenCV Zoo face models (SFace, YuNet) and little more:
Conv, BatchNormalization (inference statistics), PRelu, Relu, Sigmoid, Gemm, MaxPool, Resize
(nearest), Add/Sub/Mul/Div, Transpose, Reshape, Flatten, Concat, Dropout/Identity (no-ops) and
Constant. Weight-only subgraphs (DequantizeLinear of int8 block-quantised weights, Reshape,
Constant, ...) are folded at import time with numpy, so the module holds float32 weights.
``onnx`` is needed only to read the file; onnxruntime is not used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


class UnsupportedOnnxError(ValueError):
    """The ONNX graph uses an operator or attribute this importer does not implement."""


# ----------------------------------------------------------------------------- constant folding
def dequantize_linear(x: np.ndarray, scale: np.ndarray, zero_point: Optional[np.ndarray], axis: int = 1,
                      block_size: int = 0) -> np.ndarray:
    """ONNX DequantizeLinear in numpy: ``(x - zero_point) * scale`` (per tensor, axis or block)."""
    scale = np.asarray(scale, dtype=np.float32)
    zp = np.zeros_like(scale, dtype=np.int32) if zero_point is None else np.asarray(zero_point).astype(np.int32)
    if scale.ndim == 0 or scale.size == 1 and block_size == 0:
        scale, zp = scale.reshape(()), zp.reshape(())
    elif block_size > 0:
        axis = axis % x.ndim
        n = x.shape[axis]
        scale = np.repeat(scale, block_size, axis=axis).take(np.arange(n), axis=axis)
        zp = np.repeat(zp, block_size, axis=axis).take(np.arange(n), axis=axis)
    else:
        axis = axis % x.ndim
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((x.astype(np.int32) - zp).astype(np.float32) * scale).astype(np.float32)


def _onnx_reshape_shape(in_shape: Sequence[int], shape: Sequence[int]) -> List[int]:
    """Resolve ONNX Reshape's 0 (copy the input dim) entries; -1 is left to torch/numpy."""
    return [int(in_shape[i]) if int(s) == 0 else int(s) for i, s in enumerate(shape)]


def _fold(op: str, inputs: List[Optional[np.ndarray]], attrs: Dict[str, Any]) -> Optional[np.ndarray]:
    """Evaluate a node whose inputs are all constants; ``None`` when ``op`` is not foldable."""
    if op == "DequantizeLinear":
        return dequantize_linear(inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None,
                                 int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
    if op == "Reshape":
        return inputs[0].reshape(_onnx_reshape_shape(inputs[0].shape, inputs[1]))
    if op == "Transpose":
        return np.transpose(inputs[0], attrs.get("perm"))
    if op in ("Identity", "Dropout"):
        return inputs[0]
    if op == "Cast":
        from onnx import helper

        return inputs[0].astype(helper.tensor_dtype_to_np_dtype(int(attrs["to"])))
    if op == "Unsqueeze":
        axes = inputs[1] if len(inputs) > 1 else attrs["axes"]
        return np.expand_dims(inputs[0], tuple(int(a) for a in axes))
    return None


# ----------------------------------------------------------------------------- layer modules
class FrozenBatchNorm(nn.Module):
    """BatchNormalization with fixed (inference) statistics, for inputs [N, C, ...]."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.from_numpy(weight.astype(np.float32)))
        self.bias = nn.Parameter(torch.from_numpy(bias.astype(np.float32)))
        self.register_buffer("running_mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("running_var", torch.from_numpy(var.astype(np.float32)))
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


class PRelu(nn.Module):
    """ONNX PRelu: ``x`` where positive, ``slope * x`` elsewhere (slope broadcast as stored)."""

    def __init__(self, slope: np.ndarray):
        super().__init__()
        self.slope = nn.Parameter(torch.from_numpy(slope.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.slope
        if x.ndim >= 2 and s.numel() == x.shape[1] and (s.ndim == 1 or s.shape[1:].numel() == 1):
            return F.prelu(x, s.reshape(-1))
        return torch.where(x >= 0, x, x * s)


class Binary(nn.Module):
    """Add / Sub / Mul / Div with runtime tensors and (optionally) one stored constant."""

    FUNCS: Dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
        "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}

    def __init__(self, op: str, constant: Optional[np.ndarray] = None, constant_first: bool = False):
        super().__init__()
        self.op = op
        self.constant_first = constant_first
        if constant is not None:
            self.register_buffer("constant", torch.from_numpy(np.asarray(constant, dtype=np.float32)))
        else:
            self.constant = None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        func = self.FUNCS[self.op]
        if self.constant is None:
            return func(xs[0], xs[1])
        return func(self.constant, xs[0]) if self.constant_first else func(xs[0], self.constant)


class Lambda(nn.Module):
    """A parameter-free op (activation, transpose, reshape, ...) with a readable repr."""

    def __init__(self, name: str, func: Callable[..., torch.Tensor]):
        super().__init__()
        self.name = name
        self.func = func

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.func(*xs)

    def extra_repr(self) -> str:
        return self.name


def _pads_2d(pads: Sequence[int]) -> Tuple[Optional[Tuple[int, int]], Tuple[int, int, int, int]]:
    """ONNX pads [h0, w0, h1, w1] -> (symmetric padding or None, F.pad tuple)."""
    h0, w0, h1, w1 = (int(p) for p in pads)
    if h0 == h1 and w0 == w1:
        return (h0, w0), (0, 0, 0, 0)
    return None, (w0, w1, h0, h1)


def _conv(weight: np.ndarray, bias: Optional[np.ndarray], attrs: Dict[str, Any]) -> nn.Module:
    if weight.ndim != 4:
        raise UnsupportedOnnxError(f"only 2-D Conv is supported, got weight {weight.shape}")
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UnsupportedOnnxError(f"Conv auto_pad={attrs['auto_pad']!r} is not supported")
    group = int(attrs.get("group", 1))
    sym, extra = _pads_2d(attrs.get("pads", [0, 0, 0, 0]))
    conv = nn.Conv2d(weight.shape[1] * group, weight.shape[0], weight.shape[2:],
                     stride=tuple(attrs.get("strides", [1, 1])), padding=sym or 0,
                     dilation=tuple(attrs.get("dilations", [1, 1])), groups=group, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.array(weight, dtype=np.float32)))
        if bias is not None:
            conv.bias.copy_(torch.from_numpy(np.array(bias, dtype=np.float32)))
    if sym is None:
        return nn.Sequential(Lambda(f"pad{extra}", lambda x: F.pad(x, extra)), conv)
    return conv


def _gemm(weight: np.ndarray, bias: Optional[np.ndarray], attrs: Dict[str, Any]) -> nn.Module:
    if int(attrs.get("transA", 0)):
        raise UnsupportedOnnxError("Gemm with transA=1 is not supported")
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    w = weight if int(attrs.get("transB", 0)) else weight.T
    linear = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w * alpha)))
        if bias is not None:
            linear.bias.copy_(torch.from_numpy(np.broadcast_to(bias * beta, (w.shape[0],)).copy()))
    return linear


def _runtime_reshape(shape: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    target = [int(s) for s in shape]
    return lambda x: x.reshape(_onnx_reshape_shape(x.shape, target))


def _resize(attrs: Dict[str, Any], scales: Optional[np.ndarray], sizes: Optional[np.ndarray]) -> nn.Module:
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = attrs.get("coordinate_transformation_mode", b"half_pixel")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    nearest_mode = attrs.get("nearest_mode", b"round_prefer_floor")
    nearest_mode = nearest_mode.decode() if isinstance(nearest_mode, bytes) else nearest_mode
    if mode != "nearest" or ctm != "asymmetric" or nearest_mode != "floor":
        raise UnsupportedOnnxError(f"Resize mode={mode} ctm={ctm} nearest_mode={nearest_mode} is not supported")
    if sizes is not None and sizes.size:
        size = tuple(int(s) for s in sizes[2:])
        return Lambda(f"resize_nearest{size}", lambda x: F.interpolate(x, size=size, mode="nearest"))
    if scales is None or scales.size != 4 or scales[0] != 1 or scales[1] != 1:
        raise UnsupportedOnnxError(f"Resize needs per-axis scales (1, 1, sh, sw), got {scales}")
    factor = (float(scales[2]), float(scales[3]))
    return Lambda(f"resize_nearest x{factor}", lambda x: F.interpolate(x, scale_factor=factor, mode="nearest"))


# ----------------------------------------------------------------------------- the graph module
class OnnxGraphModule(nn.Module):
    """An imported ONNX graph: one sub-module per runtime node, run in the file's order.

    ``forward(*inputs)`` takes the graph's runtime inputs in order and returns its output
    tensor, or a tuple of them in ``output_names`` order when the graph has several.
    """

    def __init__(self, steps: List[Tuple[str, nn.Module, List[str], List[str]]], input_names: List[str],
                 output_names: List[str], constants: Dict[str, torch.Tensor]):
        super().__init__()
        self.layers = nn.ModuleDict()
        self._steps: List[Tuple[str, List[str], List[str]]] = []
        for key, module, ins, outs in steps:
            self.layers[key] = module
            self._steps.append((key, ins, outs))
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self._constant_outputs = {k: v for k, v in constants.items() if k in output_names}

    @property
    def tensor_names(self) -> List[str]:
        """Names of the intermediate tensors, in execution order (for ``run(taps=...)``)."""
        return [outs[0] for _, _, outs in self._steps]

    def run(self, *inputs: torch.Tensor, taps: Sequence[str] = ()) -> Dict[str, torch.Tensor]:
        """Run the graph; return the outputs and the requested intermediate tensors by name."""
        if len(inputs) != len(self.input_names):
            raise ValueError(f"this graph takes {len(self.input_names)} inputs {self.input_names}, got {len(inputs)}")
        unknown = set(taps) - set(self.tensor_names)
        if unknown:
            raise KeyError(f"unknown tensor name(s) {sorted(unknown)}; see tensor_names")
        env: Dict[str, torch.Tensor] = dict(zip(self.input_names, inputs))
        env.update(self._constant_outputs)
        for key, ins, outs in self._steps:
            env[outs[0]] = self.layers[key](*(env[name] for name in ins))
        return {name: env[name] for name in [*self.output_names, *taps]}

    def forward(self, *inputs: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        env = self.run(*inputs)
        results = tuple(env[name] for name in self.output_names)
        return results[0] if len(results) == 1 else results


def _sanitize(name: str, used: Dict[str, int]) -> str:
    key = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "node"
    if key[0].isdigit():
        key = "n" + key
    count = used.get(key, 0)
    used[key] = count + 1
    return key if count == 0 else f"{key}_{count}"


def _const(consts: Dict[str, np.ndarray], name: str) -> Optional[np.ndarray]:
    """The constant ``name`` (None for an absent optional input or a runtime value)."""
    return consts.get(name) if name else None


def _node_module(op: str, ins: List[str], attrs: Dict[str, Any], consts: Dict[str, np.ndarray],
                 what: str) -> Tuple[nn.Module, List[str]]:
    """The module of one runtime ONNX node and the names of its runtime inputs (``what`` names the node)."""
    runtime = [n for n in ins if n and n not in consts]
    module: nn.Module
    if op == "Conv":
        module = _conv(consts[ins[1]], _const(consts, ins[2]) if len(ins) > 2 else None, attrs)
        runtime = [ins[0]]
    elif op == "BatchNormalization":
        module = FrozenBatchNorm(consts[ins[1]], consts[ins[2]], consts[ins[3]], consts[ins[4]],
                                 float(attrs.get("epsilon", 1e-5)))
        runtime = [ins[0]]
    elif op == "PRelu":
        module, runtime = PRelu(consts[ins[1]]), [ins[0]]
    elif op == "Gemm":
        module = _gemm(consts[ins[1]], _const(consts, ins[2]) if len(ins) > 2 else None, attrs)
        runtime = [ins[0]]
    elif op in Binary.FUNCS:
        if len(runtime) == 2:
            module = Binary(op)
        elif ins[1] in consts:
            module = Binary(op, consts[ins[1]])
        else:
            module = Binary(op, consts[ins[0]], constant_first=True)
    elif op == "Relu":
        module = nn.ReLU()
    elif op == "Sigmoid":
        module = nn.Sigmoid()
    elif op in ("Dropout", "Identity"):
        module, runtime = nn.Identity(), [ins[0]]
    elif op == "Flatten":
        axis = int(attrs.get("axis", 1))
        module = Lambda(f"flatten(axis={axis})", lambda x, a=axis: x.reshape(
            int(np.prod(x.shape[:a])), -1) if a > 0 else x.reshape(1, -1))
    elif op == "Reshape":
        module, runtime = Lambda(f"reshape{list(consts[ins[1]])}", _runtime_reshape(consts[ins[1]])), [ins[0]]
    elif op == "Transpose":
        perm = tuple(int(p) for p in attrs["perm"])
        module = Lambda(f"permute{perm}", lambda x, p=perm: x.permute(*p))
    elif op == "MaxPool":
        sym, extra = _pads_2d(attrs.get("pads", [0, 0, 0, 0]))
        if sym is None:
            raise UnsupportedOnnxError("asymmetric MaxPool padding is not supported")
        module = nn.MaxPool2d(tuple(attrs["kernel_shape"]), tuple(attrs.get("strides", attrs["kernel_shape"])),
                              sym, ceil_mode=bool(attrs.get("ceil_mode", 0)))
    elif op == "Resize":
        module = _resize(attrs, _const(consts, ins[2]) if len(ins) > 2 else None, _const(consts, ins[3]) if len(ins) > 3 else None)
        runtime = [ins[0]]
    elif op == "Concat":
        axis = int(attrs["axis"])
        if any(n in consts for n in ins):
            raise UnsupportedOnnxError("Concat with constant inputs is not supported")
        module = Lambda(f"cat(axis={axis})", lambda *xs, a=axis: torch.cat(xs, a))
    else:
        raise UnsupportedOnnxError(f"{what} is not supported")
    return module, runtime


def import_onnx(path: Union[str, Path]) -> OnnxGraphModule:
    """Read an ONNX file and build the equivalent ``OnnxGraphModule`` (float32, CPU)."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise ImportError("reading ONNX models needs the 'onnx' package: pip install onnx") from exc

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    model = onnx.load(str(path))
    graph = model.graph
    consts: Dict[str, np.ndarray] = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    used_names = {name for node in graph.node for name in node.input}
    # Graph inputs that are initialisers, or that no node reads (stale declarations), are not runtime inputs.
    input_names = [i.name for i in graph.input if i.name not in consts and i.name in used_names]
    steps: List[Tuple[str, nn.Module, List[str], List[str]]] = []
    used: Dict[str, int] = {}

    for node in graph.node:
        op = node.op_type
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ins = list(node.input)
        if op == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        if all((not n) or n in consts for n in ins):
            folded = _fold(op, [_const(consts, n) for n in ins], attrs)
            if folded is not None:
                consts[node.output[0]] = folded
                continue
        what = f"{path.name}: ONNX operator {op!r} (node {node.name!r})"
        module, runtime = _node_module(op, ins, attrs, consts, what)
        steps.append((_sanitize(node.name or node.output[0], used), module, runtime, list(node.output)))

    output_names = [o.name for o in graph.output]
    const_tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in consts.items() if k in output_names}
    log.debug("imported %s: %d runtime nodes", path.name, len(steps))
    return OnnxGraphModule(steps, input_names, output_names, const_tensors)
