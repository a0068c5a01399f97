"""Reenactment latency of the default models on the bundled example (source photo + 3 s driving clip).

Reports, on one device: model loading; inverting the source (encoder) and pivotal tuning per step;
per driving frame: face detection + alignment + Net3D (the "measure" pass), generator + paste-back
(the "render" pass), and the end-to-end ``reenact_video`` time per frame (decode, both passes,
encode), without and with a tuned generator (per-frame work is the same: one Net3D pass and one
generator pass; tuning is a one-off cost per source). Medians over ``--repeats`` runs.

    python benchmarks/bench_reenact.py [--device cpu] [--frames 24] [--tune-steps 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], Any], repeats: int, device: torch.device) -> float:
    times: List[float] = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=24, help="driving frames per timed pass")
    parser.add_argument("--tune-steps", type=int, default=20, help="tuning steps timed ('released' preset)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from latentreenact.examples import example_path
    from latentreenact.faces import read_image
    from latentreenact.reenactor import Reenactor
    from latentreenact.video import iter_frames

    device = torch.device(args.device)
    torch.manual_seed(0)
    start = time.perf_counter()
    reenactor = Reenactor.from_pretrained("default", device=device, seed=0)
    load_s = time.perf_counter() - start
    photo, clip = read_image(example_path("astronaut")), example_path("smile")
    frames = list(iter_frames(clip, args.frames))
    src = reenactor.invert(photo, tune="none")  # warm-up
    invert_s = median_seconds(lambda: reenactor.invert(photo, tune="none"), args.repeats, device)
    start = time.perf_counter()
    tuned = reenactor.invert(photo, tune="released", tune_steps=args.tune_steps)
    tune_s = time.perf_counter() - start - invert_s
    p, _ = reenactor.measure(frames)
    dp = reenactor.spec.delta(p[:1].expand_as(p), p)

    def render_all(source: Any) -> None:
        from latentreenact.images import to_uint8
        from latentreenact.reenact_video import compose

        for i in range(0, len(frames), 8):
            faces = reenactor.render(source, reenactor.shift(source, dp[i:i + 8]))
            for face in to_uint8(faces):
                compose(source, face, paste_back=True)

    measure_s = median_seconds(lambda: reenactor.measure(frames), args.repeats, device) / len(frames)
    render_s = median_seconds(lambda: render_all(src), args.repeats, device) / len(frames)
    with tempfile.TemporaryDirectory() as tmp:
        def end_to_end(source: Any) -> float:
            summary = reenactor.reenact_video(source, clip, Path(tmp) / "out.mp4", paste_back=True,
                                              max_frames=args.frames)
            return summary.seconds_per_frame

        e2e_s = statistics.median(end_to_end(src) for _ in range(args.repeats))
        e2e_tuned_s = statistics.median(end_to_end(tuned) for _ in range(args.repeats))
    result: Dict[str, Any] = {
        "device": str(device), "machine": platform.machine(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "frames": len(frames), "repeats": args.repeats,
        "load_s": load_s, "invert_s": invert_s, "tune_steps": args.tune_steps,
        "tune_s_per_step": tune_s / max(args.tune_steps, 1),
        "tune_released_200_steps_s_estimate": 200 * tune_s / max(args.tune_steps, 1),
        "measure_s_per_frame": measure_s, "render_s_per_frame": render_s,
        "reenact_video_s_per_frame": e2e_s, "reenact_video_tuned_s_per_frame": e2e_tuned_s,
    }
    print(f"# reenactment latency, default models, {device} ({platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}), {len(frames)} frames, "
          f"median of {args.repeats}")
    rows = [("load the default models", load_s, "s"), ("invert the source (encoder)", invert_s, "s"),
            ("pivotal tuning ('released')", result["tune_s_per_step"], "s/step"),
            ("  estimated 200-step preset", result["tune_released_200_steps_s_estimate"], "s"),
            ("measure: detect + align + Net3D", measure_s, "s/frame"),
            ("render: generator + paste-back", render_s, "s/frame"),
            ("reenact_video end to end", e2e_s, "s/frame"),
            ("reenact_video, tuned generator", e2e_tuned_s, "s/frame")]
    for name, value, unit in rows:
        print(f"{name:36s} {value:8.3f} {unit}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    assert np.isfinite(list(v for v in result.values() if isinstance(v, float))).all()


if __name__ == "__main__":
    main()
