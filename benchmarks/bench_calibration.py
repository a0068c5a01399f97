"""Per-source pose calibration (``Reenactor.calibrate``) judged independently: each source photo is inverted
(and tuned) once, then every driving clip drives it with each set of gains; the judge (MediaPipe face mesh,
dlib; neither is used by the method) measures the correlation and gain of pitch, yaw, roll, mouth and eye
against the driving face, and the dlib distance to the source. Prints one line per run, writes JSON.

The eyes and the mouth are not followed here (``follow_eyes=False, follow_mouth=False``), so the runs measure
the pose calibration alone.

Variants: ``raw`` (no gains: A as it is), ``default`` (the gains the reenactor measures,
:data:`latentreenact.pose_delta.CALIBRATION_STEPS`), ``yaw+pitch`` (yaw calibrated too, 10° steps).

    make judge-env   # once
    python benchmarks/bench_calibration.py --source PHOTO ... --driving CLIP ... [--variants raw,default]
        [--tune released] [--max-frames 72] --json out.json
"""

from __future__ import annotations

from typing import Any, Dict, List

from motion_bench import chosen_variants, judged_row, judged_sources, motion_parser, write_rows

from latentreenact.evaluation.motion import evaluate_pair
from latentreenact.reenact_video import ReenactOptions
from latentreenact.pose_delta import CALIBRATION_STEPS

POSE_ONLY = ReenactOptions(follow_eyes=False, follow_mouth=False)
VARIANTS = {"raw": None, "default": dict(CALIBRATION_STEPS), "yaw+pitch": {"yaw": 10.0, "pitch": 8.0}}


def main() -> None:
    parser = motion_parser(__doc__.split("\n\n")[0], list(VARIANTS), "raw,default")
    args = parser.parse_args()
    variants = chosen_variants(parser, args.variants, list(VARIANTS))
    meta = {"tune": args.tune, "max_frames": args.max_frames, "variants": {v: VARIANTS[v] for v in variants}}
    rows: List[Dict[str, Any]] = []
    for reenactor, judge, photo, src in judged_sources(args, calibrate=False):
        gains = {v: ({} if VARIANTS[v] is None else reenactor.calibrate(src, VARIANTS[v])) for v in variants}
        for clip in args.driving:
            for variant in variants:
                src.pose_gains = gains[variant]
                result = evaluate_pair(reenactor, src, clip, judge, tune=args.tune, max_frames=args.max_frames,
                                       options=POSE_ONLY)
                rows.append(judged_row(result, photo, clip, variant, gains[variant]))
                write_rows(args.json, meta, rows)


if __name__ == "__main__":
    main()
