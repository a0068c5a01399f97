"""Inversion recipes: what follows the encoder's W+ (a pivot search, pivotal tuning, both or neither).

A recipe is chosen by name (``RECIPES``; ``--tune NAME`` on the command line, ``tune=NAME`` in the API):

- ``"none"``: the encoder's W+ as it is (fast; on real photos usually another person).
- ``"released"`` (the default, chosen by ``benchmarks/bench_editability.py``, docs/editing.md): the
  paper's released inference recipe, PTI preset ``"released"`` (200 steps, lr 3e-3, 100 x MSE, no
  locality term) around the encoder's W+.
- ``"pti"``: PTI proper (preset ``"pti"``) around the encoder's W+.
- ``"pivot"``: the pivot search alone (no tuning: the shared generator renders it).
- ``"local"``: tuning preset ``"local"`` (PTI's locality regulariser on) around the encoder's W+.
- ``"editable"``: a pivot search in W+ from the encoder's code (pixel, perceptual and SFace identity terms, and e4e's
  penalty on per-layer offsets), then tuning preset ``"local"`` (PTI's locality regulariser on). On
  four real photos its edits blurred less than ``released``'s on the hardest photo, but kept the person
  slightly less well, moved the head less faithfully and took 40 % longer, so it is not the default.

The pivot search optimises the latent only; tuning changes a copy of the generator. The generator
passed in is never modified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from latentreenact.models.base import GeneratorBase

from .losses import LossSpec
from .projector import project
from .pti import PRESETS
from .pti import tune as run_tuning


@dataclass(frozen=True)
class PivotSearch:
    """Settings of the pivot search: :func:`inversion.projector.project` in W+ from the encoder's code,
    with constant learning rate (no ramp-up, no latent noise)."""

    steps: int = 60
    lr: float = 0.01
    mse_weight: float = 1.0
    perceptual_weight: float = 1.0
    identity_weight: float = 0.5
    offset_weight: float = 10.0


@dataclass(frozen=True)
class InversionRecipe:
    """A pivot search (or none) followed by a PTI preset (or none)."""

    pivot: Optional[PivotSearch]
    tuning: Optional[str]
    description: str


RECIPES: Dict[str, InversionRecipe] = {
    "none": InversionRecipe(None, None, "the encoder's W+ only"),
    "released": InversionRecipe(None, "released", "the paper's inference recipe: PTI 'released' around the encoder's W+"),
    "pti": InversionRecipe(None, "pti", "PTI proper around the encoder's W+"),
    "pivot": InversionRecipe(PivotSearch(), None, "pivot search in W+ from the encoder's code; the generator is not tuned"),
    "local": InversionRecipe(None, "local", "PTI with the locality regulariser around the encoder's W+"),
    "editable": InversionRecipe(PivotSearch(), "local",
                                "pivot search in W+ from the encoder's code, then PTI with the locality regulariser"),
}
#: The recipe used by the CLI, the API and the demo unless told otherwise.
DEFAULT_RECIPE = "released"


def get_recipe(name: Optional[str]) -> InversionRecipe:
    """The recipe called ``name`` (``None`` means ``"none"``); ValueError naming the choices otherwise."""
    recipe = RECIPES.get("none" if name is None else name)
    if recipe is None:
        raise ValueError(f"unknown inversion recipe {name!r}; choose from {', '.join(RECIPES)}")
    return recipe


def search_pivot(generator: GeneratorBase, target: torch.Tensor, start: torch.Tensor,
                 settings: PivotSearch = PivotSearch(), *, perceptual: LossSpec = "default",
                 identity: LossSpec = "sface", seed: int = 0, progress: bool = False,
                 callback: Optional[Callable[[int], None]] = None) -> torch.Tensor:
    """The pivot W+ [1, L, D]: ``start`` (the encoder's W+) refined to render ``target`` [1, 3, S, S]."""
    result = project(generator, target, steps=settings.steps, w_plus=True, start=start, lr=settings.lr,
                     lr_rampup=0.0, initial_noise_factor=0.0, mse_weight=settings.mse_weight, perceptual=perceptual,
                     perceptual_weight=settings.perceptual_weight, identity=identity,
                     identity_weight=settings.identity_weight, offset_weight=settings.offset_weight, seed=seed,
                     progress=progress, callback=callback)
    return result.wplus


def run_recipe(generator: GeneratorBase, wplus: torch.Tensor, target: torch.Tensor, recipe: str, *,
               tune_steps: Optional[int] = None, perceptual: LossSpec = "default", seed: int = 0,
               progress: bool = False, callback: Optional[Callable[[int], None]] = None
               ) -> Tuple[torch.Tensor, Optional[GeneratorBase], Dict[str, Any]]:
    """Apply recipe ``recipe`` to the encoder's ``wplus`` [N, L, D] for ``target`` [N, 3, S, S]: ``(pivot, tuned
    generator or None, info)``. Several photos of one person (N > 1) get a pivot each and one joint tuning.
    ``tune_steps`` overrides the tuning preset's step count; ``callback`` is called after every pivot-search and
    tuning step with the steps run so far in the recipe (an exception it raises stops the recipe)."""
    chosen = get_recipe(recipe)
    if wplus.ndim != 3 or target.ndim != 4 or wplus.shape[0] != target.shape[0]:
        raise ValueError(f"give one W+ per target: got W+ {tuple(wplus.shape)} and targets {tuple(target.shape)}")
    info: Dict[str, Any] = {"recipe": recipe}
    pivot = wplus
    done = 0
    if chosen.pivot is not None:
        pivots = []
        for i in range(wplus.shape[0]):  # one pivot per photo
            offset = done
            step_callback = None if callback is None else (lambda n, offset=offset: callback(offset + n))
            pivots.append(search_pivot(generator, target[i:i + 1], wplus[i:i + 1], chosen.pivot, perceptual=perceptual,
                                       seed=seed, progress=progress, callback=step_callback))
            done += chosen.pivot.steps
        pivot = torch.cat(pivots)
        if not torch.isfinite(pivot).all():
            raise FloatingPointError("the pivot search diverged (NaN or Inf in W+)")
        info["pivot_steps"] = chosen.pivot.steps
    tuned = None
    if chosen.tuning is not None:
        step_callback = None if callback is None else (lambda n: callback(done + n))
        result = run_tuning(generator, pivot, target, preset=chosen.tuning, steps=tune_steps, perceptual=perceptual,
                            seed=seed, progress=progress, callback=step_callback)
        final = {k: v[-1] for k, v in result.losses.items() if v}
        if not all(math.isfinite(v) for v in final.values()):
            raise FloatingPointError(f"tuning diverged (losses {final})")
        tuned = result.generator
        info.update({"tune": chosen.tuning, "tune_steps_run": result.steps_run})
    return pivot, tuned, info


__all__ = ["DEFAULT_RECIPE", "PRESETS", "RECIPES", "InversionRecipe", "PivotSearch", "get_recipe", "run_recipe",
           "search_pivot"]
