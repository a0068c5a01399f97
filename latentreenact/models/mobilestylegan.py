"""MobileStyleGAN (Belousov 2021), a 1024 px wavelet-based StyleGAN2 student, in plain PyTorch.

Weights come from the OpenVINO IR files shipped by the PyPI package ``random-face``
(``random_face/data/{MappingNetwork,SynthesisNetwork}.{xml,bin}``), read by our own IR parser
(:mod:`latentreenact.models.openvino_ir`). The weights derive from NVIDIA's StyleGAN2-FFHQ model:
research / non-commercial use only.

What the IR holds (and therefore what this module computes):

* mapping: PixelNorm, then 8 x (linear with the equalised-lr scales already folded in, leaky ReLU
  0.2, gain sqrt(2)).
* synthesis: a 4x4x512 constant; ``conv1`` (modulated 3x3 conv); 7 blocks, each ``up`` (the hidden
  state times a per-channel style modulation, then an inverse Haar transform: channels ``[0, C/4)``
  are the LL band, ``[C/4, C)`` the (LH, HL, HH) bands interleaved per channel), ``conv1`` and
  ``conv2`` (modulated depthwise-separable 3x3 convs); the last block's ``to_img`` (modulated 1x1
  conv to 12 wavelet channels: 3 LL + 3x3 high bands) and a final inverse Haar transform to 1024 px.
  Every styled conv adds noise and a bias, then leaky ReLU 0.2 (no gain).
* demodulation in this model is style independent (it used fixed statistics), so the IR folds it
  into the conv weights; we keep the folded weights (``weight`` / ``weight_pw``), which is exact.
* noise: the IR holds one fixed noise map per styled conv, already multiplied by its strength. We
  store ``strength = rms(map)`` and ``const = map / strength`` so that ``noise_mode="const"``
  reproduces the IR; ``"random"`` draws fresh N(0, 1) maps times that strength (an estimate of the
  trained strength; the 4x4 one rests on 16 samples).
* the IR takes a single w for all layers. The per-level ``to_img`` heads for 8..512 px that the
  model was distilled with are not in the IR (the export pruned them: only the final image was an
  output), so ``from_ir`` builds a model without them; see :meth:`MobileSynthesis.forward`.
  ``from_ir(heads="default")`` attaches heads we fitted in closed form instead
  (:mod:`latentreenact.models.mobilestylegan_heads`).

W+ layout (n_latent = 23 = 2 + 3 per block). The IR ties all layers to one w; here every row of
W+ is read separately. Default ``style_layout="per_layer"``: each of the 23 modulated layers of
the IR has its own row, so no row is shared or unused:

=====================  =======================================================
style index            layer it modulates
=====================  =======================================================
0                      ``conv1`` (4x4)
3k + 1 (k = 0..6)      block k ``up`` (modulated inverse-Haar upsampling)
3k + 2                 block k ``conv1``
3k + 3                 block k ``conv2``
3k + 4                 block k ``to_img`` (2**(k+4) px wavelet head); k = 6: index 22, the
                       only head in the IR. Heads of k < 6 (``level_heads=True``) share the
                       row with block k+1 ``up``, and ``to_img1`` (8 px) shares row 1, as
                       StyleGAN2's to_rgb shares with the next conv.
=====================  =======================================================

``style_layout="upstream"`` reproduces the slicing of the upstream MobileStyleGAN.pytorch code
(so W+ codes made for that PyTorch model render the same): 0 ``conv1``; 1 ``to_img1``; block k:
``up`` and ``conv1`` <- 3k+1, ``conv2`` <- 3k+2, ``to_img`` <- 3k+3; row 22 unused. With the IR
weights (no intermediate heads) rows 3, 6, ..., 18 and 22 then have no effect.

Block k works at 2**(k+3) px (hidden state) and its head gives a 2**(k+4) px image.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from .base import NOISE_MODES, GeneratorBase
from .mobilestylegan_heads import attach_heads, load_heads
from .mobilestylegan_ir import ir_state_dict
from .mobilestylegan_layers import (DEFAULT_CHANNELS, INV_SQRT2, RECORDED_IMPLS, STYLE_LAYOUTS, MappingNetwork,
                                    ModulatedInverseHaar, MobileSynthesis, NoiseInjection, StyledConv, StyleIndex,
                                    SynthesisBlock, WaveletHead, inverse_haar, split_bands, wavelet_to_image)
from .openvino_ir import IRGraph

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
RANDOM_FACE_PIN = "random-face==2021.7.21.1"

__all__ = ["DEFAULT_CHANNELS", "INV_SQRT2", "RANDOM_FACE_PIN", "RECORDED_IMPLS", "STYLE_LAYOUTS", "MappingNetwork",
           "MobileStyleGAN", "MobileSynthesis", "ModulatedInverseHaar", "NoiseInjection", "StyleIndex", "StyledConv",
           "SynthesisBlock", "WaveletHead", "inverse_haar", "ir_state_dict", "random_face_data_dir", "split_bands",
           "wavelet_to_image"]


class MobileStyleGAN(GeneratorBase):
    """MobileStyleGAN generator (1024 px FFHQ faces); ``from_ir`` loads the ``random-face`` weights.

    Research / non-commercial use (weights derived from NVIDIA StyleGAN2-FFHQ).
    """

    def __init__(self, style_dim: int = 512, n_mlp: int = 8, channels: Sequence[int] = DEFAULT_CHANNELS,
                 level_heads: bool = False, style_layout: str = "per_layer"):
        super().__init__()
        self.style_dim = style_dim
        self.style_layout = style_layout
        self.mapping_network = MappingNetwork(style_dim, n_mlp)
        self.synthesis_network = MobileSynthesis(style_dim, channels, level_heads, style_layout)
        self.resolution = self.synthesis_network.resolution
        self.n_latent = 2 + 3 * len(self.synthesis_network.blocks)

    @property
    def config(self) -> Dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this architecture."""
        return {"style_dim": self.style_dim, "n_mlp": len(self.mapping_network.layers),
                "channels": list(self.synthesis_network.channels),
                "level_heads": self.synthesis_network.to_img1 is not None, "style_layout": self.style_layout}

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Map ``z`` [B, style_dim] to ``w`` [B, style_dim]."""
        return self.mapping_network(z)

    def synthesis(self, wplus: torch.Tensor, noise_mode: str = "const",
                  noise: Optional[Sequence[Optional[torch.Tensor]]] = None,
                  generator: Optional[torch.Generator] = None, resolution: Optional[int] = None) -> torch.Tensor:
        """Render W+ [B, 23, style_dim] (or one w [B, style_dim] for all layers) to [B, 3, R, R] in ~[-1, 1].

        ``noise_mode``: ``"const"`` (the IR's fixed maps), ``"random"`` (fresh, from ``generator``)
        or ``"none"``; ``noise`` is a list of ``num_noise`` N(0, 1) maps or ``None`` entries.
        ``resolution`` in {8, ..., 1024}, default ``self.resolution``.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if wplus.ndim == 2:
            wplus = wplus.unsqueeze(1).expand(-1, self.n_latent, -1)
        if wplus.ndim != 3 or wplus.shape[1] != self.n_latent or wplus.shape[2] != self.style_dim:
            raise ValueError(f"expected W+ of shape [B, {self.n_latent}, {self.style_dim}], got {tuple(wplus.shape)}")
        return self.synthesis_network(wplus, noise_mode, noise, generator, resolution)

    @property
    def num_noise(self) -> int:
        """Length of the ``noise`` list accepted by ``synthesis``."""
        return self.synthesis_network.num_noise

    def make_noise(self, generator: Optional[torch.Generator] = None) -> List[torch.Tensor]:
        """Fresh N(0, 1) noise maps [1, 1, S, S] for every noise input (rosinality ``make_noise``)."""
        return [torch.randn(layer.const.shape, generator=generator).to(self.device)
                for layer in self.synthesis_network.noise_layers()]

    @classmethod
    def from_ir(cls, data_dir: Optional[PathLike] = None, style_layout: str = "per_layer",
                heads: Optional[PathLike] = None) -> "MobileStyleGAN":
        """Build the generator from ``MappingNetwork.{xml,bin}`` and ``SynthesisNetwork.{xml,bin}``.

        ``data_dir`` defaults to the installed ``random_face`` package's ``data`` folder
        (the package is located without importing it). ``style_layout``: see the module docstring.
        ``heads``: ``None`` (the IR only: below 1024 px the full network runs and is downsampled),
        ``"default"`` (the fitted 8..512 px heads shipped in ``latentreenact/weights``) or the path
        of a heads file; with heads, ``synthesis(..., resolution=R)`` skips the blocks above R.
        See :mod:`latentreenact.models.mobilestylegan_heads`.
        """
        folder = Path(data_dir) if data_dir is not None else random_face_data_dir()
        mapping = IRGraph.load(folder / "MappingNetwork.xml")
        synthesis = IRGraph.load(folder / "SynthesisNetwork.xml")
        state = ir_state_dict(mapping, synthesis)
        n_mlp = sum(1 for k in state if k.startswith("mapping_network.layers.") and k.endswith(".weight"))
        channels = [state["synthesis_network.const"].shape[1]]
        k = 0
        while f"synthesis_network.blocks.{k}.conv1.bias" in state:
            channels.append(state[f"synthesis_network.blocks.{k}.conv1.bias"].shape[1])
            k += 1
        style_dim = int(state["mapping_network.layers.0.weight"].shape[1])
        model = cls(style_dim=style_dim, n_mlp=n_mlp, channels=channels, level_heads=False, style_layout=style_layout)
        model.load_state_dict(state, strict=True)
        logger.info("loaded MobileStyleGAN from %s (research / non-commercial use: derived from NVIDIA FFHQ)", folder)
        if heads is not None:
            attach_heads(model, *load_heads(heads))
        return model.eval()


def random_face_data_dir() -> Path:
    """The ``data`` folder of the installed ``random_face`` package (found without importing it)."""
    spec = importlib.util.find_spec("random_face")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "MobileStyleGAN weights not found: the 'random_face' package is not installed. Install its data "
            f"files with `pip install --no-deps {RANDOM_FACE_PIN}` or pass data_dir= to MobileStyleGAN.from_ir")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (folder / "SynthesisNetwork.xml").is_file():
        raise FileNotFoundError(
            f"{folder} lacks SynthesisNetwork.xml; reinstall with "
            f"`pip install --no-deps --force-reinstall {RANDOM_FACE_PIN}`")
    return folder
