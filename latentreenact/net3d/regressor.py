"""``Net3DRegressor``: a compact, differentiable CNN for the ``bfm-net`` backend (docs/architecture.md §6).

Input: aligned face crops, float RGB [B, 3, H, W] in [-1, 1] (trained on 256 px FFHQ-aligned
generator samples), resized inside the model to ``input_size`` px. A small ResNet-18-like trunk
(basic blocks) feeds one MLP head whose outputs are *normalised* targets:

- angles: yaw, pitch, roll in degrees divided by ``angle_scale`` (30 by default);
- identity (40) and expression (10): standardised with the training set's mean/std
  (:attr:`Net3DRegressor.label_stats`, stored with the model);
- 68 landmarks in unit coordinates of the image, ``u = (x + 0.5) / W * 2 - 1`` (pixel centres;
  a left-right flip is ``u -> -u``).

:meth:`Net3DRegressor.predict` undoes the normalisation (degrees, model units, px of the given
image). File format: ``{"format": "latentreenact.net3d-regressor", "format_version": 1, "config",
"state_dict", "metrics", "label_stats"}``, written atomically, read with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints.errors import CheckpointFormatError
from ..checkpoints.strict import check_state_dict
from ..fileio import atomic_path, read_format_file
from .base import ImageBatch, PoseEstimator, as_uint8_list, check_missing, check_tensor_images
from .params import PoseParams

__all__ = ["BFMNetEstimator", "DEFAULT_CONFIG", "FORMAT", "FORMAT_VERSION", "Net3DRegressor", "from_unit", "to_unit"]

PathLike = Union[str, "os.PathLike[str]"]
FORMAT = "latentreenact.net3d-regressor"
FORMAT_VERSION = 1

#: the released architecture: ~4.0 M parameters (about 8 MB in fp16)
DEFAULT_CONFIG: Dict[str, Any] = {"input_size": 128, "widths": [32, 64, 128, 256], "blocks": [2, 2, 2, 2],
                                  "pool": 4, "hidden": 256, "angle_scale": 30.0, "n_identity": 40,
                                  "n_expression": 10}
STAT_KEYS = ("identity_mean", "identity_std", "expression_mean", "expression_std")


def to_unit(landmarks: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Pixel landmarks [..., 2] (x right, y down, pixel centres) -> unit coordinates in [-1, 1]."""
    size = landmarks.new_tensor([width, height])
    return (landmarks + 0.5) / size * 2.0 - 1.0


def from_unit(unit: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Unit coordinates [..., 2] -> pixels of a ``width`` x ``height`` image (inverse of :func:`to_unit`)."""
    size = unit.new_tensor([width, height])
    return (unit + 1.0) * 0.5 * size - 0.5


class _Block(nn.Module):
    """A ResNet basic block (two 3x3 convs, batch norm, projection shortcut when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


def _check_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown Net3D regressor config keys: {', '.join(unknown)}")
    cfg = {**DEFAULT_CONFIG, **config}
    cfg["widths"], cfg["blocks"] = [int(w) for w in cfg["widths"]], [int(b) for b in cfg["blocks"]]
    for key in ("input_size", "pool", "hidden", "n_identity", "n_expression"):
        cfg[key] = int(cfg[key])
    cfg["angle_scale"] = float(cfg["angle_scale"])
    if len(cfg["widths"]) != len(cfg["blocks"]) or not cfg["widths"] or min(cfg["widths"] + cfg["blocks"]) < 1:
        raise ValueError(f"widths and blocks must be equally long lists of positive ints, got {cfg['widths']}, "
                         f"{cfg['blocks']}")
    if cfg["input_size"] < 8 or cfg["pool"] < 1 or cfg["hidden"] < 1 or not cfg["angle_scale"] > 0:
        raise ValueError(f"invalid Net3D regressor config {cfg}")
    return cfg


class Net3DRegressor(nn.Module):
    """Aligned face crop -> angles, BFM identity/expression and 68 landmarks (see the module docstring).

    ``config``: overrides of :data:`DEFAULT_CONFIG`. ``forward`` returns the normalised outputs
    (``angles``, ``identity``, ``expression`` [B, n], ``landmarks`` [B, 68, 2] unit coordinates);
    ``predict`` returns them in degrees, model units and pixels of the input.
    """

    def __init__(self, config: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        cfg = _check_config(config or {})
        self._config = cfg
        widths, blocks = cfg["widths"], cfg["blocks"]
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            for j in range(count):
                layers.append(_Block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width
        self.trunk = nn.Sequential(*layers)
        self.n_out = 3 + cfg["n_identity"] + cfg["n_expression"] + 68 * 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * cfg["pool"] ** 2, cfg["hidden"]), nn.ReLU(inplace=True),
                                  nn.Linear(cfg["hidden"], self.n_out))
        with torch.no_grad():  # start near the label means: small last layer
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias.zero_()
        for key, n in zip(STAT_KEYS, (cfg["n_identity"],) * 2 + (cfg["n_expression"],) * 2):
            self.register_buffer(key, torch.zeros(n) if key.endswith("mean") else torch.ones(n), persistent=False)

    @property
    def config(self) -> Dict[str, Any]:
        """The architecture configuration (a copy; JSON-serialisable)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._config.items()}

    @property
    def label_stats(self) -> Dict[str, torch.Tensor]:
        """Mean/std of the identity and expression labels used to (de)normalise them (CPU copies)."""
        return {key: getattr(self, key).detach().cpu().clone() for key in STAT_KEYS}

    def set_label_stats(self, stats: Mapping[str, torch.Tensor]) -> None:
        """Set the identity/expression normalisation (keys :data:`STAT_KEYS`; std must be > 0)."""
        for key in STAT_KEYS:
            value = torch.as_tensor(stats[key], dtype=torch.float32).reshape(-1)
            old = getattr(self, key)
            if value.shape != old.shape or not torch.isfinite(value).all():
                raise ValueError(f"label stat {key}: expected {tuple(old.shape)} finite values, "
                                 f"got {tuple(value.shape)}")
            if key.endswith("std") and not (value > 0).all():
                raise ValueError(f"label stat {key} must be > 0")
            old.copy_(value.to(old.device))

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Normalised outputs for float RGB [B, 3, H, W] in [-1, 1]."""
        size = self._config["input_size"]
        x = images
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = self.trunk(self.stem(x))
        x = F.adaptive_avg_pool2d(x, self._config["pool"])
        out = self.head(x)
        n_id, n_exp = self._config["n_identity"], self._config["n_expression"]
        angles, identity, expression, landmarks = out.split([3, n_id, n_exp, 136], dim=1)
        return {"angles": angles, "identity": identity, "expression": expression,
                "landmarks": landmarks.reshape(-1, 68, 2)}

    def denormalise(self, raw: Mapping[str, torch.Tensor], width: float, height: float) -> Dict[str, torch.Tensor]:
        """Normalised outputs -> degrees, BFM model units and pixels of a ``width`` x ``height`` image."""
        return {"angles": raw["angles"] * self._config["angle_scale"],
                "identity": raw["identity"] * self.identity_std + self.identity_mean,
                "expression": raw["expression"] * self.expression_std + self.expression_mean,
                "landmarks": from_unit(raw["landmarks"], width, height)}

    def normalise_labels(self, labels: Mapping[str, torch.Tensor], width: float, height: float
                         ) -> Dict[str, torch.Tensor]:
        """Labels (degrees, model units, px of a ``width`` x ``height`` image) -> the targets of ``forward``."""
        return {"angles": labels["angles"] / self._config["angle_scale"],
                "identity": (labels["identity"] - self.identity_mean) / self.identity_std,
                "expression": (labels["expression"] - self.expression_mean) / self.expression_std,
                "landmarks": to_unit(labels["landmarks"], width, height)}

    def predict(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Angles (degrees), identity, expression and landmarks (px of ``images``), differentiable."""
        return self.denormalise(self(images), images.shape[-1], images.shape[-2])

    def save(self, path: PathLike, metrics: Optional[Mapping[str, float]] = None, half: bool = False) -> Path:
        """Write the model atomically in the ``latentreenact.net3d-regressor`` format; returns the path.

        ``half``: store floating-point tensors as float16 (half the size; ``load`` restores float32).
        """
        state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu().clone())
                 for k, v in self.state_dict().items()}
        obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": self.config, "state_dict": state,
               "metrics": {str(k): float(v) for k, v in (metrics or {}).items()}, "label_stats": self.label_stats}
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: PathLike, device: Union[str, torch.device] = "cpu") -> "Net3DRegressor":
        """Read a file written by :meth:`save` (strict keys/shapes, finite values); the model is in eval mode.

        Raises ``FileNotFoundError`` or :class:`~latentreenact.checkpoints.errors.CheckpointFormatError`.
        """
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no Net3D regressor weights at {source}")
        obj = read_format_file(source, FORMAT, FORMAT_VERSION, "Net3D regressor file")
        missing = [k for k in ("config", "state_dict", "label_stats") if not isinstance(obj.get(k), dict)]
        if missing:
            raise CheckpointFormatError(f"{source}: missing entries {', '.join(missing)}")
        try:
            model = cls(obj["config"])
            check_state_dict(model.state_dict(), obj["state_dict"], str(source),
                             f"the Net3D regressor of config {model.config}")
            model.load_state_dict(obj["state_dict"])
            model.set_label_stats(obj["label_stats"])
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, CheckpointFormatError):
                raise
            raise CheckpointFormatError(f"{source}: invalid Net3D regressor file ({exc})") from exc
        model.metrics = dict(obj.get("metrics") or {})
        return model.to(device).eval().requires_grad_(False)



class BFMNetEstimator(PoseEstimator):
    """The ``bfm-net`` backend: a trained :class:`Net3DRegressor` behind the ``PoseEstimator`` interface.

    ``weights``: a file written by :meth:`Net3DRegressor.save` (e.g. ``best.pt`` of
    ``latentreenact train net3d``). Inputs must be aligned face crops (FFHQ alignment, as the
    generator renders them): no face detection or alignment is done and every image counts as a
    found face. Tensor input [B, 3, H, W] in [-1, 1] keeps the autograd graph (the weights are
    frozen); uint8 RGB arrays [H, W, 3] are converted (no gradient). Landmarks are in pixels of
    each input image.
    """

    name = "bfm-net"
    differentiable = True

    def __init__(self, weights: PathLike, device: Union[str, torch.device, None] = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.weights = Path(weights)
        self.model = Net3DRegressor.load(weights, device=self.device)
        self.model.requires_grad_(False)

    def estimate(self, images: ImageBatch, missing: str = "raise") -> PoseParams:
        """Angles (deg), identity, expression and landmarks (px) of aligned face crops."""
        check_missing(missing)
        if torch.is_tensor(images):
            x = check_tensor_images(images)
            out = self.model.predict(x.to(self.device, torch.float32))
        else:
            parts = [self.model.predict(torch.from_numpy(im).to(self.device).permute(2, 0, 1)[None].float()
                                        / 127.5 - 1.0) for im in as_uint8_list(images)]
            out = {k: torch.cat([p[k] for p in parts]).detach() for k in parts[0]}
        return PoseParams(angles=out["angles"], expression=out["expression"], landmarks=out["landmarks"],
                          identity=out["identity"], backend=self.name)
