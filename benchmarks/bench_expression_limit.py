"""The bound on the source's expression plus Δp (``ReenactOptions.expression_limit``), judged independently: each
source photo is inverted (and tuned) once, then every driving clip drives it with each limit; the judge (MediaPipe
face mesh, dlib; neither is used by the method) measures the correlation and gain of pitch, yaw, roll, mouth and eye
against the driving face and the dlib distance of every frame to the source. Prints one line per run (with the
frames over dlib's 0.6 and the share of frames whose Δp the limit cut), writes JSON and, with ``--sheets``, a frame
sheet per run.

Variants: ``off`` (no bound), ``6`` (the generated faces' whole range), ``5``, ``4``.

    make judge-env   # once
    python benchmarks/bench_expression_limit.py --source PHOTO ... --driving CLIP ... [--variants off,6,4]
        [--max-frames 72] [--sheets DIR] --json out.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from motion_bench import chosen_variants, judged_row, judged_sources, motion_parser, write_rows

from latentreenact.evaluation.frame_sheet import write_frame_sheet
from latentreenact.evaluation.motion import evaluate_pair
from latentreenact.reenact_video import ReenactOptions, pose_track
from latentreenact.video import iter_frames

VARIANTS: Dict[str, Optional[float]] = {"off": None, "6": 6.0, "5": 5.0, "4": 4.0}


def cut_shares(reenactor: Any, src: Any, clip: Path, max_frames: Optional[int]) -> Dict[str, float]:
    """Per variant, the share of the clip's frames whose Δp the limit changes (the video path's measurement and
    smoothing)."""
    measured = reenactor.measure_driving(iter_frames(clip, max_frames))
    args: Dict[str, Any] = dict(relative=True, sequence=True, smoothing=ReenactOptions().smoothing_for(True),
                                what=str(clip))
    free = pose_track(reenactor, src, measured.p, measured.found, **args).dp
    shares = {}
    for variant, limit in VARIANTS.items():
        cut = pose_track(reenactor, src, measured.p, measured.found, expression_limit=limit, **args).dp
        shares[variant] = float((free != cut).any(dim=1).float().mean())
    return shares


def main() -> None:
    """Invert each source once, then judge every clip x limit."""
    parser = motion_parser(__doc__.split("\n\n")[0], list(VARIANTS), "off,6,4")
    parser.add_argument("--sheets", type=Path, default=None, help="folder for a frame sheet per run")
    args = parser.parse_args()
    variants = chosen_variants(parser, args.variants, list(VARIANTS))
    if args.sheets is not None:
        args.sheets.mkdir(parents=True, exist_ok=True)
    meta = {"tune": args.tune, "max_frames": args.max_frames, "variants": variants}
    rows: List[Dict[str, Any]] = []
    for reenactor, judge, photo, src in judged_sources(args):
        for clip in args.driving:
            shares = cut_shares(reenactor, src, clip, args.max_frames)
            for variant in variants:
                limit = VARIANTS[variant]
                result = evaluate_pair(reenactor, src, clip, judge, tune=args.tune,
                                       options=ReenactOptions(expression_limit=limit), max_frames=args.max_frames)
                row = judged_row(result, photo, clip, variant, {})
                distances = np.asarray(result.dlib_distances, dtype=np.float64)
                row.update({"limit": limit, "frames": int(distances.size),
                            "frames_over_0_6": int(np.sum(distances > 0.6)), "frames_cut": round(shares[variant], 3)})
                print(f"    frames over 0.6: {row['frames_over_0_6']} of {row['frames']}, "
                      f"Δp cut on {row['frames_cut']:.0%} of the frames", flush=True)
                rows.append(row)
                write_rows(args.json, meta, rows)
                if args.sheets is not None and result.samples:
                    write_frame_sheet(result.samples, args.sheets / f"{photo.stem}_{clip.stem}_{variant}.jpg")


if __name__ == "__main__":
    main()
