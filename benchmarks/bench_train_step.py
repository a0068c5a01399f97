"""Seconds per training step of the A trainer (``train directions``, synthetic mode, all losses) on
the default generator and bfm-net, at the given batch size and render sizes.

Each configuration trains a fresh run (after a warm-up run) for ``1`` and ``1 + steps`` steps (identical seeds) in a
temporary folder; the difference divided by ``steps`` is the time of one step (rendering source and
target, Net3D on both, rendering the shifted latents with gradients, Net3D, shape / eye / mouth /
identity / perceptual losses, backward into A, Adam), without the set-up and evaluation time.

    python benchmarks/bench_train_step.py [--device cpu] [--batch-size 8] [--sizes 128 256] [--steps 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch


def timed_run(comp: Any, steps: int, batch_size: int, size: int, seed: int) -> float:
    from directions.train import DirectionsConfig, train_directions

    cfg = DirectionsConfig(steps=steps, batch_size=batch_size, render_size=size, eval_every=10**6, n_eval=1, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train_directions(comp, Path(tmp) / "run", cfg)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from directions.components import build_components
    from latentreenact.checkpoints.loading import load_generator

    device = torch.device(args.device)
    generator = load_generator("mobilestylegan-ffhq-heads", device=device)
    ranges = np.array([[-40.0, 40.0], [-20.0, 20.0], [-20.0, 20.0]] + [[-2.0, 2.0]] * 10)
    comp = build_components(generator, ranges, device=device)
    rows: List[Dict[str, Any]] = []
    print(f"# A training step, default generator + bfm-net, {device} ({platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}), batch {args.batch_size}")
    print("render px  s/step")
    for size in args.sizes:
        timed_run(comp, 1, args.batch_size, size, seed=0)  # warm-up: lazy loads, allocator, caches
        one = timed_run(comp, 1, args.batch_size, size, seed=0)
        more = timed_run(comp, 1 + args.steps, args.batch_size, size, seed=0)
        per_step = (more - one) / args.steps
        rows.append({"render_size": size, "batch_size": args.batch_size, "s_per_step": per_step})
        print(f"{size:9d}  {per_step:6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "machine": platform.machine(),
                                         "threads": torch.get_num_threads(), "torch": torch.__version__,
                                         "steps": args.steps, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
