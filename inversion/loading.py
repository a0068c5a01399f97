"""``load_encoder``: read an e4e checkpoint into an :class:`~inversion.e4e.E4EEncoder` without running code.

Accepted layouts:

- the official e4e checkpoint ``{"state_dict": {"encoder.*", "decoder.*"}, "opts": dict or
  argparse.Namespace, "latent_avg": [n_styles, 512]}``: codes = encoder(x) + latent_avg;
- the bare variant ``{"e": encoder state_dict}`` (also a bare encoder state_dict at the top
  level), usually without ``latent_avg``: the encoder then has ``has_latent_avg = False`` and the
  caller adds the generator's mean latent (or calls ``set_latent_avg``).

The architecture (number of style heads, input resolution) is inferred from the tensor shapes;
``opts["stylegan_size"]`` is only cross-checked. Files are read with ``torch.load(weights_only=True)``
(``argparse.Namespace`` allowed); anything else is refused with a :class:`CheckpointFormatError`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch

from latentreenact import zoo
from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.checkpoints.strict import check_state_dict, summarise
from latentreenact.fileio import read_torch_file

from .e4e import E4EEncoder, n_styles_for_size
from .light_encoder import ENCODER_FORMAT, ENCODER_FORMAT_VERSION, LightEncoder

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
E4E_ENCODER_TYPE = "Encoder4Editing"
_STYLE_KEY = re.compile(r"^styles\.(\d+)\.")
_COARSE_CONV_KEY = re.compile(r"^styles\.0\.convs\.(\d+)\.weight$")


def _strip_common_prefix(state: Mapping[str, Any],
                         prefixes: Tuple[str, ...] = ("module.", "encoder.")) -> Dict[str, Any]:
    """Drop a prefix that every key carries (DataParallel's ``module.``, a stray ``encoder.``)."""
    out = dict(state)
    for prefix in prefixes:
        if out and all(isinstance(k, str) and k.startswith(prefix) for k in out):
            out = {k[len(prefix):]: v for k, v in out.items()}
    return out


def _all_finite(t: torch.Tensor) -> bool:
    """Whether ``t`` has no NaN/Inf: a sum first (fast; NaN/Inf propagate), elementwise only to confirm."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def extract_encoder(obj: Any, source: str) -> Tuple[Dict[str, torch.Tensor], Optional[torch.Tensor], Dict[str, Any]]:
    """Find the e4e encoder inside a loaded checkpoint: ``(encoder state_dict, latent_avg or None, opts)``."""
    if not isinstance(obj, Mapping):
        raise CheckpointFormatError(f"{source}: not an e4e encoder checkpoint (top level is {type(obj).__name__})")
    opts_obj = obj.get("opts")
    if isinstance(opts_obj, argparse.Namespace):
        opts: Dict[str, Any] = dict(vars(opts_obj))
    elif isinstance(opts_obj, Mapping):
        opts = dict(opts_obj)
    else:
        opts = {}
    encoder_type = opts.get("encoder_type")
    if encoder_type is not None and encoder_type != E4E_ENCODER_TYPE:
        raise CheckpointFormatError(f"{source}: opts say encoder_type {encoder_type!r}; only e4e's "
                                    f"{E4E_ENCODER_TYPE!r} is supported (pSp's GradualStyleEncoder has the same "
                                    f"keys but a different forward)")
    state_obj = obj.get("state_dict")
    if isinstance(state_obj, Mapping):
        state = {k[len("encoder."):]: v for k, v in state_obj.items()
                 if isinstance(k, str) and k.startswith("encoder.")}
        if not state:
            keys = sorted(str(k) for k in state_obj)[:8]
            raise CheckpointFormatError(f"{source}: 'state_dict' holds no 'encoder.*' weights (keys {keys}); "
                                        f"not an e4e checkpoint")
    elif isinstance(obj.get("e"), Mapping):
        state = _strip_common_prefix(obj["e"])
    elif "input_layer.0.weight" in obj or "encoder.input_layer.0.weight" in obj:
        state = _strip_common_prefix({k: v for k, v in obj.items() if k != "latent_avg"})
    else:
        keys = sorted(str(k) for k in obj)[:12]
        raise CheckpointFormatError(
            f"{source}: not an e4e encoder checkpoint (top-level keys {keys}); expected the official layout "
            f"('state_dict' with 'encoder.*', 'opts', 'latent_avg'), {{'e': encoder state_dict}} or a bare "
            f"encoder state_dict")
    bad = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise CheckpointFormatError(f"{source}: encoder entries that are not tensors: {summarise(bad)}")
    latent_avg = obj.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise CheckpointFormatError(f"{source}: latent_avg is a {type(latent_avg).__name__}, expected a tensor")
    return state, latent_avg, opts


def infer_encoder_config(state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> Dict[str, int]:
    """``{"n_styles", "input_size"}`` from the keys: the style head count and head 0's conv count."""
    heads = {int(m.group(1)) for k in state_dict if (m := _STYLE_KEY.match(k))}
    if not heads:
        hint = (" (this looks like a bare IR-SE50 backbone, e.g. model_ir_se50.pth)"
                if "input_layer.0.weight" in state_dict else "")
        raise CheckpointFormatError(f"{source}: no e4e style heads ('styles.N.*') in the encoder weights{hint}")
    coarse_convs = {int(m.group(1)) for k in state_dict if (m := _COARSE_CONV_KEY.match(k))}
    if not coarse_convs:
        raise CheckpointFormatError(f"{source}: style head 0 has no convolutions ('styles.0.convs.N.weight')")
    n_convs = len(coarse_convs)
    return {"n_styles": max(heads) + 1, "input_size": 16 * 2 ** n_convs}


def build_encoder(state_dict: Mapping[str, torch.Tensor], latent_avg: Optional[torch.Tensor] = None,
                  opts: Optional[Mapping[str, Any]] = None, source: str = "checkpoint") -> E4EEncoder:
    """Build an :class:`E4EEncoder` (CPU, float32) from encoder weights with strict key and shape checks."""
    cfg = infer_encoder_config(state_dict, source)
    size = (opts or {}).get("stylegan_size")
    if isinstance(size, int) and size > 0 and n_styles_for_size(size) != cfg["n_styles"]:
        log.warning("%s: opts say stylegan_size %d (%d styles) but the encoder has %d style heads; using the weights",
                    source, size, n_styles_for_size(size), cfg["n_styles"])
    with torch.device("meta"):  # no random init of ~200M parameters: the checkpoint supplies all of them
        encoder = E4EEncoder(**cfg)
    expected = encoder.state_dict()
    check_state_dict(expected, state_dict, source,
                     f"e4e Encoder4Editing (IR-SE50, {cfg['n_styles']} styles, {cfg['input_size']} px input)")
    state: Dict[str, torch.Tensor] = {}
    for k, v in state_dict.items():
        if expected[k].is_floating_point():
            if not v.is_floating_point():
                raise CheckpointFormatError(f"{source}: {k} has dtype {v.dtype}, expected floating point")
            v = v.detach().to("cpu", torch.float32).contiguous()
            if not _all_finite(v):
                raise CheckpointFormatError(f"{source}: non-finite values (NaN/Inf) in {k}")
        else:
            v = v.detach().to("cpu", expected[k].dtype)
        state[k] = v
    encoder.load_state_dict(state, strict=True, assign=True)
    encoder.latent_avg = torch.zeros(cfg["n_styles"], encoder.latent_avg.shape[-1])
    if latent_avg is not None:
        try:
            encoder.set_latent_avg(latent_avg.float())
        except ValueError as exc:
            raise CheckpointFormatError(f"{source}: {exc}") from exc
        if not torch.isfinite(encoder.latent_avg).all():
            raise CheckpointFormatError(f"{source}: non-finite values (NaN/Inf) in latent_avg")
    return encoder


def build_light_encoder(obj: Mapping[str, Any], source: str) -> LightEncoder:
    """A :class:`LightEncoder` from a file written by :func:`save_light_encoder` (float32, CPU)."""
    if obj.get("format_version") != ENCODER_FORMAT_VERSION:
        raise CheckpointFormatError(f"{source}: light-encoder file of an unsupported version "
                                    f"{obj.get('format_version')!r} (this version reads {ENCODER_FORMAT_VERSION})")
    for key in ("config", "state_dict"):
        if not isinstance(obj.get(key), Mapping):
            raise CheckpointFormatError(f"{source}: a light-encoder file without its {key!r} (a mapping); the file is "
                                        f"damaged or was not written by save_light_encoder")
    try:
        encoder = LightEncoder(obj["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointFormatError(f"{source}: bad light-encoder config: {exc}") from exc
    expected = encoder.state_dict()
    check_state_dict(expected, obj["state_dict"], source, "light encoder")
    state = {}
    for k, v in obj["state_dict"].items():
        v = v.detach().to("cpu", expected[k].dtype)
        if v.is_floating_point() and not _all_finite(v):
            raise CheckpointFormatError(f"{source}: non-finite values (NaN/Inf) in {k}")
        state[k] = v
    encoder.load_state_dict(state, strict=True)
    return encoder


def load_encoder(path: PathLike, device: Union[str, torch.device] = "cpu") -> Union[E4EEncoder, LightEncoder]:
    """Load an encoder into an eval-mode, frozen module on ``device``: e4e checkpoints give an
    :class:`E4EEncoder`; our light encoders (a registered name such as ``"encoder-mobilestylegan-ffhq"``
    or a file written by ``latentreenact train encoder``) give a :class:`LightEncoder`.

    Its ``forward`` maps [B, 3, 256, 256] RGB in [-1, 1] to W+ codes [B, n_styles, 512], including
    ``latent_avg`` when the file has one (``has_latent_avg``); for files without it (the ``{"e": ...}``
    variant) add the generator's mean latent, or pass it to ``set_latent_avg`` once.
    Raises ``FileNotFoundError`` for a missing path and :class:`CheckpointFormatError` (a
    ``ValueError``) for unreadable, truncated, code-carrying or non-encoder files, and for weights
    whose keys or shapes do not fit (naming the missing/unexpected keys).
    """
    file = Path(path).expanduser()
    if not file.exists() and zoo.is_registered(path):  # a file of that name wins, as in load_generator
        file = Path(zoo.model_file(str(path), kind="encoder"))
    if not file.exists():
        raise FileNotFoundError(f"encoder checkpoint not found: {file} (the official e4e_ffhq_encode.pt or "
                                f"a file with an 'e' encoder state_dict)")
    if file.is_dir():
        raise CheckpointFormatError(f"{file}: is a directory, expected an e4e encoder checkpoint file")
    obj = read_torch_file(file)
    if isinstance(obj, Mapping) and obj.get("format") == ENCODER_FORMAT:
        return build_light_encoder(obj, str(file)).to(device).eval().requires_grad_(False)
    state, latent_avg, opts = extract_encoder(obj, str(file))
    encoder = build_encoder(state, latent_avg, opts, str(file))
    log.debug("loaded e4e encoder (%d styles, latent_avg %s) from %s", encoder.n_styles,
              "included" if encoder.has_latent_avg else "absent", file)
    return encoder.to(device).eval().requires_grad_(False)
