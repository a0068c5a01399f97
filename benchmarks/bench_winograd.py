"""What Winograd's 3x3 convolutions buy the whole StyleGAN2 generator on the CPU.

The default formulation with its convolutions direct (``set_conv_impl(g, "direct")``) against the
default (``"auto"``: Winograd where it pays), with the reference formulation as the common baseline,
interleaved in one process on the same weights (256 px by default, 512-d, 8 mapping layers, random weights).
Prints seconds, the speed-up of Winograd, each one's ratio to the reference and the image
difference.

    python benchmarks/bench_winograd.py [--repeats 7] [--size 256] [--cases 2:forward:1 2:w+:1 ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Dict, List

import torch
from bench_files import machine

from bench_generator import synthesis_pass, synthesis_weights  # the same passes as bench_generator.py
from latentreenact.models.stylegan2 import StyleGAN2Generator
from latentreenact.models.stylegan2_layers import set_conv_impl, set_formulation

DEFAULT_CASES = ["2:forward:1", "2:w+:1", "2:weights:1", "1:forward:1", "1:weights:1"]
VARIANTS = {"reference": ("reference", "auto"), "direct": ("default", "direct"), "winograd": ("default", "auto")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES,
                        help="channel multiplier:pass (forward, w+, weights):batch")
    parser.add_argument("--size", type=int, default=256, help="output resolution (1024: the published FFHQ models)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    host = machine()
    print(f"# StyleGAN2 {args.size}px, CPU: {host['machine']}, {host['threads']} threads, torch {torch.__version__}, "
          f"median of {args.repeats}")
    results: List[Dict[str, object]] = []
    for case in args.cases:
        cm, kind, batch = case.split(":")
        torch.manual_seed(0)
        g = StyleGAN2Generator(args.size, 512, 8, channel_multiplier=int(cm)).eval().requires_grad_(False)
        w = torch.randn(int(batch), g.n_latent, 512, generator=torch.Generator().manual_seed(int(batch)))
        weights = synthesis_weights(g)

        def run() -> torch.Tensor:
            return synthesis_pass(g, w, kind, weights)[0]

        def use(name: str) -> None:
            set_formulation(g, VARIANTS[name][0])
            set_conv_impl(g, VARIANTS[name][1])

        images, times = {}, {name: [] for name in VARIANTS}
        for name in VARIANTS:
            use(name)
            images[name] = run()
        for _ in range(args.repeats):
            for name in VARIANTS:
                use(name)
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        for p in weights:
            p.requires_grad_(False)
        med = {name: statistics.median(t) for name, t in times.items()}
        diff = {name: (images[name] - images["reference"]).abs().max().item() for name in ("direct", "winograd")}
        print(f"cm {cm} {kind:<8} batch {batch}: reference {med['reference']:.3f} s, direct {med['direct']:.3f} s, "
              f"winograd {med['winograd']:.3f} s; speed-up {med['direct'] / med['winograd']:.2f}; ratio to the "
              f"reference {med['reference'] / med['direct']:.2f} -> {med['reference'] / med['winograd']:.2f}; "
              f"max|diff| {diff['direct']:.1e} / {diff['winograd']:.1e}", flush=True)
        results.append({"size": args.size, "channel_multiplier": int(cm), "pass": kind, "batch": int(batch),
                        "seconds": med, "max_abs_diff_to_reference": diff})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
