"""Pluggable feature extractors for Fréchet distances (uint8 RGB images -> float64 features).

Nothing is loaded at import: networks are loaded when an extractor is constructed.
``TorchScriptFeatures`` runs a user-supplied TorchScript network such as NVIDIA's Inception
(the Fréchet distance on its features is FID); ``IdentityFeatures`` runs a face identity network
(the Fréchet distance on its embeddings is an identity-embedding Fréchet distance, not FID).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Union, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints.errors import CheckpointFormatError
from ..identity.loss import IdentityLoss
from ..identity.sface import load_sface
from ..images import from_uint8

Device = Union[str, "torch.device"]


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps uint8 RGB images [N, H, W, 3] to features [N, D] (float64); ``name`` says which."""

    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray:
        ...


def _check_images(images: np.ndarray) -> np.ndarray:
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB images [N, H, W, 3], got {array.dtype} {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise ValueError(f"no images to extract features from (shape {array.shape})")
    return array


def _check_batch_size(batch_size: int) -> int:
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return int(batch_size)


def _run_batches(images: np.ndarray, batch_size: int,
                 step: Callable[[np.ndarray], "torch.Tensor"], what: str) -> np.ndarray:
    """Apply ``step`` (uint8 batch -> [B, D] tensor) batch by batch; float64 [N, D]."""
    outputs = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            batch = images[start:start + batch_size]
            out = step(batch)
            if not torch.is_tensor(out):
                raise ValueError(f"{what} returned {type(out).__name__}, expected a tensor [N, D]")
            if out.ndim != 2 or out.shape[0] != batch.shape[0]:
                raise ValueError(f"{what} returned shape {tuple(out.shape)} for {batch.shape[0]} images; "
                                 "expected 2-D features [N, D]")
            outputs.append(out.detach().to("cpu", torch.float64).numpy())
    return np.concatenate(outputs, axis=0)


class TorchScriptFeatures:
    """Features from a user-supplied TorchScript network, e.g. NVIDIA's ``inception-2015-12-05.pt``.

    The network gets float32 NCHW RGB images with values in [0, 255] (any size) and is called as
    ``module(images, **call_kwargs)`` (default ``return_features=True``, which makes NVIDIA's
    Inception return its 2048-d pool features); it must return [N, D]. The weights are not
    shipped or downloaded. A Fréchet distance on the Inception features is FID.

    Unlike the project's checkpoints (read with ``weights_only=True`` or a restricted unpickler),
    a TorchScript file is a program: ``torch.jit.load`` runs the code stored in it. Load only files
    from a source you trust.
    """

    def __init__(self, path: Union[str, Path], device: Device = "cpu", name: str = "inception",
                 call_kwargs: Optional[Mapping[str, Any]] = None, batch_size: int = 32):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(
                f"feature network {self.path} not found; its weights are user-supplied (e.g. NVIDIA's "
                "inception-2015-12-05.pt from stylegan2-ada) and are not shipped or downloaded")
        self.device = torch.device(device)
        self.name = name
        self.call_kwargs: Dict[str, Any] = dict({"return_features": True} if call_kwargs is None else call_kwargs)
        self.batch_size = _check_batch_size(batch_size)
        try:
            with warnings.catch_warnings():
                # torch marks TorchScript as deprecated; these published networks only exist as TorchScript
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(self.path), map_location=self.device)
        except (RuntimeError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CheckpointFormatError(f"{self.path} is not a TorchScript file: {reason}") from error
        self.module = module.eval()

    def _step(self, batch: np.ndarray) -> "torch.Tensor":
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        x = x.permute(0, 3, 1, 2).to(torch.float32)
        return self.module(x, **self.call_kwargs)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Features [N, D] (float64) of uint8 RGB images [N, H, W, 3]."""
        array = _check_images(images)
        return _run_batches(array, self.batch_size, self._step, f"the TorchScript network {self.path.name}")


class IdentityFeatures:
    """Identity embeddings [N, D] (float64) of FFHQ-aligned face images, for Fréchet distances.

    ``network``: any module mapping 112 px ArcFace-aligned faces (RGB in [-1, 1], NCHW) to
    embeddings [N, D]; default the bundled SFace (128-d), loaded when this is constructed. The
    input is built as ``IdentityLoss`` builds it: ``from_uint8`` then, with ``crop='ffhq'`` (the
    default), the fixed ArcFace warp of FFHQ-aligned images of any size (``crop='e4e'`` and
    ``'none'`` as in ``IdentityLoss``). Embeddings are made unit-length when ``normalize``, as the
    identity loss does. The module is moved to ``device``, set to eval mode and frozen (in place).

    A Fréchet distance on these features is not FID: report it as an "identity-embedding
    Fréchet distance" (naming the network, as ``name`` does).
    """

    def __init__(self, network: Optional["nn.Module"] = None, device: Device = "cpu",
                 name: Optional[str] = None, crop: str = "ffhq", normalize: bool = True,
                 batch_size: int = 32):
        if crop == "points":
            raise ValueError("IdentityFeatures has no per-image 5 points; use crop 'ffhq', 'e4e' or 'none'")
        self.device = torch.device(device)
        self.batch_size = _check_batch_size(batch_size)
        self.normalize = bool(normalize)
        if network is None:
            network = load_sface(self.device)
            self._raw_kwargs: Dict[str, Any] = {"normalize": False}  # SFace normalises by default
            default_name = "identity-embedding (sface)"
        else:
            network = network.to(self.device)
            self._raw_kwargs = {}
            default_name = f"identity-embedding ({type(network).__name__})"
        self.name = default_name if name is None else name
        self._loss = IdentityLoss(network=network, crop=crop)

    def _step(self, batch: np.ndarray) -> "torch.Tensor":
        net_input = self._loss.prepare(from_uint8(batch, self.device))
        embeddings = self._loss.net(net_input, **self._raw_kwargs)
        return F.normalize(embeddings, dim=1) if self.normalize else embeddings

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Embeddings [N, D] (float64) of uint8 RGB FFHQ-aligned face images [N, H, W, 3]."""
        array = _check_images(images)
        return _run_batches(array, self.batch_size, self._step, f"the identity network of {self.name}")
