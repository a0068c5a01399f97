"""A small reader for OpenVINO IR (v10/v11) files: the ``.xml`` graph and the ``.bin`` weight blob.

Only what is needed to import weights into PyTorch modules: layers with their attributes and
ports, the edges between ports, and ``Const`` layers decoded to numpy arrays from the raw blob at
the offset, size and element type the XML gives. No OpenVINO runtime is used.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

PathLike = Union[str, Path]

#: IR element type -> numpy dtype (little-endian, as OpenVINO writes them).
ELEMENT_TYPES: Dict[str, np.dtype] = {
    "f64": np.dtype("<f8"),
    "f32": np.dtype("<f4"),
    "f16": np.dtype("<f2"),
    "i64": np.dtype("<i8"),
    "i32": np.dtype("<i4"),
    "i16": np.dtype("<i2"),
    "i8": np.dtype("i1"),
    "u64": np.dtype("<u8"),
    "u32": np.dtype("<u4"),
    "u16": np.dtype("<u2"),
    "u8": np.dtype("u1"),
    "boolean": np.dtype("bool"),
}


class IRFormatError(ValueError):
    """The IR files are malformed, truncated or use a feature this reader does not support."""


def parse_shape(text: Optional[str]) -> Tuple[int, ...]:
    """``"1, 512, 4, 4"`` -> ``(1, 512, 4, 4)``; ``""`` (a scalar) -> ``()``."""
    if text is None or not text.strip():
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise IRFormatError(f"cannot parse IR shape {text!r} (dynamic shapes are not supported)") from exc


@dataclass(frozen=True)
class IRPort:
    """One input or output port of a layer."""

    id: int
    shape: Tuple[int, ...]
    precision: Optional[str] = None
    names: Tuple[str, ...] = ()


@dataclass(frozen=True)
class IREdge:
    """A connection from an output port of one layer to an input port of another."""

    from_layer: int
    from_port: int
    to_layer: int
    to_port: int


@dataclass
class IRLayer:
    """One node of the graph: ``type`` is the OpenVINO op (``Const``, ``MatMul``, ...)."""

    id: int
    name: str
    type: str
    version: str
    data: Dict[str, str] = field(default_factory=dict)
    inputs: List[IRPort] = field(default_factory=list)
    outputs: List[IRPort] = field(default_factory=list)

    def input_port(self, port_id: int) -> IRPort:
        """The input port with id ``port_id``."""
        for port in self.inputs:
            if port.id == port_id:
                return port
        raise KeyError(f"layer {self.id} ({self.name}) has no input port {port_id}")


def _parse_ports(element: Optional[ET.Element]) -> List[IRPort]:
    if element is None:
        return []
    ports = []
    for port in element.findall("port"):
        names = tuple(n.strip() for n in port.get("names", "").split(",") if n.strip())
        shape = tuple(int(dim.text) for dim in port.findall("dim"))  # type: ignore[arg-type]
        ports.append(IRPort(int(port.get("id", "0")), shape, port.get("precision"), names))
    return ports


class IRGraph:
    """A parsed IR: ``layers`` by id, ``edges``, and lazy access to the weight blob."""

    def __init__(self, name: str, layers: Dict[int, IRLayer], edges: List[IREdge], bin_path: Path):
        self.name = name
        self.layers = layers
        self.edges = edges
        self.bin_path = bin_path
        self._blob: Optional[bytes] = None
        self._by_name: Dict[str, IRLayer] = {}
        for layer in layers.values():
            self._by_name.setdefault(layer.name, layer)
        self._in_edges: Dict[Tuple[int, int], IREdge] = {(e.to_layer, e.to_port): e for e in edges}
        self._out_edges: Dict[int, List[IREdge]] = {}
        for edge in edges:
            self._out_edges.setdefault(edge.from_layer, []).append(edge)

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, xml_path: PathLike, bin_path: Optional[PathLike] = None) -> "IRGraph":
        """Parse ``xml_path``; the weights are read from ``bin_path`` (default: same stem, ``.bin``)."""
        xml_path = Path(xml_path)
        bin_path = Path(bin_path) if bin_path is not None else xml_path.with_suffix(".bin")
        if not xml_path.is_file():
            raise FileNotFoundError(f"OpenVINO IR graph not found: {xml_path}")
        if not bin_path.is_file():
            raise FileNotFoundError(f"OpenVINO IR weights not found: {bin_path} (needed by {xml_path.name})")
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as exc:
            raise IRFormatError(f"{xml_path} is not valid XML (truncated download?): {exc}") from exc
        if root.tag != "net":
            raise IRFormatError(f"{xml_path}: root element is <{root.tag}>, expected <net> (not an OpenVINO IR)")
        layers_el, edges_el = root.find("layers"), root.find("edges")
        if layers_el is None or edges_el is None:
            raise IRFormatError(f"{xml_path}: missing <layers> or <edges>")
        layers: Dict[int, IRLayer] = {}
        for el in layers_el.findall("layer"):
            data_el = el.find("data")
            layer = IRLayer(
                id=int(el.get("id", "-1")),
                name=el.get("name", ""),
                type=el.get("type", ""),
                version=el.get("version", ""),
                data=dict(data_el.attrib) if data_el is not None else {},
                inputs=_parse_ports(el.find("input")),
                outputs=_parse_ports(el.find("output")),
            )
            layers[layer.id] = layer
        edges = [
            IREdge(int(e.get("from-layer", "-1")), int(e.get("from-port", "-1")),
                   int(e.get("to-layer", "-1")), int(e.get("to-port", "-1")))
            for e in edges_el.findall("edge")
        ]
        for edge in edges:
            if edge.from_layer not in layers or edge.to_layer not in layers:
                raise IRFormatError(f"{xml_path}: edge {edge} refers to a missing layer")
        return cls(root.get("name", xml_path.stem), layers, edges, bin_path)

    def _blob_bytes(self) -> bytes:
        if self._blob is None:
            self._blob = self.bin_path.read_bytes()
        return self._blob

    # ---------------------------------------------------------------- queries
    def layer(self, key: Union[int, str]) -> IRLayer:
        """A layer by id or by name."""
        if isinstance(key, int):
            if key not in self.layers:
                raise KeyError(f"{self.name}: no layer with id {key}")
            return self.layers[key]
        if key not in self._by_name:
            raise KeyError(f"{self.name}: no layer named {key!r}")
        return self._by_name[key]

    def of_type(self, op_type: str) -> List[IRLayer]:
        """All layers of one op type, in id order."""
        return [self.layers[i] for i in sorted(self.layers) if self.layers[i].type == op_type]

    def parameters(self) -> List[IRLayer]:
        """The graph inputs (``Parameter`` layers)."""
        return self.of_type("Parameter")

    def results(self) -> List[IRLayer]:
        """The graph outputs (``Result`` layers)."""
        return self.of_type("Result")

    def producer(self, layer: Union[int, IRLayer], port: int) -> Tuple[IRLayer, int]:
        """The ``(layer, output port)`` feeding input ``port`` of ``layer``."""
        lid = layer.id if isinstance(layer, IRLayer) else layer
        edge = self._in_edges.get((lid, port))
        if edge is None:
            raise KeyError(f"{self.name}: input port {port} of layer {lid} is not connected")
        return self.layers[edge.from_layer], edge.from_port

    def inputs_of(self, layer: Union[int, IRLayer]) -> List[IRLayer]:
        """The layers feeding ``layer``, in input-port order."""
        lay = layer if isinstance(layer, IRLayer) else self.layers[layer]
        return [self.producer(lay, p.id)[0] for p in sorted(lay.inputs, key=lambda p: p.id)]

    def consumers(self, layer: Union[int, IRLayer]) -> List[Tuple[IRLayer, int]]:
        """The ``(layer, input port)`` pairs fed by ``layer``."""
        lid = layer.id if isinstance(layer, IRLayer) else layer
        return [(self.layers[e.to_layer], e.to_port) for e in self._out_edges.get(lid, [])]

    def topological_order(self) -> List[IRLayer]:
        """Layers ordered so that every producer comes before its consumers."""
        indegree = {lid: 0 for lid in self.layers}
        for edge in self.edges:
            indegree[edge.to_layer] += 1
        ready = sorted(lid for lid, d in indegree.items() if d == 0)
        order: List[IRLayer] = []
        while ready:
            lid = ready.pop(0)
            order.append(self.layers[lid])
            for edge in self._out_edges.get(lid, []):
                indegree[edge.to_layer] -= 1
                if indegree[edge.to_layer] == 0:
                    ready.append(edge.to_layer)
        if len(order) != len(self.layers):
            raise IRFormatError(f"{self.name}: the graph has a cycle")
        return order

    # ---------------------------------------------------------------- constants
    def const(self, key: Union[int, str, IRLayer]) -> np.ndarray:
        """Decode a ``Const`` layer (by id, name or layer) into a fresh numpy array."""
        layer = key if isinstance(key, IRLayer) else self.layer(key)
        if layer.type != "Const":
            raise ValueError(f"{self.name}: layer {layer.id} ({layer.name}) is a {layer.type}, not a Const")
        etype = layer.data.get("element_type")
        if etype not in ELEMENT_TYPES:
            raise IRFormatError(f"{self.name}: Const {layer.name!r} has unsupported element type {etype!r}")
        dtype = ELEMENT_TYPES[etype]
        shape = parse_shape(layer.data.get("shape"))
        try:
            offset, size = int(layer.data["offset"]), int(layer.data["size"])
        except KeyError as exc:
            raise IRFormatError(f"{self.name}: Const {layer.name!r} lacks offset/size") from exc
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dtype.itemsize != size:
            raise IRFormatError(
                f"{self.name}: Const {layer.name!r}: {size} bytes for shape {shape} of {etype} "
                f"(expected {count * dtype.itemsize})")
        blob = self._blob_bytes()
        if offset < 0 or offset + size > len(blob):
            raise IRFormatError(
                f"{self.bin_path} is truncated: Const {layer.name!r} needs bytes [{offset}, {offset + size}) "
                f"but the file has {len(blob)} bytes (re-install the package that ships it)")
        return np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape).copy()

    def constants(self) -> Dict[str, np.ndarray]:
        """Every ``Const`` layer decoded, keyed by layer name."""
        return {layer.name: self.const(layer) for layer in self.of_type("Const")}

    def __iter__(self) -> Iterator[IRLayer]:
        return iter(self.layers[i] for i in sorted(self.layers))

    def __len__(self) -> int:
        return len(self.layers)
