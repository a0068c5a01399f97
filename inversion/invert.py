"""Invert an aligned face crop: one encoder pass, or the optimisation projector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from latentreenact.images import from_uint8, resize_square
from latentreenact.sampling import truncation_centre

from .light_encoder import LightEncoder
from .projector import project, render_with_noise
from .recipes import get_recipe, run_recipe

DEFAULT_PROJECTOR_STEPS = 200


def invert_aligned(generator: Any, aligned: np.ndarray, size: int, *, encoder: Any = None,
                   steps: int = DEFAULT_PROJECTOR_STEPS, w_plus: bool = False, perceptual: Any = "default",
                   seed: int = 0, progress: bool = False) -> Tuple[Any, Any, Dict[str, Any]]:
    """Invert an aligned uint8 face: ``(wplus [1, L, D], reconstruction [1, 3, S, S], info)``.

    With ``encoder`` (e4e) one forward pass at its input size (the generator's average w is added
    when the encoder has no ``latent_avg``); otherwise :func:`inversion.projector.project` for
    ``steps`` steps at ``size`` px, from the average w, in W (or W+ with ``w_plus``).
    """
    device = generator.device
    target = from_uint8(resize_square(aligned, size), device)
    if encoder is not None:
        if encoder.n_styles != generator.n_latent:
            raise ValueError(f"the encoder predicts {encoder.n_styles} styles but the generator takes "
                             f"{generator.n_latent}; use an encoder trained for this generator")
        with torch.no_grad():
            codes = encoder(from_uint8(resize_square(aligned, encoder.input_size), device))
            if not encoder.has_latent_avg:
                codes = codes + truncation_centre(generator).to(codes).unsqueeze(1)

            image = render_with_noise(generator, codes, size)
        return codes, image, {"method": "light encoder" if isinstance(encoder, LightEncoder) else "e4e"}

    result = project(generator, target, steps=steps, w_plus=w_plus, perceptual=perceptual, seed=seed,
                     progress=progress)
    return result.wplus, result.image, {"method": "projector", "steps": steps, "space": "wplus" if w_plus else "w",
                                        "final_losses": {k: v[-1] for k, v in result.losses.items()}}


@dataclass
class InversionRun:
    """What :func:`invert_and_tune` made: the latent and its reconstruction, and, when tuned, the
    tuned generator and its rendering of the latent. ``info`` records the method and the errors."""

    wplus: torch.Tensor
    reconstruction: torch.Tensor
    info: Dict[str, Any] = field(default_factory=dict)
    tuned: Optional[Any] = None
    tuned_image: Optional[torch.Tensor] = None


def invert_and_tune(generator: Any, aligned: np.ndarray, size: int, *, encoder: Any = None,
                    steps: int = DEFAULT_PROJECTOR_STEPS, w_plus: bool = False, perceptual: Any = "default",
                    tune: Optional[str] = None, tune_steps: Optional[int] = None, seed: int = 0,
                    progress: bool = False) -> InversionRun:
    """:func:`invert_aligned`, then (``tune``: a recipe of :data:`inversion.recipes.RECIPES`) a pivot search
    and/or pivotal tuning of a copy of ``generator`` around the latent; ``wplus`` is then the pivot. ``info``
    gains ``mse`` (of the first inversion; and ``recipe``, ``mse_tuned`` and the recipe's counts when a recipe
    ran), measured at ``size`` px."""
    get_recipe(tune)
    wplus, recon, info = invert_aligned(generator, aligned, size, encoder=encoder, steps=steps, w_plus=w_plus,
                                        perceptual=perceptual, seed=seed, progress=progress)
    target = from_uint8(resize_square(aligned, size), generator.device)
    run = InversionRun(wplus, recon, {**info, "mse": float(torch.nn.functional.mse_loss(recon, target))})
    if tune not in (None, "none"):
        pivot, tuned, recipe_info = run_recipe(generator, wplus, target, tune, tune_steps=tune_steps,
                                               perceptual=perceptual, seed=seed, progress=progress)
        run.wplus = pivot
        run.tuned = tuned
        with torch.no_grad():
            run.tuned_image = render_with_noise(tuned if tuned is not None else generator, pivot, size)
        run.info.update({**recipe_info, "mse_tuned": float(torch.nn.functional.mse_loss(run.tuned_image, target))})
    return run
