"""The cost of one large upload: reading a 40-megapixel photo and finding its face.

Detection runs on a copy shrunk to ``DETECT_MAX_SIDE`` (the default) and, for the baseline, on
the full-size photo (``max_side=None``, what the code did before), each in a fresh subprocess so
that its peak memory (``ru_maxrss``) is its own. Prints seconds, peak MB and the ratio; the
photo is the bundled astronaut upscaled to 40 megapixels.

    python benchmarks/bench_upload.py [--megapixels 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict


def child(path: str, full: bool) -> None:
    """Read and detect once; print JSON {read_s, detect_s, peak_mb, box}."""
    from latentreenact.faces import detect_faces, read_image

    start = time.perf_counter()
    image = read_image(path, max_pixels=None)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    faces = detect_faces(image, "hog", max_side=None if full else 1024)
    detect_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"read_s": read_s, "detect_s": detect_s, "peak_mb": peak_mb,
                      "faces": len(faces), "box": list(faces[0].box) if faces else None}))


def run(path: Path, full: bool) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", str(path)] + (["--full"] if full else []),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=40.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.full)
        return

    from PIL import Image

    from latentreenact.examples import example_path

    with tempfile.TemporaryDirectory() as tmp:
        source = Image.open(example_path("astronaut")).convert("RGB")
        side = int((args.megapixels * 1e6) ** 0.5)
        path = Path(tmp) / "large.png"
        source.resize((side, side), Image.Resampling.BICUBIC).save(path, compress_level=1)
        shrunk, full = run(path, False), run(path, True)
    ratio = (full["detect_s"] / shrunk["detect_s"], full["peak_mb"] / shrunk["peak_mb"])
    print(f"# {side} x {side} px ({side * side / 1e6:.0f} MP) PNG; HOG, upsample 1")
    print(f"{'detection on':<24} {'read s':>7} {'detect s':>9} {'peak MB':>8}  box")
    for label, r in (("a 1024 px copy (default)", shrunk), ("the full photo (before)", full)):
        box = "none" if r["box"] is None else ", ".join(f"{v:.0f}" for v in r["box"])
        print(f"{label:<24} {r['read_s']:>7.2f} {r['detect_s']:>9.2f} {r['peak_mb']:>8.0f}  {box}")
    print(f"full / default: {ratio[0]:.1f}x the detection time, {ratio[1]:.1f}x the peak memory")
    if args.json:
        args.json.write_text(json.dumps({"megapixels": side * side / 1e6, "default": shrunk, "full_size": full,
                                         "time_ratio": ratio[0], "memory_ratio": ratio[1]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
