"""The driving clip's measuring pass: frames detected and aligned by one thread against the default threads.

``FaceMeter.measure_driving`` detects and aligns the frames in ``torch.get_num_threads()`` threads a few
frames ahead of the estimator (dlib, PIL and scipy release the GIL; docs/benchmarks.md, "The measuring pass
in threads"). In one process, interleaved, on the bundled clip and on any clips given, this times the
default reenactor's ``measure_driving`` with ``workers=1`` (the pass as it ran before) and with the default,
prints ms per frame and the ratio, and checks that both give the same bits (pose vectors, found flags, eye
and mouth openings).

    python benchmarks/bench_measuring.py [--clips CLIP ...] [--frames 96] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List

import torch
from bench_files import machine, write_outputs

from latentreenact.reenactor import Reenactor
from latentreenact.video import iter_frames

BUNDLED = Path(__file__).resolve().parents[1] / "latentreenact" / "examples" / "smile.mp4"


def same_bits(a: Any, b: Any) -> bool:
    """Whether two DrivingMeasurements are bit-identical (NaN rows included)."""
    return all(torch.equal(torch.nan_to_num(x, 7.0), torch.nan_to_num(y, 7.0)) for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, nargs="*", default=[], help="more driving clips (any size)")
    parser.add_argument("--frames", type=int, default=96, help="frames per clip (at most)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per setting")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.frames < 1 or args.repeats < 1:
        parser.error("--frames and --repeats must be >= 1")

    reenactor = Reenactor.from_pretrained("default", seed=0)
    meter = reenactor.meter
    default_workers = meter.align_workers(True)
    rows: List[Dict[str, Any]] = []
    print(f"# measuring pass, {machine()['machine']}, {torch.get_num_threads()} torch threads, "
          f"detector {meter.detector}, medians of {args.repeats} interleaved runs")
    print(f"{'clip':<28} {'frames':>6} {'size':>9} {'1 thread ms':>12} {f'{default_workers} threads ms':>13} "
          f"{'ratio':>6} {'same bits':>9}")
    for clip in [BUNDLED, *args.clips]:
        frames = list(iter_frames(clip, args.frames))
        meter.workers = 1
        reenactor.measure_driving(frames[:4])  # warm-up: models loaded
        times: Dict[int, List[float]] = {1: [], default_workers: []}
        results: Dict[int, Any] = {}
        try:
            for _ in range(args.repeats):
                for workers in times:
                    meter.workers = workers
                    start = time.perf_counter()
                    results[workers] = reenactor.measure_driving(iter(frames))
                    times[workers].append((time.perf_counter() - start) / len(frames) * 1e3)
        finally:
            meter.workers = None
        one, many = (statistics.median(times[w]) for w in times)
        same = same_bits(results[1], results[default_workers])
        height, width = frames[0].shape[:2]
        rows.append({"clip": clip.name, "frames": len(frames), "size": f"{width}x{height}", "one_thread_ms": one,
                     "default_ms": many, "default_workers": default_workers, "ratio": one / many,
                     "same_bits": same, "found": int(results[1].found.sum())})
        print(f"{clip.name:<28} {len(frames):>6} {width:>4}x{height:<4} {one:>12.1f} {many:>13.1f} {one / many:>6.2f} "
              f"{str(same):>9}")
    write_outputs({**machine(), "detector": meter.detector, "repeats": args.repeats, "rows": rows}, args.json)
    if not all(row["same_bits"] for row in rows):
        raise SystemExit("the threaded measurement differs from the one-thread measurement")


if __name__ == "__main__":
    main()
