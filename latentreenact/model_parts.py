"""The parts of a :class:`~latentreenact.reenactor.Reenactor`: the default model (registered names) or a
model directory (``reenactor.json`` naming a generator, encoder, Net3D estimator and direction matrix, and
optionally W-space controls, each a file in the directory or a registered name, plus optional settings)."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch

from directions import DirectionMatrix
from inversion import load_encoder

from . import zoo
from .checkpoints.errors import CheckpointFormatError
from .checkpoints.loading import load_generator
from .latent_controls import LatentControls
from .net3d import get_estimator
from .net3d.pose_vector import LAYOUTS, PoseVectorSpec, load_ranges_with_names, spec_from_ranges

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

MODEL_FILE = "reenactor.json"
#: the parts of ``from_pretrained("default")`` (registered names; ``exact=True`` swaps in the exact generator)
DEFAULT_MODEL: Dict[str, Any] = {"generator": "mobilestylegan-ffhq-heads", "encoder": "encoder-mobilestylegan-ffhq",
                                 "estimator": "bfm-rigid", "directions": "directions-mobilestylegan-ffhq",
                                 "controls": "controls-mobilestylegan-ffhq"}
EXACT_GENERATORS = {"mobilestylegan-ffhq-heads": "mobilestylegan-ffhq"}
#: what a model directory holds when its reenactor.json does not say otherwise
DIRECTORY_DEFAULTS: Dict[str, Any] = {"generator": "generator.pt", "encoder": "encoder.pt",
                                      "directions": "directions.pt", "estimator": "bfm-net", "controls": None}
SETTINGS = ("render_size", "truncation", "align_size")
#: a model directory's pose-vector spec for a direction matrix that does not store one (a released A_matrix.pt):
#: a layout name of :data:`~latentreenact.net3d.pose_vector.LAYOUTS` and a ranges file in the directory
SPEC_ENTRIES = ("layout", "ranges")
PART_KINDS = {"generator": "generator", "encoder": "encoder", "directions": "directions", "controls": "latent-controls"}
#: parts a model directory may leave out (None)
OPTIONAL_PARTS = ("controls",)


def _locate(part: str, value: str, root: Optional[Path]) -> Union[Path, str]:
    """A part as a file of the model directory, or a registered name of the right kind."""
    if root is not None and (root / value).is_file():
        return root / value
    if zoo.is_registered(value):
        kind = zoo.get_entry(value).kind
        if kind != PART_KINDS[part]:
            raise ValueError(f"{part} {value!r} is a registered {kind}, not a {PART_KINDS[part]}")
        return value
    if value == DEFAULT_MODEL[part]:
        raise zoo.ModelNotFoundError(f"the default {part} {value!r} is not installed (not in this version's model "
                                     f"registry); install a latentreenact release that ships it, or use a model "
                                     f"directory (--model DIR) "
                                     + (f"holding {DIRECTORY_DEFAULTS[part]}" if DIRECTORY_DEFAULTS[part] else
                                        f"without a {part} entry"))
    where = f"no file {root / value} and " if root is not None else ""
    raise FileNotFoundError(f"{part} {value!r}: {where}no registered model of that name "
                            f"(registered: {', '.join(sorted(zoo.list_models()))})")


def _check_entries(spec: Mapping[str, Any], where: str) -> None:
    """:class:`CheckpointFormatError` naming ``where`` for an unknown entry or a value of the wrong kind: parts are
    names (``controls`` may be null; ``estimator`` may be ``{"backend": NAME, ...options}``), ``render_size`` and
    ``align_size`` whole numbers of pixels (``align_size`` at least 16), ``truncation``
    a positive number."""
    unknown = sorted(set(spec) - set(DIRECTORY_DEFAULTS) - set(SETTINGS) - set(SPEC_ENTRIES))
    if unknown:
        raise CheckpointFormatError(f"{where}: unknown entries {unknown}")
    given = [key for key in SPEC_ENTRIES if spec.get(key) is not None]
    if given and len(given) != len(SPEC_ENTRIES):
        raise CheckpointFormatError(f"{where}: give both 'layout' and 'ranges' (a pose-vector spec for A), not only "
                                    f"{given[0]!r}")
    if given and (not isinstance(spec["layout"], str) or spec["layout"] not in LAYOUTS):
        raise CheckpointFormatError(f"{where}: layout must be one of {sorted(LAYOUTS)}, got {spec['layout']!r}")
    if given and not isinstance(spec["ranges"], str):
        raise CheckpointFormatError(f"{where}: ranges must be the name of a ranges file (.npy) in the directory, got "
                                    f"{spec['ranges']!r}")
    for part in PART_KINDS:
        value = spec.get(part)
        if not isinstance(value, str) and not (value is None and part in OPTIONAL_PARTS):
            raise CheckpointFormatError(f"{where}: {part} must be a file name or a registered model name, got "
                                        f"{value!r}")
    estimator = spec.get("estimator")
    if not isinstance(estimator, str) and not (isinstance(estimator, Mapping)
                                               and isinstance(estimator.get("backend"), str)):
        raise CheckpointFormatError(f"{where}: estimator must be a backend name or {{'backend': NAME, ...}}, got "
                                    f"{estimator!r}")
    checks = {"render_size": (lambda v: _whole(v) and v >= 1, "a whole number of pixels"),
              "align_size": (lambda v: _whole(v) and v >= 16, "a whole number of pixels, at least 16"),
              "truncation": (lambda v: _number(v) and v > 0, "a positive number (psi; 0.7 is usual)")}
    for key, (fits, what) in checks.items():
        if spec.get(key) is not None and not fits(spec[key]):
            raise CheckpointFormatError(f"{where}: {key} must be {what}, got {spec[key]!r}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return _number(value) and float(value).is_integer()


def load_parts(model: PathLike = "default", device: Union[str, torch.device] = "cpu",
               exact: bool = False) -> Dict[str, Any]:
    """Build the parts of a reenactor: ``"default"`` (registered names, :data:`DEFAULT_MODEL`) or a
    directory with ``reenactor.json`` naming each part (a file in the directory or a registered
    name; missing entries default to :data:`DIRECTORY_DEFAULTS`; ``controls`` may be left out) and optional settings
    (``render_size``, ``truncation``, ``align_size``). Returns keyword arguments for :class:`Reenactor`.
    """
    root: Optional[Path] = None
    if str(model) == "default":
        spec: Dict[str, Any] = dict(DEFAULT_MODEL)
    else:
        root = Path(model).expanduser()
        if not root.is_dir():
            hint = (" (a model is a folder whose reenactor.json names its generator, encoder, A and estimator; to "
                    "use this file, name it there)" if root.is_file() else "")
            raise FileNotFoundError(f"model {str(model)!r} is neither 'default' nor a directory{hint}")
        spec = dict(DIRECTORY_DEFAULTS)
        if (root / MODEL_FILE).is_file():
            try:
                given = json.loads((root / MODEL_FILE).read_text())
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
                raise CheckpointFormatError(f"{root / MODEL_FILE}: not a JSON object ({exc})") from exc
            if not isinstance(given, dict):
                raise CheckpointFormatError(f"{root / MODEL_FILE}: not a JSON object (a {type(given).__name__})")
            spec.update(given)
    _check_entries(spec, str(root / MODEL_FILE) if root else "model")
    if exact:
        spec["generator"] = EXACT_GENERATORS.get(spec["generator"], spec["generator"])
    located = {part: _locate(part, str(spec[part]), root) for part in PART_KINDS  # all checked before loading
               if not (part in OPTIONAL_PARTS and spec.get(part) is None)}

    directions_path, controls_path = (zoo.model_file(v) if isinstance(v, str) else v
                                      for v in (located["directions"], located.get("controls")))
    estimator_spec = spec["estimator"]
    options: Dict[str, Any] = {}
    if isinstance(estimator_spec, Mapping):
        options = {k: v for k, v in estimator_spec.items() if k != "backend"}
        estimator_spec = estimator_spec.get("backend")
        if root is not None and isinstance(options.get("weights"), str) and (root / options["weights"]).is_file():
            options["weights"] = root / options["weights"]
    # registered names (str) go to the registry, not to a file of that name in the working directory
    generator, encoder = located["generator"], located["encoder"]
    parts = {"generator": (zoo.load_registered_generator(generator).to(device).eval().requires_grad_(False)
                           if isinstance(generator, str) else load_generator(generator, device=device)),
             "encoder": load_encoder(zoo.model_file(encoder, kind="encoder") if isinstance(encoder, str) else encoder,
                                     device=device),
             "estimator": _estimator(estimator_spec, options, device, str(root / MODEL_FILE) if root else "model"),
             "directions": DirectionMatrix.load(directions_path, device=device),
             "controls": None if controls_path is None else LatentControls.load(controls_path)}
    check_fit(parts["generator"], parts["encoder"], parts["directions"], parts["controls"],
              files={**located, "controls": controls_path}, where=str(root / MODEL_FILE) if root else "model")
    settings: Dict[str, Any] = {k: spec[k] for k in SETTINGS if spec.get(k) is not None}
    if root is not None and spec.get("layout") is not None:
        settings["spec"] = _spec(spec["layout"], root / spec["ranges"], parts["directions"].shift_scale)
    log.info("reenactor parts from %s: %s", model, {k: str(v) for k, v in located.items()})
    return {**parts, **settings}


def _estimator(backend: str, options: Mapping[str, Any], device: Union[str, torch.device], where: str) -> Any:
    """The Net3D backend with the options a model file gives it; options it does not take name ``where``."""
    try:
        return get_estimator(backend, device=device, **options)
    except TypeError as exc:
        raise CheckpointFormatError(f"{where}: options {sorted(options)} do not fit the estimator {backend!r} "
                                    f"({exc})") from exc


def check_fit(generator: Any, encoder: Any, directions: Any, controls: Optional[LatentControls] = None,
              files: Optional[Mapping[str, Any]] = None, where: Optional[str] = None) -> None:
    """ValueError when the encoder, A or the controls (each optional: None) were made for another generator (layer
    count or style size), naming each misfit; with ``files`` (part -> file) and ``where`` (the model file), a
    :class:`CheckpointFormatError` that names the files."""
    def named(part: str) -> str:
        return f"the {part.replace('directions', 'direction matrix')}" + (f" {files[part]}" if files else "")

    misfits = []
    encoder_dim = getattr(encoder, "style_dim", generator.style_dim)
    if encoder is not None and (encoder.n_styles != generator.n_latent or encoder_dim != generator.style_dim):
        misfits.append(f"{named('encoder')} predicts {encoder.n_styles} styles of {encoder_dim}")
    if directions.style_dim != generator.style_dim or directions.num_layers > generator.n_latent:
        misfits.append(f"{named('directions')} shifts {directions.num_layers} layers of {directions.style_dim}")
    if controls is not None and (controls.directions.shape[1] != generator.style_dim
                                 or controls.layers[1] > generator.n_latent):
        lo, hi = controls.layers
        misfits.append(f"{named('controls')} act on layers {lo}..{hi - 1} of {controls.directions.shape[1]}")
    if misfits:
        message = (f"{'; '.join(misfits)}: made for another generator than {named('generator')} (n_latent "
                   f"{generator.n_latent}, style_dim {generator.style_dim}); use parts made for this generator")
        raise CheckpointFormatError(f"{where}: {message}") if where else ValueError(message)


def _spec(layout: str, ranges: Path, shift_scale: float) -> PoseVectorSpec:
    """The pose-vector spec a model directory gives for its A: ``layout`` and the ranges file ``ranges`` (rows named
    by its ``.json`` sidecar, or the released file's 54 rows)."""
    if not ranges.is_file():
        raise FileNotFoundError(f"ranges file not found: {ranges}")
    try:
        array, rows = load_ranges_with_names(ranges)
        return spec_from_ranges(layout, array, rows, shift_scale=shift_scale)
    except (ValueError, KeyError) as exc:
        raise CheckpointFormatError(f"{ranges}: {exc}") from exc
