"""Issue #16's acceptance applied to `eval motion` results: which photo × clip pairs meet the motion targets.

A signal meets its target when the judge's correlation of output with driving is at least ``min_r`` and the gain
lies in ``[gain_low, gain_high]``; identity meets it when the dlib distance to the source is at most 0.5 on average
and 0.6 on every frame. Works on the JSON form of the results (``MotionResult.to_json()`` and committed
``motion.json`` files alike), so old runs can be counted the same way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Sequence

__all__ = ["IDENTITY_MAX", "IDENTITY_MEAN", "MOTION_TARGETS", "Target", "acceptance", "acceptance_markdown",
           "meets"]


class Target(NamedTuple):
    """What a signal must reach: correlation ``min_r`` or more, gain within ``[gain_low, gain_high]``."""

    min_r: float
    gain_low: float
    gain_high: float


#: issue #16 item 6: pitch and yaw r >= 0.8 with gain in [0.7, 1.3]; mouth opening r >= 0.8 with gain in [0.5, 1.5]
MOTION_TARGETS: Dict[str, Target] = {"pitch": Target(0.8, 0.7, 1.3), "yaw": Target(0.8, 0.7, 1.3),
                                     "mouth": Target(0.8, 0.5, 1.5)}
#: dlib distance to the source: at most this on average, and at most IDENTITY_MAX on every frame
IDENTITY_MEAN, IDENTITY_MAX = 0.5, 0.6


def meets(stats: Mapping[str, Any], target: Target) -> bool:
    """Whether one signal's ``{"correlation", "gain"}`` meets ``target`` (a missing or NaN value does not)."""
    r, g = stats.get("correlation"), stats.get("gain")
    if not isinstance(r, (int, float)) or not isinstance(g, (int, float)) or not (math.isfinite(r)
                                                                                 and math.isfinite(g)):
        return False
    return r >= target.min_r and target.gain_low <= g <= target.gain_high


def _identity_ok(identity: Mapping[str, Any]) -> bool:
    mean, worst = identity.get("dlib_mean"), identity.get("dlib_max")
    if not isinstance(mean, (int, float)) or not isinstance(worst, (int, float)):
        return False
    if identity.get("frames_without_face", 0):
        return False  # a frame without a face found is not a frame of the same person
    return mean <= IDENTITY_MEAN and worst <= IDENTITY_MAX


def acceptance(results: Sequence[Mapping[str, Any]],
               targets: Mapping[str, Target] = MOTION_TARGETS) -> Dict[str, Any]:
    """Per pair, which signals of ``targets`` and whether identity meet the targets; and the counts over all pairs:
    ``{"pairs": [{source, driving, signals: {name: bool}, identity: bool}], "met": {name: n}, "identity_met": n,
    "cells_met": n, "cells": n, "pair_count": n}``. ``results``: dicts with ``source``, ``driving``, ``signals``
    and ``identity`` as ``MotionResult.to_json()`` writes them."""
    pairs = []
    met = {name: 0 for name in targets}
    identity_met = 0
    for result in results:
        signals = {name: meets(result["signals"].get(name, {}), target) for name, target in targets.items()}
        identity = _identity_ok(result["identity"])
        for name, ok in signals.items():
            met[name] += ok
        identity_met += identity
        pairs.append({"source": result["source"], "driving": result["driving"], "signals": signals,
                      "identity": identity})
    return {"pairs": pairs, "met": met, "identity_met": identity_met, "cells_met": sum(met.values()),
            "cells": len(targets) * len(pairs), "pair_count": len(pairs),
            "targets": {name: t._asdict() for name, t in targets.items()},
            "identity_targets": {"dlib_mean": IDENTITY_MEAN, "dlib_max": IDENTITY_MAX}}


def acceptance_markdown(summary: Mapping[str, Any]) -> str:
    """The targets, then a markdown table of :func:`acceptance`'s result: one row per pair (yes / no per signal and
    identity) and a total row."""
    names = list(summary["met"])
    targets = "; ".join(f"{n}: r >= {t['min_r']:g} with gain in [{t['gain_low']:g}, {t['gain_high']:g}]"
                        for n, t in summary["targets"].items())
    ident = summary["identity_targets"]
    lines = [f"Targets: {targets}; identity: dlib distance to the source <= {ident['dlib_mean']:g} on average and "
             f"<= {ident['dlib_max']:g} on every frame.", "",
             "| source | driving | " + " | ".join(names) + " | identity |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for pair in summary["pairs"]:
        cells = ["yes" if pair["signals"][n] else "no" for n in names] + ["yes" if pair["identity"] else "no"]
        lines.append(f"| {Path(pair['source']).name} | {Path(pair['driving']).name} | " + " | ".join(cells) + " |")
    count = summary["pair_count"]
    lines.append("| **met** | | " + " | ".join(f"{summary['met'][n]} of {count}" for n in names)
                 + f" | {summary['identity_met']} of {count} |")
    return "\n".join(lines) + f"\n\nMotion cells met: {summary['cells_met']} of {summary['cells']}.\n"
