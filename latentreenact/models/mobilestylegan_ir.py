"""MobileStyleGAN's state dict from the OpenVINO IR files of the ``random-face`` package: the
graph is walked layer by layer and every weight is checked against the architecture."""

from __future__ import annotations

import math
from typing import Dict, Tuple

import numpy as np
import torch

from .mobilestylegan_layers import INV_SQRT2
from .openvino_ir import IRFormatError, IRGraph, IRLayer

def _split_const(graph: IRGraph, layer: IRLayer) -> Tuple[np.ndarray, IRLayer]:
    """For a binary op with one ``Const`` input: (that constant, the other input layer)."""
    a, b = graph.inputs_of(layer)
    if a.type == "Const" and b.type != "Const":
        return graph.const(a), b
    if b.type == "Const" and a.type != "Const":
        return graph.const(b), a
    raise IRFormatError(f"{graph.name}: expected one Const input to {layer.type} {layer.name!r}")


def _expect(layer: IRLayer, op: str, what: str) -> IRLayer:
    if layer.type != op:
        raise IRFormatError(f"unexpected IR structure at {what}: found {layer.type} {layer.name!r}, expected {op}")
    return layer


def _single_consumer(graph: IRGraph, layer: IRLayer) -> IRLayer:
    users = [u for u in graph.consumers(layer) if u[0].type != "ShapeOf"]  # shape plumbing ignored
    if len(users) != 1:
        raise IRFormatError(f"{graph.name}: {layer.name!r} feeds {len(users)} layers, expected 1")
    return users[0][0]


def _modulation_scale(graph: IRGraph, prefix: str) -> float:
    """The scalar multiplying ``Linear(style)`` of ``{prefix}.modulation`` (1.0 if none)."""
    node = _single_consumer(graph, graph.layer(f"{prefix}.modulation.weight"))  # MatMul
    node = _single_consumer(graph, node)  # Add bias
    node = _single_consumer(graph, node)  # Reshape to [B, C, 1, 1]
    node = _single_consumer(graph, node)  # Multiply (scale) or Multiply (with x)
    for src in graph.inputs_of(node):
        if src.type == "Const" and graph.const(src).size == 1:
            return float(graph.const(src).ravel()[0])
    return 1.0


def _linear(graph: IRGraph, prefix: str) -> Dict[str, torch.Tensor]:
    weight = graph.const(f"{prefix}.weight")
    return {"weight": torch.from_numpy(weight),
            "bias": torch.from_numpy(graph.const(f"{prefix}.bias").reshape(weight.shape[0]))}


def _styled_conv(graph: IRGraph, prefix: str, depthwise: bool) -> Dict[str, torch.Tensor]:
    """Weights of one styled conv, found by walking back from its named bias."""
    bias_const = graph.layer(f"{prefix}.bias")
    add_bias = _expect(_single_consumer(graph, bias_const), "Add", f"{prefix}.bias")
    _, add_noise = _split_const(graph, add_bias)
    noise_map, conv = _split_const(graph, _expect(add_noise, "Add", f"{prefix} noise"))
    weight, conv_in = _split_const(graph, _expect(conv, "Convolution", f"{prefix} conv"))
    out = {f"modulation.{k}": v for k, v in _linear(graph, f"{prefix}.conv.modulation").items()}
    if depthwise:
        dw, _ = _split_const(graph, _expect(conv_in, "GroupConvolution", f"{prefix} depthwise conv"))
        out["weight_dw"] = torch.from_numpy(dw.reshape(dw.shape[0], 1, dw.shape[-2], dw.shape[-1]))
        out["weight_pw"] = torch.from_numpy(weight)
    else:
        out["weight"] = torch.from_numpy(weight)
    rms = float(np.sqrt(np.mean(noise_map.astype(np.float64) ** 2)))
    out["noise.strength"] = torch.tensor([rms], dtype=torch.float32)
    out["noise.const"] = torch.from_numpy((noise_map / rms if rms > 0 else noise_map).astype(np.float32))
    out["bias"] = torch.from_numpy(graph.const(bias_const))
    return out


def _check_haar_filters(graph: IRGraph) -> None:
    """Every transposed conv of the graph must be a db1 synthesis filter (+-1/sqrt 2)."""
    for layer in graph.of_type("GroupConvolutionBackpropData"):
        taps, _ = _split_const(graph, layer)
        if not np.allclose(np.abs(taps), INV_SQRT2, atol=1e-6):
            raise IRFormatError(f"{layer.name}: not a Haar synthesis filter, got taps {taps.ravel()[:2]}")


def _mapping_state(graph: IRGraph) -> Dict[str, torch.Tensor]:
    """Mapping weights: one (MatMul weight, bias) pair per layer, in graph order."""
    state: Dict[str, torch.Tensor] = {}
    matmuls = [layer for layer in graph.topological_order() if layer.type == "MatMul"]
    if not matmuls:
        raise IRFormatError(f"{graph.name}: no MatMul layers; not a mapping network")
    for i, matmul in enumerate(matmuls):
        if matmul.data.get("transpose_b") != "true":
            raise IRFormatError(f"{matmul.name}: expected transpose_b=true")
        weight, _ = _split_const(graph, matmul)
        add = _expect(_single_consumer(graph, matmul), "Add", f"{matmul.name} bias")
        bias_src = [x for x in graph.inputs_of(add) if x is not matmul][0]
        bias_const = bias_src if bias_src.type == "Const" else graph.inputs_of(bias_src)[0]
        state[f"mapping_network.layers.{i}.weight"] = torch.from_numpy(weight)
        state[f"mapping_network.layers.{i}.bias"] = torch.from_numpy(graph.const(bias_const).reshape(-1))
    return state


def ir_state_dict(mapping: IRGraph, synthesis: IRGraph) -> Dict[str, torch.Tensor]:
    """A ``MobileStyleGAN`` state dict (``level_heads=False``) from the two parsed IR graphs."""
    state = _mapping_state(mapping)
    _check_haar_filters(synthesis)
    syn = "synthesis_network"
    state[f"{syn}.const"] = torch.from_numpy(synthesis.const("m.input.input"))
    for key, value in _styled_conv(synthesis, "m.conv1", depthwise=False).items():
        state[f"{syn}.conv1.{key}"] = value
    const_names = {layer.name for layer in synthesis.of_type("Const")}
    k = 0
    while f"m.layers.{k}.up.modulation.weight" in const_names:
        for key, value in _linear(synthesis, f"m.layers.{k}.up.modulation").items():
            state[f"{syn}.blocks.{k}.up.modulation.{key}"] = value
        for conv in ("conv1", "conv2"):
            for key, value in _styled_conv(synthesis, f"m.layers.{k}.{conv}", depthwise=True).items():
                state[f"{syn}.blocks.{k}.{conv}.{key}"] = value
        k += 1
    if k == 0:
        raise IRFormatError(f"{synthesis.name}: no synthesis blocks (m.layers.*) found")
    head = f"m.layers.{k - 1}.to_img"
    for key, value in _linear(synthesis, f"{head}.conv.modulation").items():
        state[f"{syn}.blocks.{k - 1}.to_img.modulation.{key}"] = value
    state[f"{syn}.blocks.{k - 1}.to_img.weight"] = torch.from_numpy(synthesis.const(f"{head}.conv.weight"))
    state[f"{syn}.blocks.{k - 1}.to_img.bias"] = torch.from_numpy(synthesis.const(f"{head}.bias"))
    _check_modulation_scales(synthesis, k)
    return state


def _check_modulation_scales(graph: IRGraph, n_blocks: int) -> None:
    """The IR's modulation scales must equal ours: 1/sqrt(fan_in), 1 for ``up``."""
    checks = [("m.conv1.conv", graph.const("m.conv1.conv.modulation.weight").shape[0] * 9)]
    for k in range(n_blocks):
        checks.append((f"m.layers.{k}.up", None))
        for conv in ("conv1", "conv2"):
            fan_in = graph.const(f"m.layers.{k}.{conv}.conv.modulation.weight").shape[0] * 9
            checks.append((f"m.layers.{k}.{conv}.conv", fan_in))
    checks.append((f"m.layers.{n_blocks - 1}.to_img.conv",
                   graph.const(f"m.layers.{n_blocks - 1}.to_img.conv.modulation.weight").shape[0]))
    for prefix, fan_in in checks:
        expected = 1.0 if fan_in is None else 1.0 / math.sqrt(fan_in)
        found = _modulation_scale(graph, prefix)
        if not math.isclose(found, expected, rel_tol=1e-5):
            raise IRFormatError(f"{prefix}: modulation scale {found} in the IR, expected {expected}")
