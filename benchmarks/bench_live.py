"""The live path (frame by frame, with face tracking) against the video path, judged independently.

One source photo (inverted with ``--tune``) and driving clips: the video path (``Reenactor``'s two passes,
detection on every frame) and the live path (:class:`latentreenact.live.LiveReenactor`: causal, tracking
between detections) render the same clip; the judge (MediaPipe face mesh, dlib; neither is used by the
method) measures, for each, the correlation and gain of pitch, yaw, roll, mouth and eye against the driving
face, and the dlib distance to the source. Prints one markdown table, writes JSON and, per clip, a plot of
both runs (``--plots DIR``).

    make judge-env   # once
    python benchmarks/bench_live.py [--source PHOTO] [--driving CLIP ...] [--tune released] [--json out.json]
        [--plots DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from latentreenact.evaluation.motion import bfm_series, judge_pair, plot_result
from latentreenact.examples import example_path
from latentreenact.faces import read_image
from latentreenact.judge import FaceJudge
from latentreenact.reenact_video import ReenactOptions, video_frames
from latentreenact.reenactor import Reenactor
from latentreenact.video import iter_frames

SIGNALS = ("pitch", "yaw", "roll", "mouth", "eye")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(example_path("astronaut")))
    parser.add_argument("--driving", type=Path, nargs="+", default=[Path(example_path("smile"))])
    parser.add_argument("--tune", default="released")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plots", type=Path, default=None)
    args = parser.parse_args()

    torch.manual_seed(0)
    reenactor = Reenactor.from_pretrained("default", seed=0)
    src = reenactor.invert(read_image(args.source), tune=None if args.tune == "none" else args.tune,
                           name=args.source.name)
    rows: List[Dict[str, Any]] = []
    with FaceJudge(mirror=True) as judge:
        for clip in args.driving:
            track, video_out = video_frames(reenactor, src, clip, ReenactOptions(smoothing=0.5))
            reference = int(np.flatnonzero(track.found.numpy())[0])
            bfm = bfm_series(track.p.numpy(), reenactor.spec.names, reference)
            live = reenactor.live(src)
            start = time.perf_counter()
            live_out = [live.step(frame).image for frame in iter_frames(clip)]
            live_s = (time.perf_counter() - start) / len(live_out)
            for path, frames in (("video", video_out), ("live", iter(live_out))):
                result = judge_pair(judge, iter_frames(clip), frames, src.image, bfm, source=args.source.name,
                                    driving=str(clip), tune=f"{args.tune}, {path} path")
                row = {"driving": clip.name, "path": path, "frames": result.frames,
                       "signals": {k: result.signals[k] for k in SIGNALS}, "identity": result.identity}
                if path == "live":
                    row["seconds_per_frame"] = live_s
                rows.append(row)
                if args.plots is not None:
                    args.plots.mkdir(parents=True, exist_ok=True)
                    plot_result(result, args.plots / f"{args.source.stem}_{clip.stem}_{path}.png")
    head = "| clip | path | " + " | ".join(f"{s} r / gain" for s in SIGNALS) + " | dlib mean / max |"
    print(head)
    print("|" + "---|" * (len(SIGNALS) + 3))
    for row in rows:
        cells = " | ".join(f"{row['signals'][s]['correlation']:.2f} / {row['signals'][s]['gain']:.2f}" for s in SIGNALS)
        ident = row["identity"]
        print(f"| {row['driving']} | {row['path']} | {cells} | {ident['dlib_mean']:.2f} / {ident['dlib_max']:.2f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"source": str(args.source), "tune": args.tune, "rows": rows}, indent=1,
                                        default=float) + "\n")


if __name__ == "__main__":
    main()
