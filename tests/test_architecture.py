"""The import graph of the project's packages, read with ``ast``: one direction of dependencies.

Every module belongs to one layer (see ``docs/architecture.md``):

1. foundations -- ops, generators, checkpoint formats, faces, 3D shape, identity and perceptual
   networks, metrics, files, images and video I/O;
2. stages -- inversion, Net3D, directions (in that order of data flow);
3. pipeline -- the reenactor and the video driver;
4. applications -- the CLI, the demo, the evaluation harness.

A module may import modules of its own layer or of lower ones, never of a higher one, and the
graph (module-level and function-local imports alike, those under ``if TYPE_CHECKING`` too: a
type named in an annotation is a dependency as well) has no cycle. Imports inside functions are
kept for the optional heavy dependencies listed in ``LAZY_ALLOWED`` only: nothing else hides an
edge from this test.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("latentreenact", "stylegan2_ops", "inversion", "directions", "demo")

# Layer of each module, by the longest matching dotted prefix. Stages are ordered as the data
# flows: inversion and Net3D first, then the directions that use both.
LAYERS: Dict[str, int] = {
    # foundations
    "stylegan2_ops": 0,
    "latentreenact": 0,
    "latentreenact.models": 0,
    "latentreenact.checkpoints": 0,
    "latentreenact.faces": 0,
    "latentreenact.shape3d": 0,
    "latentreenact.identity": 0,
    "latentreenact.perceptual": 0,
    "latentreenact.metrics": 0,
    # stages
    "inversion": 1,
    "latentreenact.net3d": 1,
    "directions": 2,
    # pipeline
    "latentreenact.model_parts": 3,
    "latentreenact.reenact_video": 3,
    "latentreenact.reenact_files": 3,
    "latentreenact.reenactor": 3,
    "latentreenact.pose_delta": 3,
    "latentreenact.face_meter": 3,
    "latentreenact.live": 3,
    "latentreenact.source_calibration": 3,
    "latentreenact.source_file": 3,
    "latentreenact.edit_controls": 3,
    # applications
    "latentreenact.cli": 4,
    "latentreenact.evaluation": 4,
    "latentreenact.judge": 4,
    "demo": 4,
}
LAYER_NAMES = {0: "foundations", 1: "stages (inversion, Net3D)", 2: "stages (directions)", 3: "pipeline",
               4: "applications"}

# Imports that may stay inside functions: optional or heavy dependencies that ``import`` of a
# package must not pull in (a compiled plugin, native libraries, the web UI).
LAZY_ALLOWED: Set[str] = {
    "stylegan2_ops._cuda",      # the CUDA plugin: compiled with ninja on first use
    "stylegan2_ops._plugin",
    "torch.utils.cpp_extension",
    "dlib",                     # native face detector / landmarks / descriptor
    "onnx",                     # ONNX graphs (SFace, YuNet) read into PyTorch
    "onnxruntime",
    "scipy",                    # only for fitting and a few filters
    "gradio",                   # the demo's web UI
    "openvino",                 # optional cross-check of the MobileStyleGAN port
    "imageio_ffmpeg",           # the ffmpeg binary, looked up when a video is read or written
    "lpips",
    "torchvision",
    "chumpy",
    "matplotlib",               # plots of the evaluation reports
    "mediapipe",                # the judge's face mesh (its own virtual environment)
}

# Scripts run by another interpreter: they import what that environment has, when they need it.
OTHER_INTERPRETER: Set[str] = {
    "latentreenact.judge.mediapipe_worker",
}

# The trainers and what only they use: the inference path (foundations, stages, pipeline) never
# imports them; the trainers and the applications may.
TRAINING: Set[str] = {
    "inversion.encoder_train",
    "directions.train",
    "directions.components",
    "directions.init",
    "latentreenact.net3d.train",
    "latentreenact.net3d.dataset",
    "latentreenact.trainstate",
}



def _modules() -> Dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str:
    """The project module that ``import name`` loads (``''`` for a third-party name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imported_names(module: str, path: Path, node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    for alias in node.names:
        yield f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in MODULES else prefix


def _imports(module: str, path: Path) -> Iterator[Tuple[str, bool]]:
    """(imported name, inside a function) for each import statement of the module."""
    def visit(node: ast.AST, local: bool) -> Iterator[Tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            inside = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in _imported_names(module, path, child):
                    yield name, inside
            yield from visit(child, inside)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")), False)


def _is_lazy_allowed(name: str) -> bool:
    return any(name == allowed or name.startswith(allowed + ".") for allowed in LAZY_ALLOWED)


def _layer(module: str) -> int:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise KeyError(module)


def import_graph() -> Tuple[Dict[str, Set[str]], Set[Tuple[str, str]]]:
    """Edges module -> imported project modules, and the (module, name) imports made inside functions."""
    graph: Dict[str, Set[str]] = {m: set() for m in MODULES}
    lazy: Set[Tuple[str, str]] = set()
    for module, path in MODULES.items():
        for name, inside in _imports(module, path):
            target = _owner(name)
            if inside and module not in OTHER_INTERPRETER and not _is_lazy_allowed(name) \
                    and not _is_lazy_allowed(target or name):
                lazy.add((module, target or name.split(".")[0]))
            if target and target != module:
                graph[module].add(target)
    return graph, lazy


def _cycles(graph: Dict[str, Set[str]]) -> List[Tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[Tuple[str, ...]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


GRAPH, LAZY = import_graph()


def _package_parent(module: str, target: str) -> bool:
    """A package importing its own submodule (``__init__`` re-exports) is no dependency of note."""
    return target.startswith(module + ".")


def test_every_module_has_a_layer() -> None:
    missing = []
    for module in MODULES:
        try:
            _layer(module)
        except KeyError:
            missing.append(module)
    assert not missing, f"modules without a layer in LAYERS: {missing}"


def test_no_import_cycles() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = {(m, t) for m, targets in GRAPH.items() for t in targets
              if not _package_parent(m, t) and _layer(t) > _layer(m)}
    assert not upward, "imports that run up the layers:\n" + "\n".join(
        f"{m} ({LAYER_NAMES[_layer(m)]}) -> {t} ({LAYER_NAMES[_layer(t)]})" for m, t in sorted(upward))


def test_imports_inside_functions_are_for_optional_heavy_dependencies_only() -> None:
    assert not LAZY, "imports inside functions (move them to the top, or list the dependency in LAZY_ALLOWED):\n" \
        + "\n".join(f"{m}: import {t}" for m, t in sorted(LAZY))


def test_inference_does_not_import_training_code() -> None:
    found = sorted((m, t) for m, targets in GRAPH.items() if m not in TRAINING and _layer(m) < LAYERS["demo"]
                   for t in targets & TRAINING)
    assert not found, "inference modules that import training code:\n" + "\n".join(f"{m} -> {t}" for m, t in found)


def _unit(module: str) -> str:
    """The package a module belongs to: ``latentreenact.<sub>`` inside latentreenact, else the top folder."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "latentreenact" else parts[0]


def test_no_cycles_between_packages() -> None:
    units: Dict[str, Set[str]] = {}
    for module, targets in GRAPH.items():
        units.setdefault(_unit(module), set()).update(_unit(t) for t in targets if _unit(t) != _unit(module))
    for targets in list(units.values()):
        for t in targets:
            units.setdefault(t, set())
    cycles = _cycles(units)
    assert not cycles, "cycles between packages:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("names", [("a", "b")])
def test_the_cycle_finder_finds_a_cycle(names: Tuple[str, str]) -> None:
    a, b = names
    assert _cycles({a: {b}, b: {a}, "c": {a}}) == [(a, b)]
    assert _cycles({a: {b}, b: set()}) == []
