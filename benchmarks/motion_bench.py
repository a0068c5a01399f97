"""Shared by the judged motion benchmarks (``bench_calibration.py``, ``bench_follow.py``,
``bench_expression_limit.py``): their arguments, the inverted sources with the judge, one JSON row per judged run,
its printed line, and the JSON written after every run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Sequence, Tuple

import torch

from latentreenact.examples import example_path
from latentreenact.judge import FaceJudge
from latentreenact.reenactor import Reenactor

JUDGE = "mediapipe face mesh (pitch, yaw, roll, mouth, eye), dlib descriptor (identity)"


def motion_parser(description: str, variants: Sequence[str], default_variants: str) -> argparse.ArgumentParser:
    """The shared arguments: ``--source``, ``--driving``, ``--variants``, ``--tune``, ``--max-frames``, ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--source", type=Path, nargs="+", default=[Path(example_path("astronaut"))])
    parser.add_argument("--driving", type=Path, nargs="+", default=[Path(example_path("smile"))])
    parser.add_argument("--variants", default=default_variants, help=f"comma-separated: {', '.join(variants)}")
    parser.add_argument("--tune", default="released")
    parser.add_argument("--max-frames", type=int, default=72)
    parser.add_argument("--json", type=Path, default=None)
    return parser


def judged_sources(args: argparse.Namespace, **settings: Any) -> Iterator[Tuple[Reenactor, FaceJudge, Path, Any]]:
    """``(reenactor, judge, photo, source)`` for every ``--source`` photo, inverted with ``--tune`` by the default
    reenactor (``settings``: for ``Reenactor.from_pretrained``; torch seeded with 0); the judge stays open while the
    caller runs."""
    torch.manual_seed(0)
    reenactor = Reenactor.from_pretrained("default", **settings)
    with FaceJudge() as judge:
        for photo in args.source:
            yield reenactor, judge, photo, reenactor.invert(photo, tune=args.tune, name=photo.name)


def chosen_variants(parser: argparse.ArgumentParser, text: str, known: Sequence[str]) -> List[str]:
    """The comma-separated variants of ``text``; a parser error for unknown ones."""
    variants = text.split(",")
    unknown = [v for v in variants if v not in known]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(known)}")
    return variants


def judged_row(result: Any, photo: Path, clip: Path, variant: str, gains: Mapping[str, float]) -> Dict[str, Any]:
    """One run (a :class:`~latentreenact.evaluation.motion.MotionResult`) as a JSON row, printed as one line."""
    signals = {k: {"correlation": round(v["correlation"], 3), "gain": round(v["gain"], 3)}
               for k, v in result.signals.items()}
    identity = {k: round(float(v), 3) for k, v in result.identity.items()}
    cells = "  ".join(f"{k} {v['correlation']:.2f}/{v['gain']:.2f}" for k, v in signals.items())
    print(f"{photo.name:22s} {clip.name:14s} {variant:10s} {cells}  dlib {identity['dlib_mean']:.2f}"
          f"/{identity['dlib_max']:.2f}", flush=True)
    return {"source": photo.name, "driving": clip.name, "variant": variant,
            "gains": {k: round(float(v), 3) for k, v in gains.items()}, "signals": signals, "identity": identity}


def write_rows(path: Any, meta: Mapping[str, Any], rows: List[Dict[str, Any]]) -> None:
    """Write ``{"meta", "results"}`` to ``path`` (nothing when it is None); called after every run, so nothing
    measured is lost if a later run fails."""
    if path is not None:
        Path(path).write_text(json.dumps({"meta": {**meta, "judge": JUDGE}, "results": rows}, indent=1))
