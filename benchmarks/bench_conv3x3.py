"""3x3 convolution on the CPU: Winograd F(4x4, 3x3) against the direct convolution, per layer shape.

For the shapes of a StyleGAN2 generator (channels x map size, batch 1 and 4) and three passes --
forward without autograd, forward + backward to the input, forward + backward to the input and the
weight (the first two with the weight's transform computed once, as the generator caches it) --
prints both times, their ratio (direct / Winograd), the max error of each against a float64
convolution, and what ``impl="auto"`` picks. The rule (``stylegan2_ops.conv3x3.winograd_pays``)
is right where the pick is the faster of the two, except at 8 and 16 px without a weight gradient,
where it declines a gain of a millisecond or two to keep no 36 MiB transform per layer.

    python benchmarks/bench_conv3x3.py [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from typing import Dict, List

import torch
import torch.nn.functional as F
from bench_files import machine, median_time

from stylegan2_ops.conv3x3 import conv3x3, winograd_pays, winograd_weight

SHAPES = [(512, 8), (512, 16), (512, 32), (512, 64), (256, 64), (256, 128), (128, 128), (128, 256)]
PASSES = ("forward", "input grad", "weight grad")


def run(x: torch.Tensor, w: torch.Tensor, impl: str, kind: str, up: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One pass. As in the generator's layers, a weight that needs no gradient comes with its transform
    ``u`` computed once (a cache); with a weight gradient the transform is part of every pass."""
    if kind == "forward":
        with torch.inference_mode():
            return conv3x3(x, w, impl=impl, transformed=u if impl == "winograd" else None)
    xi = x.detach().requires_grad_(True)
    if kind == "weight grad":
        (conv3x3(xi, w.detach().requires_grad_(True), impl=impl) * up).sum().backward()
    else:
        (conv3x3(xi, w, impl=impl, transformed=u if impl == "winograd" else None) * up).sum().backward()
    return xi.grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    host = machine()
    print(f"# conv3x3, CPU: {host['machine']}, {host['threads']} threads, torch {torch.__version__}, "
          f"median of {args.repeats}")
    print(f"{'ch':>4} {'px':>4} {'b':>2} {'pass':<12} {'direct s':>9} {'winograd s':>10} {'ratio':>6} "
          f"{'err direct':>10} {'err wino':>9}  auto")
    results: List[Dict[str, object]] = []
    wrong = 0
    for channels, size in SHAPES:
        for batch in args.batches:
            gen = torch.Generator().manual_seed(channels + size + batch)
            x = torch.randn(batch, channels, size, size, generator=gen).contiguous(memory_format=torch.channels_last)
            w = torch.randn(channels, channels, 3, 3, generator=gen) / (9 * channels) ** 0.5
            up = torch.randn(batch, channels, size, size, generator=gen)
            u = winograd_weight(w)
            exact = F.conv2d(x.double(), w.double(), padding=1)
            scale = exact.abs().max().item()
            errors = {impl: (run(x, w, impl, "forward", up, u).double() - exact).abs().max().item() / scale
                      for impl in ("direct", "winograd")}
            for kind in PASSES:
                t = {impl: median_time(lambda: run(x, w, impl, kind, up, u), args.repeats)
                     for impl in ("direct", "winograd")}
                ratio = t["direct"] / t["winograd"]
                pick = "winograd" if winograd_pays(x, channels, kind == "weight grad") else "direct"
                right = (pick == "winograd") == (ratio > 1.0)
                wrong += not right
                print(f"{channels:>4} {size:>4} {batch:>2} {kind:<12} {t['direct']:>9.4f} {t['winograd']:>10.4f} "
                      f"{ratio:>6.2f} {errors['direct']:>10.1e} {errors['winograd']:>9.1e}  {pick}"
                      f"{'' if right else ' (the slower)'}", flush=True)
                results.append({"channels": channels, "size": size, "batch": batch, "pass": kind,
                                "seconds": t, "ratio": ratio, "relative_error": errors, "auto": pick,
                                "auto_is_faster": right})
    print(f"# auto picked the slower of the two in {wrong} of {len(results)} cases")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
