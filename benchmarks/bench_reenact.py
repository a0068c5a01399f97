"""Reenactment latency of the default models on the bundled example (source photo + 3 s driving clip).

Reports, on one device: model loading; inverting the source (encoder) and pivotal tuning per step;
per driving frame: face detection + alignment + Net3D (the "measure" pass), generator + paste-back
(the "render" pass), and the end-to-end ``reenact_video`` time per frame (decode, both passes,
encode), without and with a tuned generator (per-frame work is the same: one Net3D pass and one
generator pass; tuning is a one-off cost per source). Medians over ``--repeats`` runs.

The live path (:class:`latentreenact.live.LiveReenactor`, one frame in, one out, batch 1, the face
pasted back into the source photo) is timed per stage (landmarks, align, check, Net3D, render, compose) with the face detected on every frame (the
baseline, the same work as the video path) and with tracking (detection every 30 frames), in
the same process; the script prints both frame rates against the target of 10 frames/s and the
pose difference that tracking makes (mean |Δ| of yaw, pitch, roll in degrees against detection).

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

TARGET_FPS = 10.0


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
    from latentreenact.live import STAGES, LiveReenactor
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
        from latentreenact.output_frame import compose

        for i in range(0, len(frames), 8):
            for face in reenactor.faces(source, dp[i:i + 8]):
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
    def live_run(track: bool) -> Dict[str, Any]:
        runs = []
        for _ in range(args.repeats):
            live = LiveReenactor(reenactor, src, track=track, paste_back=True)
            runs.append([live.step(frame) for frame in frames])
        steps = [step for run in runs for step in run[1:]]  # the first frame (a detection) left out
        stages = {stage: statistics.median(s.seconds[stage] for s in steps) for stage in STAGES}
        per_frame = statistics.median(s.total_seconds for s in steps)
        return {"stages_s": stages, "s_per_frame": per_frame, "fps": 1.0 / per_frame,
                "detections": sum(s.detected for s in runs[0])}

    live_detect, live_track = live_run(False), live_run(True)
    detected_p, _ = reenactor.measure(frames, batch_size=1)
    tracked_p = []
    tracker_live = LiveReenactor(reenactor, src, track=True)
    for frame in frames:  # the live path's measurement: tracked landmarks, also handed to the estimator
        landmarks = tracker_live.tracker(frame).landmarks
        crop, transform = reenactor.crop(frame, landmarks=landmarks)
        tracked_p.append(reenactor.pose_in_frame([crop], [transform], landmarks=[landmarks])[0][0])
    angle_cols = [list(reenactor.spec.names).index(n) for n in ("yaw", "pitch", "roll") if n in reenactor.spec.names]
    pose_diff = (torch.stack(tracked_p)[:, angle_cols] - detected_p[:, angle_cols]).abs().mean(0).tolist()
    result: Dict[str, Any] = {
        "device": str(device), "machine": platform.machine(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "frames": len(frames), "repeats": args.repeats,
        "load_s": load_s, "invert_s": invert_s, "tune_steps": args.tune_steps,
        "tune_s_per_step": tune_s / max(args.tune_steps, 1),
        "tune_released_200_steps_s_estimate": 200 * tune_s / max(args.tune_steps, 1),
        "measure_s_per_frame": measure_s, "render_s_per_frame": render_s,
        "reenact_video_s_per_frame": e2e_s, "reenact_video_tuned_s_per_frame": e2e_tuned_s,
        "live_detect": live_detect, "live_track": live_track, "live_target_fps": TARGET_FPS,
        "live_track_speedup": live_detect["s_per_frame"] / live_track["s_per_frame"],
        "tracking_pose_mean_abs_diff_deg": dict(zip(("yaw", "pitch", "roll"), pose_diff)),
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
    print(f"# live, batch 1, per frame (ms): {' '.join(f'{s:>9s}' for s in STAGES)}     total    fps")
    for name, run in (("detect every frame", live_detect), ("tracking", live_track)):
        cells = " ".join(f"{1000 * run['stages_s'][s]:9.1f}" for s in STAGES)
        verdict = "PASS" if run["fps"] >= TARGET_FPS else "FAIL"
        print(f"{name:32s} {cells} {1000 * run['s_per_frame']:9.1f} {run['fps']:6.1f}  {verdict} "
              f"(target >= {TARGET_FPS:g} fps; {run['detections']} detections in {len(frames)} frames)")
    print(f"tracking vs detecting: {result['live_track_speedup']:.2f}x; pose difference (mean |Δ|, degrees): "
          + ", ".join(f"{k} {v:.2f}" for k, v in result["tracking_pose_mean_abs_diff_deg"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    assert np.isfinite(list(v for v in result.values() if isinstance(v, float))).all()


if __name__ == "__main__":
    main()
