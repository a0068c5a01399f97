"""How far the expression controls turn the head: A's expression columns and the W-space controls, read by the
method's driving estimator (bfm-rigid) and by the independent judge.

For each source photo (inverted with the default recipe) each expression entry of Δp is set alone to -V and +V
rescaled units (default 4) and each W-space control (eyes_closed, lips_apart) to 1 and 2; every render's head
rotation relative to the unedited render is read by bfm-rigid (the estimator that measures driving frames) and
by the judge (MediaPipe face mesh, relative rotation; nothing trains against it). An expression column that
turns the head makes the output nod or turn when the driving face only smiles. Prints one row per edit and,
per photo, the agreement of the two readings (correlation over the edits) and the judge's mean and largest
|pitch| and |yaw|; writes JSON.

    make judge-env   # once
    python benchmarks/bench_expression_leakage.py --source PHOTO ... [--model DIR] [--value 4] --json out.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from latentreenact.images import resize_square
from latentreenact.judge import FaceJudge
from latentreenact.pose_delta import leak_deltas
from latentreenact.reenactor import Reenactor, Source

W_CONTROLS = ("eyes_closed", "lips_apart")


def edited_faces(reenactor: Reenactor, src: Source, value: float) -> Tuple[List[str], List[np.ndarray]]:
    """The unedited render first, then one render per edit, and the edits' names."""
    k = reenactor.spec.k
    entries, rows = leak_deltas(reenactor.spec, value)  # the renders the library's leak calibration reads
    names = ["none"] + [f"{name} {v:+g}" for name in entries for v in (-value, value)]
    faces = list(reenactor.faces(src, torch.cat([torch.zeros(1, k), rows]), calibrate=False))
    values = torch.tensor([1.0, 2.0])
    for control in W_CONTROLS:
        if control in reenactor.control_names():
            offsets = reenactor.control_series(control, values)  # one ΔW+ per value, rendered in one pass
            faces += list(reenactor.faces(src, torch.zeros(len(values), k), calibrate=False, offset=offsets))
            names += [f"{control} {v:+g}" for v in values.tolist()]
    return names, faces


def measure(reenactor: Reenactor, judge: FaceJudge, names: List[str], faces: List[np.ndarray]
            ) -> Dict[str, Dict[str, float]]:
    """Per edit: (pitch, yaw) change in degrees read by bfm-rigid and by the judge."""
    p, found = reenactor.pose([resize_square(f, reenactor.align_size) for f in faces])  # as source_calibration
    yaw, pitch = reenactor.spec.names.index("yaw"), reenactor.spec.names.index("pitch")
    series = judge.measure(faces)  # relative to the first (unedited) render
    out = {}
    for j, name in enumerate(names[1:], 1):
        ok = bool(found[0] and found[j])
        out[name] = {"rigid_pitch": float(p[j, pitch] - p[0, pitch]) if ok else float("nan"),
                     "rigid_yaw": float(p[j, yaw] - p[0, yaw]) if ok else float("nan"),
                     "judge_pitch": float(series.pitch[j]), "judge_yaw": float(series.yaw[j])}
    return out


def agreement(rows: Dict[str, Dict[str, float]]) -> Dict[str, Any]:
    """Over the expression-column edits: correlation of the two readings and the judge's |change|."""
    exp = [r for n, r in rows.items() if n.startswith("exp_")]
    out: Dict[str, Any] = {}
    for angle in ("pitch", "yaw"):
        rigid = np.array([r[f"rigid_{angle}"] for r in exp])
        judged = np.array([r[f"judge_{angle}"] for r in exp])
        ok = np.isfinite(rigid) & np.isfinite(judged)
        out[f"{angle}_correlation"] = float(np.corrcoef(rigid[ok], judged[ok])[0, 1]) if ok.sum() > 2 else None
        out[f"judge_{angle}_abs_mean"] = float(np.abs(judged[ok]).mean())
        out[f"judge_{angle}_abs_max"] = float(np.abs(judged[ok]).max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, nargs="+", required=True)
    parser.add_argument("--model", default="default")
    parser.add_argument("--value", type=float, default=4.0, help="rescaled units of each expression edit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    reenactor = Reenactor.from_pretrained(args.model, seed=args.seed)
    record: Dict[str, Any] = {"model": args.model, "value": args.value, "tune": "released", "photos": {}}
    with FaceJudge() as judge:
        for photo in args.source:
            src = reenactor.invert(str(photo), tune="released")
            names, faces = edited_faces(reenactor, src, args.value)
            rows = measure(reenactor, judge, names, faces)
            summary = agreement(rows)
            record["photos"][photo.name] = {"edits": rows, "summary": summary}
            print(f"# {photo.name}: pitch / yaw change in degrees, bfm-rigid vs judge")
            for name, r in rows.items():
                print(f"{name:16s} rigid {r['rigid_pitch']:+6.2f} / {r['rigid_yaw']:+6.2f}   "
                      f"judge {r['judge_pitch']:+6.2f} / {r['judge_yaw']:+6.2f}")
            print(f"agreement over the expression columns: pitch r {summary['pitch_correlation']:.2f}, "
                  f"yaw r {summary['yaw_correlation']:.2f}; judge |pitch| mean {summary['judge_pitch_abs_mean']:.2f} "
                  f"max {summary['judge_pitch_abs_max']:.2f}, |yaw| mean {summary['judge_yaw_abs_mean']:.2f} "
                  f"max {summary['judge_yaw_abs_max']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
