"""``load_generator`` / ``save_generator``: every supported generator file format, one entry point.

Supported inputs: rosinality training checkpoints (``{"g", "d", "g_ema", "args", ...}``) and
converted ones (``{"g_ema", "latent_avg"}``), NVIDIA stylegan2-ada ``.pkl`` network pickles
(read without running their embedded code), e4e checkpoints (their ``decoder.*`` weights),
bare generator state dicts, and our own files written by :func:`save_generator`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import torch

from .. import zoo
from ..fileio import atomic_path, read_torch_file
from ..models.base import GeneratorBase
from ..models.mobilestylegan import MobileStyleGAN
from ..models.stylegan2 import StyleGAN2Generator
from .errors import CheckpointFormatError
from .nvidia_pkl import ada_state_to_rosinality, read_stylegan2_ada_pkl
from .strict import check_state_dict
from .stylegan2_layout import infer_stylegan2_config, looks_like_stylegan2

log = logging.getLogger(__name__)

FORMAT = "latentreenact.generator"
FORMAT_VERSION = 1
_OPTIONAL_SUFFIXES = ("blur.kernel", "upsample.kernel")
_OPTIONAL_KEYS = ("latent_avg",)
# A pre-zip ``torch.save`` file starts with its pickled magic number; any other pickle is read
# as an NVIDIA network pickle.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."

PathLike = Union[str, "os.PathLike[str]"]


def read_generator_file(path: Path) -> Tuple[Dict[str, torch.Tensor], Optional[torch.Tensor], Dict[str, Any]]:
    """Read any supported file: ``(state_dict in our layout, latent_avg or None, info)``."""
    with open(path, "rb") as fh:
        head = fh.read(len(LEGACY_TORCH_MAGIC))
    if head.startswith(b"\x80") and head != LEGACY_TORCH_MAGIC:
        nv = read_stylegan2_ada_pkl(path)
        return dict(nv["state_dict"]), nv.get("latent_avg"), {"source": "stylegan2-ada-pkl",
                                                              "conv_clamp": nv["meta"].get("conv_clamp")}
    return extract_generator(read_torch_file(path), str(path))


def extract_generator(obj: Any, source: str) -> Tuple[Dict[str, torch.Tensor], Optional[torch.Tensor], Dict[str, Any]]:
    """Find the generator weights inside a loaded checkpoint object."""
    if not isinstance(obj, Mapping):
        raise CheckpointFormatError(f"{source}: not a generator checkpoint (top level is {type(obj).__name__})")
    if obj.get("format") == FORMAT:
        version = obj.get("format_version")
        if version != FORMAT_VERSION:
            raise CheckpointFormatError(f"{source}: generator file format version {version} is not supported "
                                        f"(this version of latentreenact reads {FORMAT_VERSION})")
        for key in ("state_dict", "config"):
            if not isinstance(obj.get(key), Mapping):
                raise CheckpointFormatError(f"{source}: a latentreenact generator file without its {key!r} (a "
                                            f"mapping); the file is damaged or was not written by save_generator")
        state = dict(obj["state_dict"])
        latent_avg = state.pop("latent_avg", None)
        return state, latent_avg if obj.get("has_latent_avg") else None, {
            "source": FORMAT, "arch": obj.get("arch"), "config": obj["config"]}
    if "g_ema" in obj:
        if not isinstance(obj["g_ema"], Mapping):
            raise CheckpointFormatError(f"{source}: 'g_ema' holds a {type(obj['g_ema']).__name__}, not a state dict")
        return dict(obj["g_ema"]), obj.get("latent_avg"), {"source": "rosinality"}
    state = obj.get("state_dict")
    if isinstance(state, Mapping) and any(k.startswith("decoder.") for k in state):
        decoder = {k[len("decoder."):]: v for k, v in state.items() if k.startswith("decoder.")}
        return decoder, obj.get("latent_avg"), {"source": "e4e"}
    if isinstance(obj.get("G_ema"), Mapping):  # a stylegan2-ada G_ema.state_dict() saved under its name
        return _from_ada(obj["G_ema"], source)
    state = _unprefixed(obj)
    if looks_like_stylegan2(state):
        return dict(state), None, {"source": "state_dict"}
    if any(str(k).startswith("synthesis.b4.") for k in state) and any(str(k).startswith("mapping.") for k in state):
        return _from_ada(state, source)  # a bare stylegan2-ada G_ema.state_dict()
    keys = sorted(str(k) for k in obj)[:12]
    raise CheckpointFormatError(
        f"{source}: not a generator checkpoint (top-level keys {keys}); expected a rosinality checkpoint "
        f"('g_ema'), an e4e checkpoint ('state_dict' with 'decoder.*'), a stylegan2-ada .pkl or G_ema state dict, "
        f"a bare generator state dict or a latentreenact generator file")


def _unprefixed(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """``state`` without the ``module.`` prefix that DataParallel / DistributedDataParallel give every key."""
    if state and all(str(k).startswith("module.") for k in state):
        return {str(k)[len("module."):]: v for k, v in state.items()}
    return state


def _from_ada(tensors: Mapping[str, Any], source: str) -> Tuple[Dict[str, torch.Tensor], Optional[torch.Tensor],
                                                                 Dict[str, Any]]:
    """A stylegan2-ada ``G_ema`` state dict (saved as tensors, not as its pickle) in our layout. The pickle's
    ``conv_clamp`` is a module attribute a state dict does not carry: the generator runs unclamped (logged)."""
    if not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise CheckpointFormatError(f"{source}: 'G_ema' holds more than tensors; save G_ema.state_dict()")
    converted = ada_state_to_rosinality(dict(tensors), source)
    log.info("%s: a stylegan2-ada state dict carries no conv_clamp; the generator runs without one (the network "
             "pickle keeps it)", source)
    return dict(converted["state_dict"]), converted.get("latent_avg"), {"source": "stylegan2-ada-state-dict"}


def _single_latent_avg(latent_avg: torch.Tensor, style_dim: int, source: str) -> Optional[torch.Tensor]:
    """A [style_dim] average w from [D], [1, D] or per-layer [L, D] (rows must agree)."""
    flat = latent_avg.reshape(-1, latent_avg.shape[-1]).float()
    if flat.shape[-1] != style_dim:
        raise CheckpointFormatError(f"{source}: latent_avg has width {flat.shape[-1]}, expected {style_dim}")
    if not torch.isfinite(flat).all():
        raise CheckpointFormatError(f"{source}: non-finite values (NaN/Inf) in latent_avg")
    if flat.shape[0] > 1 and not torch.allclose(flat, flat[:1].expand_as(flat)):
        log.info("%s: per-layer latent_avg rows differ; not used as the generator's truncation centre", source)
        return None
    return flat[0]


def build_generator(state_dict: Dict[str, torch.Tensor], latent_avg: Optional[torch.Tensor],
                    config: Optional[Mapping[str, Any]] = None, source: str = "checkpoint",
                    conv_clamp: Optional[float] = None) -> StyleGAN2Generator:
    """Build a StyleGAN2 generator and load ``state_dict`` with strict key checking.

    ``conv_clamp``: stylegan2-ada's activation clamp, when the file carries one."""
    cfg = dict(config) if config is not None else infer_stylegan2_config(state_dict, source)
    if conv_clamp is not None:
        cfg["conv_clamp"] = conv_clamp
    generator = _built(source, cfg, lambda: StyleGAN2Generator(
        **{**cfg, "channels": {int(k): int(v) for k, v in cfg["channels"].items()}}))
    expected = generator.state_dict()
    optional = {k for k in expected if k.endswith(_OPTIONAL_SUFFIXES) or k in _OPTIONAL_KEYS}
    check_state_dict(expected, state_dict, source,
                     f"the inferred architecture ({generator.size} px, style_dim {generator.style_dim})", optional)
    generator.load_state_dict(state_dict, strict=False)
    if latent_avg is not None:
        single = _single_latent_avg(latent_avg, generator.style_dim, source)
        if single is not None:
            generator.set_latent_avg(single)
    return generator


def load_generator(path: PathLike, device: Union[str, torch.device] = "cpu") -> GeneratorBase:
    """Load a generator from a registered name (``latentreenact.zoo``) or a checkpoint file.

    Returns it in eval mode on ``device``, frozen (``requires_grad`` False: call
    ``requires_grad_(True)`` on what you train). For files the architecture is inferred from the
    tensor shapes. Raises ``FileNotFoundError`` for a missing path or model files and
    :class:`CheckpointFormatError` (a ``ValueError``) for anything that is not a readable
    generator checkpoint, naming the file and what was wrong.
    """
    file = Path(path).expanduser()
    if not file.exists() and zoo.is_registered(path):
        return zoo.load_registered_generator(str(path)).to(device).eval().requires_grad_(False)
    if not file.exists():
        hint = f" (registered models: {', '.join(sorted(zoo.list_models()))})" if os.sep not in str(path) else ""
        raise FileNotFoundError(f"generator checkpoint not found: {file}{hint}")
    if file.is_dir():
        raise CheckpointFormatError(f"{file}: is a directory, expected a generator checkpoint file")
    state_dict, latent_avg, info = read_generator_file(file)
    arch = info.get("arch") or "stylegan2"
    if arch == "mobilestylegan":
        generator: GeneratorBase = build_mobilestylegan(state_dict, info["config"], str(file))
    elif arch == "stylegan2":
        generator = build_generator(state_dict, latent_avg, info.get("config"), str(file), info.get("conv_clamp"))
    else:
        raise CheckpointFormatError(f"{file}: architecture {arch!r} is not supported by this reader")
    log.debug("loaded %s generator from %s", info["source"], file)
    return generator.to(device).eval().requires_grad_(False)


def build_mobilestylegan(state_dict: Dict[str, torch.Tensor], config: Mapping[str, Any],
                         source: str = "checkpoint") -> GeneratorBase:
    """Build a MobileStyleGAN from our file's config and load ``state_dict`` strictly."""
    generator = _built(source, config, lambda: MobileStyleGAN(**dict(config)))
    check_state_dict(generator.state_dict(), state_dict, source, f"MobileStyleGAN {dict(config)}")
    generator.load_state_dict(state_dict)
    return generator


def _built(source: str, config: Mapping[str, Any], build: Callable[[], GeneratorBase]) -> GeneratorBase:
    """``build()``, with a config that does not build a generator (unknown or missing keys, values of the wrong type
    or range) reported as a :class:`CheckpointFormatError` naming ``source``."""
    try:
        return build()
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointFormatError(f"{source}: its generator config does not build a generator ({exc}): "
                                    f"{dict(config)}") from exc


def _arch(generator: GeneratorBase) -> str:
    if isinstance(generator, StyleGAN2Generator):
        return "stylegan2"
    if isinstance(generator, MobileStyleGAN):
        return "mobilestylegan"
    raise TypeError(f"save_generator writes StyleGAN2 and MobileStyleGAN generators, not {type(generator).__name__}")


def save_generator(generator: GeneratorBase, path: PathLike) -> Path:
    """Write ``generator`` (state dict + config, never a pickled module) atomically to ``path``.

    Works for StyleGAN2 and MobileStyleGAN (e.g. a copy tuned by ``inversion.tune``).
    """
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": _arch(generator),
               "config": generator.config, "has_latent_avg": getattr(generator, "has_latent_avg", False),
               "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)
