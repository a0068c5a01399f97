"""The import graph of the project's packages, read with ``ast``: one direction of dependencies.

Every module belongs to one layer (see ``docs/architecture.md``):

1. foundations -- ops, generators, checkpoint formats, faces, 3D shape, identity and perceptual
   networks, metrics, files, images and video I/O;
2. stages -- inversion, Net3D, directions (in that order of data flow);
3. pipeline -- the reenactor and the video driver;
4. applications -- the CLI, the demo, the evaluation harness.

A module may import modules of its own layer or of lower ones, never of a higher one, and the
graph (module-level and function-local imports alike; not those under ``if TYPE_CHECKING``,
which serve annotations only) has no cycle. Imports inside functions are
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
    "latentreenact.reenactor": 3,
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
}

# Violations still present; the list only shrinks (each entry is checked to be still true).
KNOWN_CYCLES: List[Tuple[str, ...]] = []
KNOWN_PACKAGE_CYCLES: List[Tuple[str, ...]] = []
KNOWN_UPWARD: Set[Tuple[str, str]] = set()
KNOWN_LAZY: Set[Tuple[str, str]] = {
    ('demo.app', 'latentreenact.examples'),
    ('demo.session', 'PIL'),
    ('demo.session', 'latentreenact.faces'),
    ('demo.session', 'latentreenact.images'),
    ('demo.session', 'latentreenact.reenact_video'),
    ('demo.session', 'latentreenact.video'),
    ('demo.session', 'shutil'),
    ('directions.components', 'directions.losses'),
    ('directions.components', 'inversion.losses'),
    ('directions.components', 'latentreenact.net3d'),
    ('directions.components', 'latentreenact.net3d.pose_vector'),
    ('directions.components', 'latentreenact.shape3d'),
    ('directions.evaluate', 'tqdm'),
    ('directions.init', 'latentreenact.net3d.dataset'),
    ('directions.init', 'latentreenact.sampling'),
    ('directions.losses', 'latentreenact.shape3d.rotations'),
    ('directions.matrix', 'latentreenact.checkpoints.errors'),
    ('directions.matrix', 'latentreenact.checkpoints.loading'),
    ('directions.matrix', 'latentreenact.checkpoints.strict'),
    ('directions.matrix', 'latentreenact.fileio'),
    ('directions.train', 'PIL'),
    ('directions.train', 'directions.evaluate'),
    ('directions.train', 'latentreenact.checkpoints.loading'),
    ('directions.train', 'latentreenact.fileio'),
    ('directions.train', 'latentreenact.images'),
    ('directions.train', 'latentreenact.sampling'),
    ('directions.train', 'tqdm'),
    ('inversion.encoder_train', 'hashlib'),
    ('inversion.encoder_train', 'inversion.loading'),
    ('inversion.encoder_train', 'inversion.losses'),
    ('inversion.encoder_train', 'latentreenact.sampling'),
    ('inversion.encoder_train', 'tqdm'),
    ('inversion.invert', 'inversion.projector'),
    ('inversion.invert', 'latentreenact.images'),
    ('inversion.invert', 'latentreenact.sampling'),
    ('inversion.invert', 'torch'),
    ('inversion.light_encoder', 'latentreenact.fileio'),
    ('inversion.loading', 'latentreenact.zoo'),
    ('inversion.losses', 'latentreenact.identity'),
    ('inversion.losses', 'latentreenact.identity.loss'),
    ('inversion.losses', 'latentreenact.perceptual'),
    ('inversion.pti', 'latentreenact.models.stylegan2'),
    ('latentreenact', 'importlib'),
    ('latentreenact.checkpoints.loading', 'latentreenact.checkpoints.nvidia_pkl'),
    ('latentreenact.checkpoints.loading', 'latentreenact.models.mobilestylegan'),
    ('latentreenact.cli.demo', 'demo.app'),
    ('latentreenact.cli.demo', 'demo.session'),
    ('latentreenact.cli.demo', 'importlib'),
    ('latentreenact.cli.demo', 'latentreenact.reenactor'),
    ('latentreenact.cli.demo', 'time'),
    ('latentreenact.cli.edit', 'latentreenact.images'),
    ('latentreenact.cli.edit', 'latentreenact.video'),
    ('latentreenact.cli.edit', 'numpy'),
    ('latentreenact.cli.eval_directions', 'directions.components'),
    ('latentreenact.cli.eval_directions', 'directions.evaluate'),
    ('latentreenact.cli.eval_directions', 'directions.matrix'),
    ('latentreenact.cli.eval_directions', 'latentreenact.checkpoints.loading'),
    ('latentreenact.cli.eval_directions', 'latentreenact.fileio'),
    ('latentreenact.cli.eval_directions', 'latentreenact.sampling'),
    ('latentreenact.cli.eval_directions', 'numpy'),
    ('latentreenact.cli.eval_reenact', 'inversion.losses'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.evaluation.data'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.evaluation.methods'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.evaluation.runner'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.evaluation.scoring'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.identity.irse50'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.metrics.features'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.perceptual'),
    ('latentreenact.cli.eval_reenact', 'latentreenact.reenactor'),
    ('latentreenact.cli.eval_reenact', 'torch'),
    ('latentreenact.cli.faces', 'latentreenact.faces'),
    ('latentreenact.cli.faces', 'latentreenact.fileio'),
    ('latentreenact.cli.faces', 'latentreenact.images'),
    ('latentreenact.cli.faces', 'numpy'),
    ('latentreenact.cli.faces', 'tqdm'),
    ('latentreenact.cli.invert', 'inversion'),
    ('latentreenact.cli.invert', 'inversion.invert'),
    ('latentreenact.cli.invert', 'inversion.projector'),
    ('latentreenact.cli.invert', 'inversion.pti'),
    ('latentreenact.cli.invert', 'latentreenact'),
    ('latentreenact.cli.invert', 'latentreenact.checkpoints.loading'),
    ('latentreenact.cli.invert', 'latentreenact.faces'),
    ('latentreenact.cli.invert', 'latentreenact.images'),
    ('latentreenact.cli.invert', 'latentreenact.models.mobilestylegan'),
    ('latentreenact.cli.invert', 'latentreenact.models.stylegan2'),
    ('latentreenact.cli.invert', 'torch'),
    ('latentreenact.cli.net3d_dataset', 'latentreenact'),
    ('latentreenact.cli.net3d_dataset', 'latentreenact.net3d'),
    ('latentreenact.cli.net3d_dataset', 'latentreenact.net3d.dataset'),
    ('latentreenact.cli.pose', 'latentreenact.faces'),
    ('latentreenact.cli.pose', 'latentreenact.shape3d'),
    ('latentreenact.cli.reenact', 'latentreenact.cli.invert'),
    ('latentreenact.cli.reenact', 'latentreenact.faces'),
    ('latentreenact.cli.reenact', 'latentreenact.images'),
    ('latentreenact.cli.reenact', 'latentreenact.reenact_video'),
    ('latentreenact.cli.reenact', 'latentreenact.reenactor'),
    ('latentreenact.cli.reenact', 'latentreenact.video'),
    ('latentreenact.cli.sample', 'latentreenact'),
    ('latentreenact.cli.sample', 'latentreenact.images'),
    ('latentreenact.cli.sample', 'latentreenact.sampling'),
    ('latentreenact.cli.stats', 'latentreenact'),
    ('latentreenact.cli.stats', 'latentreenact.net3d'),
    ('latentreenact.cli.stats', 'latentreenact.net3d.ranges'),
    ('latentreenact.cli.train_directions', 'directions.components'),
    ('latentreenact.cli.train_directions', 'directions.init'),
    ('latentreenact.cli.train_directions', 'directions.train'),
    ('latentreenact.cli.train_directions', 'latentreenact.checkpoints.loading'),
    ('latentreenact.cli.train_encoder', 'inversion.encoder_train'),
    ('latentreenact.cli.train_encoder', 'inversion.light_encoder'),
    ('latentreenact.cli.train_encoder', 'latentreenact.checkpoints.loading'),
    ('latentreenact.cli.train_heads', 'latentreenact.models.mobilestylegan'),
    ('latentreenact.cli.train_heads', 'latentreenact.models.mobilestylegan_heads'),
    ('latentreenact.cli.train_heads', 'torch'),
    ('latentreenact.cli.train_net3d', 'latentreenact.net3d.train'),
    ('latentreenact.evaluation.data', 'latentreenact.faces'),
    ('latentreenact.evaluation.data', 'latentreenact.video'),
    ('latentreenact.evaluation.methods', 'latentreenact.evaluation.scoring'),
    ('latentreenact.evaluation.methods', 'latentreenact.evaluation.warp'),
    ('latentreenact.evaluation.methods', 'latentreenact.images'),
    ('latentreenact.evaluation.methods', 'latentreenact.reenact_video'),
    ('latentreenact.evaluation.runner', 'latentreenact.fileio'),
    ('latentreenact.evaluation.runner', 'latentreenact.metrics'),
    ('latentreenact.evaluation.runner', 'tqdm'),
    ('latentreenact.evaluation.scoring', 'latentreenact.faces'),
    ('latentreenact.evaluation.scoring', 'latentreenact.images'),
    ('latentreenact.evaluation.scoring', 'latentreenact.metrics'),
    ('latentreenact.faces.detection', 'latentreenact.faces.yunet'),
    ('latentreenact.faces.image_input', 'PIL'),
    ('latentreenact.faces.paste_back', 'PIL'),
    ('latentreenact.faces.quad_crop', 'PIL'),
    ('latentreenact.faces.warp', 'PIL'),
    ('latentreenact.faces.yunet', 'PIL'),
    ('latentreenact.faces.yunet', 'latentreenact.checkpoints.onnx_import'),
    ('latentreenact.faces.yunet', 'torch'),
    ('latentreenact.identity.arcface_align', 'latentreenact.faces.image_input'),
    ('latentreenact.identity.arcface_align', 'latentreenact.faces.quad_crop'),
    ('latentreenact.identity.arcface_align', 'latentreenact.faces.warp'),
    ('latentreenact.identity.loss', 'latentreenact.identity.irse50'),
    ('latentreenact.identity.loss', 'latentreenact.identity.sface'),
    ('latentreenact.identity.sface', 'latentreenact.faces.model_files'),
    ('latentreenact.identity.similarity', 'latentreenact.faces.detection'),
    ('latentreenact.identity.similarity', 'latentreenact.faces.landmarks'),
    ('latentreenact.identity.similarity', 'latentreenact.identity.arcface_align'),
    ('latentreenact.identity.similarity', 'latentreenact.identity.sface'),
    ('latentreenact.identity.similarity', 'latentreenact.images'),
    ('latentreenact.images', 'PIL'),
    ('latentreenact.images', 'hashlib'),
    ('latentreenact.metrics.features', 'latentreenact.checkpoints.errors'),
    ('latentreenact.metrics.features', 'latentreenact.identity.loss'),
    ('latentreenact.metrics.features', 'latentreenact.identity.sface'),
    ('latentreenact.metrics.features', 'latentreenact.images'),
    ('latentreenact.metrics.features', 'torch'),
    ('latentreenact.model_parts', 'directions'),
    ('latentreenact.model_parts', 'inversion'),
    ('latentreenact.model_parts', 'latentreenact.checkpoints.errors'),
    ('latentreenact.model_parts', 'latentreenact.checkpoints.loading'),
    ('latentreenact.model_parts', 'latentreenact.net3d'),
    ('latentreenact.model_parts', 'latentreenact.zoo'),
    ('latentreenact.net3d.base', 'latentreenact.faces'),
    ('latentreenact.net3d.base', 'latentreenact.images'),
    ('latentreenact.net3d.base', 'latentreenact.shape3d'),
    ('latentreenact.net3d.bfm_fit', 'latentreenact.faces'),
    ('latentreenact.net3d.bfm_fit', 'latentreenact.shape3d'),
    ('latentreenact.net3d.dataset', 'latentreenact.images'),
    ('latentreenact.net3d.dataset', 'latentreenact.net3d.ranges'),
    ('latentreenact.net3d.dataset', 'latentreenact.net3d.registry'),
    ('latentreenact.net3d.dataset', 'latentreenact.sampling'),
    ('latentreenact.net3d.dataset', 'tqdm'),
    ('latentreenact.net3d.deca.encoder', 'latentreenact.checkpoints.loading'),
    ('latentreenact.net3d.deca.estimator', 'latentreenact.faces'),
    ('latentreenact.net3d.deca.estimator', 'latentreenact.shape3d.rotations'),
    ('latentreenact.net3d.params', 'latentreenact.net3d.pose_vector'),
    ('latentreenact.net3d.pose_vector', 'json'),
    ('latentreenact.net3d.pose_vector', 'latentreenact.fileio'),
    ('latentreenact.net3d.ranges', 'latentreenact.fileio'),
    ('latentreenact.net3d.ranges', 'latentreenact.net3d.pose_vector'),
    ('latentreenact.net3d.ranges', 'latentreenact.sampling'),
    ('latentreenact.net3d.ranges', 'tqdm'),
    ('latentreenact.net3d.registry', 'latentreenact.net3d.bfm_fit'),
    ('latentreenact.net3d.registry', 'latentreenact.net3d.deca.estimator'),
    ('latentreenact.net3d.registry', 'latentreenact.net3d.regressor'),
    ('latentreenact.net3d.registry', 'latentreenact.zoo'),
    ('latentreenact.net3d.regressor', 'latentreenact.checkpoints.errors'),
    ('latentreenact.net3d.regressor', 'latentreenact.checkpoints.loading'),
    ('latentreenact.net3d.regressor', 'latentreenact.checkpoints.strict'),
    ('latentreenact.net3d.regressor', 'latentreenact.fileio'),
    ('latentreenact.net3d.train', 'hashlib'),
    ('latentreenact.net3d.train', 'tqdm'),
    ('latentreenact.reenact_video', 'PIL'),
    ('latentreenact.reenact_video', 'latentreenact.faces'),
    ('latentreenact.reenact_video', 'latentreenact.faces.paste_back'),
    ('latentreenact.reenact_video', 'latentreenact.images'),
    ('latentreenact.reenact_video', 'latentreenact.video'),
    ('latentreenact.reenact_video', 'tqdm'),
    ('latentreenact.reenactor', 'directions.components'),
    ('latentreenact.reenactor', 'inversion'),
    ('latentreenact.reenactor', 'inversion.invert'),
    ('latentreenact.reenactor', 'latentreenact.faces'),
    ('latentreenact.reenactor', 'latentreenact.faces.quad_crop'),
    ('latentreenact.reenactor', 'latentreenact.images'),
    ('latentreenact.reenactor', 'latentreenact.model_parts'),
    ('latentreenact.reenactor', 'latentreenact.reenact_video'),
    ('latentreenact.reenactor', 'latentreenact.sampling'),
    ('latentreenact.reenactor', 'tqdm'),
    ('latentreenact.trainstate', 'latentreenact.checkpoints.loading'),
    ('latentreenact.trainstate', 'latentreenact.fileio'),
    ('latentreenact.video', 'PIL'),
    ('latentreenact.zoo', 'latentreenact.models.mobilestylegan'),
    ('stylegan2_ops._plugin', 'filelock'),
    ('stylegan2_ops._plugin', 'torch'),
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
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # annotations only: no dependency when the program runs
            inside = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in _imported_names(module, path, child):
                    yield name, inside
            yield from visit(child, inside)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")), False)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


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
            if inside and not _is_lazy_allowed(name) and not _is_lazy_allowed(target or name):
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
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in new)
    stale = [c for c in KNOWN_CYCLES if c not in cycles]
    assert not stale, f"cycles gone: remove them from KNOWN_CYCLES: {stale}"


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = {(m, t) for m, targets in GRAPH.items() for t in targets
              if not _package_parent(m, t) and _layer(t) > _layer(m)}
    new = sorted(upward - KNOWN_UPWARD)
    assert not new, "imports that run up the layers:\n" + "\n".join(
        f"{m} ({LAYER_NAMES[_layer(m)]}) -> {t} ({LAYER_NAMES[_layer(t)]})" for m, t in new)
    stale = sorted(KNOWN_UPWARD - upward)
    assert not stale, f"fixed: remove them from KNOWN_UPWARD: {stale}"


def test_imports_inside_functions_are_for_optional_heavy_dependencies_only() -> None:
    new = sorted(LAZY - KNOWN_LAZY)
    assert not new, "imports inside functions (move them to the top, or list the dependency in LAZY_ALLOWED):\n" \
        + "\n".join(f"{m}: import {t}" for m, t in new)
    stale = sorted(KNOWN_LAZY - LAZY)
    assert not stale, f"fixed: remove them from KNOWN_LAZY: {stale}"


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
    new = [c for c in cycles if c not in KNOWN_PACKAGE_CYCLES]
    assert not new, "cycles between packages:\n" + "\n".join(" <-> ".join(c) for c in new)
    stale = [c for c in KNOWN_PACKAGE_CYCLES if c not in cycles]
    assert not stale, f"cycles gone: remove them from KNOWN_PACKAGE_CYCLES: {stale}"


@pytest.mark.parametrize("names", [("a", "b")])
def test_the_cycle_finder_finds_a_cycle(names: Tuple[str, str]) -> None:
    a, b = names
    assert _cycles({a: {b}, b: {a}, "c": {a}}) == [(a, b)]
    assert _cycles({a: {b}, b: set()}) == []
