"""Per-source pose calibration (``Reenactor.calibrate``) judged independently: each source photo is inverted
(and tuned) once, then every driving clip drives it with each set of gains; the judge (MediaPipe face mesh,
dlib; neither is used by the method) measures the correlation and gain of pitch, yaw, roll, mouth and eye
against the driving face, and the dlib distance to the source. Prints one line per run, writes JSON.

Variants: ``raw`` (no gains: A as it is), ``default`` (the gains the reenactor measures,
:data:`latentreenact.reenactor.CALIBRATION_STEPS`), ``yaw+pitch`` (yaw calibrated too, 10° steps).

    make judge-env   # once
    python benchmarks/bench_calibration.py --source PHOTO ... --driving CLIP ... [--variants raw,default]
        [--tune released] [--max-frames 72] --json out.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

import torch

from latentreenact.evaluation.motion import evaluate_pair
from latentreenact.examples import example_path
from latentreenact.judge import FaceJudge
from latentreenact.reenactor import CALIBRATION_STEPS, Reenactor

VARIANTS = {"raw": None, "default": dict(CALIBRATION_STEPS), "yaw+pitch": {"yaw": 10.0, "pitch": 8.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, nargs="+", default=[Path(example_path("astronaut"))])
    parser.add_argument("--driving", type=Path, nargs="+", default=[Path(example_path("smile"))])
    parser.add_argument("--variants", default="raw,default", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--tune", default="released")
    parser.add_argument("--max-frames", type=int, default=72)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    torch.manual_seed(0)
    reenactor = Reenactor.from_pretrained("default", calibrate=False)
    rows: List[Dict[str, Any]] = []
    with FaceJudge() as judge:
        for photo in args.source:
            src = reenactor.invert(photo, tune=args.tune, name=photo.name)
            gains = {v: ({} if VARIANTS[v] is None else reenactor.calibrate(src, VARIANTS[v])) for v in variants}
            for clip in args.driving:
                for variant in variants:
                    src.pose_gains = gains[variant]
                    result = evaluate_pair(reenactor, src, clip, judge, tune=args.tune, max_frames=args.max_frames)
                    signals = {k: {"correlation": round(v["correlation"], 3), "gain": round(v["gain"], 3)}
                               for k, v in result.signals.items()}
                    identity = {k: round(float(v), 3) for k, v in result.identity.items()}
                    rows.append({"source": photo.name, "driving": clip.name, "variant": variant,
                                 "gains": {k: round(v, 3) for k, v in gains[variant].items()},
                                 "signals": signals, "identity": identity})
                    cells = "  ".join(f"{k} {v['correlation']:.2f}/{v['gain']:.2f}" for k, v in signals.items())
                    print(f"{photo.name:22s} {clip.name:14s} {variant:9s} {cells}  dlib {identity['dlib_mean']:.2f}"
                          f"/{identity['dlib_max']:.2f}", flush=True)
    if args.json:
        meta = {"tune": args.tune, "max_frames": args.max_frames, "variants": {v: VARIANTS[v] for v in variants},
                "judge": "mediapipe face mesh (pitch, yaw, roll, mouth, eye), dlib descriptor (identity)"}
        args.json.write_text(json.dumps({"meta": meta, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
