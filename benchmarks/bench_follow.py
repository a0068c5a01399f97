"""Following the driving face's eyes and mouth (``ReenactOptions.follow_eyes`` / ``follow_mouth``), judged
independently: each source photo is inverted (and tuned) once, then every driving clip drives it with each
variant of the options; the judge (MediaPipe face mesh, dlib; neither is used by the method) measures the
correlation and gain of pitch, yaw, roll, mouth and eye against the driving face, and the dlib distance to the
source. Prints one line per run, writes JSON and, with ``--plots``, the judge's series plot of every run.

Variants: ``none`` (neither followed), ``eyes`` (the eyes only: the default before ``follow_mouth``),
``eyes+mouth`` (both: the default now).

    make judge-env   # once
    python benchmarks/bench_follow.py --source PHOTO ... --driving CLIP ... [--variants eyes,eyes+mouth]
        [--tune released] [--max-frames 72] [--plots DIR] --json out.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from motion_bench import chosen_variants, judged_row, judged_sources, motion_parser, write_rows

from latentreenact.driving_landmarks import FOLLOWERS
from latentreenact.evaluation.motion import evaluate_pair, plot_result
from latentreenact.reenact_video import ReenactOptions

VARIANTS = {"none": ReenactOptions(follow_eyes=False, follow_mouth=False),
            "eyes": ReenactOptions(follow_eyes=True, follow_mouth=False),
            "eyes+mouth": ReenactOptions(follow_eyes=True, follow_mouth=True)}


def main() -> None:
    """Invert each source once, then judge every clip x variant; JSON rows carry the mouth share used."""
    parser = motion_parser(__doc__.split("\n\n")[0], list(VARIANTS), "eyes,eyes+mouth")
    parser.add_argument("--plots", type=Path, default=None, help="folder for the judge's series plots")
    args = parser.parse_args()
    variants = chosen_variants(parser, args.variants, list(VARIANTS))
    meta = {"tune": args.tune, "max_frames": args.max_frames, "variants": variants,
            "mouth_share": FOLLOWERS["mouth"].share}
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
    rows: List[Dict[str, Any]] = []
    for reenactor, judge, photo, src in judged_sources(args):
        gains = {k: float(src.info[k]) for k in ("eye_gain", "mouth_gain") if k in src.info}
        for clip in args.driving:
            for variant in variants:
                result = evaluate_pair(reenactor, src, clip, judge, tune=args.tune, options=VARIANTS[variant],
                                       max_frames=args.max_frames)
                row = judged_row(result, photo, clip, variant, gains)
                rows.append({**row, "mouth_share": FOLLOWERS["mouth"].share if "mouth" in variant else None})
                write_rows(args.json, meta, rows)
                if args.plots is not None:
                    plot_result(result, args.plots / f"{photo.stem}_{clip.stem}_{variant.replace('+', '_')}.png")


if __name__ == "__main__":
    main()
