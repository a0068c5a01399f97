"""Generator forward speed: our default path vs the straightforward reference formulation.

CPU: a 256 px StyleGAN2 (channel multiplier 1, 512-d, 8 mapping layers, random weights) at
batch 1 and 4. Both formulations run in this process on the same weights and inputs,
interleaved; the script prints the max abs output difference and the speed ratio (target:
>= 2x at outputs equal within 1e-4, docs/architecture.md §10). With a CUDA device it also compares the CUDA
ops with the PyTorch path and reports images/s at batch 8.

    python benchmarks/bench_generator.py [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Callable, Dict, List

import torch

from latentreenact.models.stylegan2 import StyleGAN2Generator
from latentreenact.models.stylegan2_layers import set_formulation

TARGET_RATIO = 2.0
TOLERANCE = 1e-4


def timed(fn: Callable[[], torch.Tensor], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def compare(g: StyleGAN2Generator, w: torch.Tensor, repeats: int, variants: Dict[str, Callable[[], None]],
            sync: Callable[[], None]) -> Dict[str, object]:
    """Median seconds per call of each variant (interleaved runs) and their outputs' max abs difference."""
    outputs, times = {}, {name: [] for name in variants}
    with torch.inference_mode():
        for name, setup in variants.items():  # warm-up (oneDNN / cuDNN primitive creation)
            setup()
            outputs[name] = g.synthesis(w, noise_mode="const").float().cpu()
        for _ in range(repeats):
            for name, setup in variants.items():
                setup()
                times[name].append(timed(lambda: g.synthesis(w, noise_mode="const"), sync))
    names = list(variants)
    diff = (outputs[names[0]] - outputs[names[1]]).abs().max().item()
    med = {name: statistics.median(t) for name, t in times.items()}
    return {"seconds": med, "max_abs_diff": diff, "ratio": med[names[0]] / med[names[1]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    torch.manual_seed(0)
    g = StyleGAN2Generator(args.size, 512, 8, channel_multiplier=1).eval()
    results: List[Dict[str, object]] = []
    cpu_sync = lambda: None  # noqa: E731
    print(f"# StyleGAN2 {args.size}px cm1 forward, CPU: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'device':<6} {'batch':>5} {'reference s':>12} {'default s':>10} {'ratio':>6} {'max|diff|':>10}  verdict")
    variants = {"reference": lambda: set_formulation(g, "reference"), "default": lambda: set_formulation(g, "default")}
    for batch in (1, 4):
        w = torch.randn(batch, g.n_latent, 512, generator=torch.Generator().manual_seed(batch))
        r = compare(g, w, args.repeats, variants, cpu_sync)
        ok = r["ratio"] >= TARGET_RATIO and r["max_abs_diff"] <= TOLERANCE
        print(f"{'cpu':<6} {batch:>5} {r['seconds']['reference']:>12.4f} {r['seconds']['default']:>10.4f} "
              f"{r['ratio']:>6.2f} {r['max_abs_diff']:>10.2e}  {'PASS' if ok else 'FAIL'} (target >= {TARGET_RATIO}x)")
        results.append({"device": "cpu", "batch": batch, **r, "pass": ok})
    set_formulation(g, "default")

    if torch.cuda.is_available():
        import os

        gpu = g.cuda()
        sync = torch.cuda.synchronize
        w = torch.randn(8, g.n_latent, 512, generator=torch.Generator().manual_seed(8)).cuda()

        def use(impl: str) -> Callable[[], None]:
            return lambda: os.environ.__setitem__("LATENTREENACT_OPS_IMPL", impl)

        r = compare(gpu, w, args.repeats, {"torch": use("torch"), "cuda": use("cuda")}, sync)
        os.environ.pop("LATENTREENACT_OPS_IMPL", None)
        print(f"# {torch.cuda.get_device_name()}: ops torch-path {r['seconds']['torch']:.4f}s vs CUDA plugin "
              f"{r['seconds']['cuda']:.4f}s per batch of 8 (ratio {r['ratio']:.2f}, max|diff| {r['max_abs_diff']:.2e}); "
              f"{8 / r['seconds']['cuda']:.1f} images/s")
        results.append({"device": "cuda", "batch": 8, **r, "images_per_s": 8 / r["seconds"]["cuda"]})
    else:
        print("# no CUDA device: GPU comparison skipped")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
