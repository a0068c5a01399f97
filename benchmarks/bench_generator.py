"""Generator speed: our default path vs the straightforward reference formulation.

CPU: a 256 px StyleGAN2 (512-d, 8 mapping layers, random weights) at batch 1 and 4, channel
multipliers 1 and 2, for three passes:

* ``forward``: synthesis without autograd (rendering);
* ``w+``: forward and backward with respect to W+ (projection, training A);
* ``weights``: forward and backward with respect to W+ and every synthesis weight (tuning).

Both formulations run in this process on the same weights and inputs, interleaved; the script
prints the max abs difference of the images (and of the W+ gradients) and the speed ratio (target:
>= 2.5x at outputs equal within 1e-4, issue #19). With a CUDA device it also compares the CUDA ops
with the PyTorch path and reports images/s at batch 8.

    python benchmarks/bench_generator.py [--repeats 5] [--cm 1 2] [--batches 1 4]
        [--passes forward w+ weights] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
from bench_files import machine

from latentreenact.models.stylegan2 import StyleGAN2Generator
from latentreenact.models.stylegan2_layers import set_formulation

TARGET_RATIO = 2.5
TOLERANCE = 1e-4


def timed(fn: Callable[[], torch.Tensor], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def synthesis_weights(g: StyleGAN2Generator) -> List[torch.nn.Parameter]:
    """The synthesis network's parameters (everything but the mapping network)."""
    return [p for n, p in g.named_parameters() if not n.startswith("style.")]


def synthesis_pass(g: StyleGAN2Generator, w: torch.Tensor, kind: str,
                   weights: List[torch.nn.Parameter]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """One pass of ``kind`` (``forward``, ``w+`` or ``weights``): the image and, with a backward, W+'s gradient."""
    if kind == "forward":
        with torch.inference_mode():
            return g.synthesis(w, noise_mode="const"), None
    for p in weights:
        p.requires_grad_(kind == "weights")
        p.grad = None
    wp = w.clone().requires_grad_(True)
    image = g.synthesis(wp, noise_mode="const")
    image.square().mean().backward()
    return image.detach(), wp.grad


def compare(g: StyleGAN2Generator, w: torch.Tensor, repeats: int, variants: Dict[str, Callable[[], None]],
            sync: Callable[[], None], kind: str = "forward") -> Dict[str, object]:
    """Median seconds per call of each variant (interleaved runs) and their outputs' max abs difference.

    ``kind``: ``forward`` (no autograd), ``w+`` (backward to W+) or ``weights`` (backward to W+ and
    the synthesis weights)."""
    weights = synthesis_weights(g)

    def run() -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        return synthesis_pass(g, w, kind, weights)

    outputs, times = {}, {name: [] for name in variants}
    for name, setup in variants.items():  # warm-up (oneDNN / cuDNN primitive creation)
        setup()
        outputs[name] = tuple(t.float().cpu() if t is not None else None for t in run())
    for _ in range(repeats):
        for name, setup in variants.items():
            setup()
            times[name].append(timed(run, sync))
    for p in weights:
        p.requires_grad_(False)
        p.grad = None
    names = list(variants)
    first, second = outputs[names[0]], outputs[names[1]]
    diff = (first[0] - second[0]).abs().max().item()
    med = {name: statistics.median(t) for name, t in times.items()}
    result: Dict[str, object] = {"seconds": med, "max_abs_diff": diff, "ratio": med[names[0]] / med[names[1]]}
    if first[1] is not None:
        result["grad_rel_diff"] = ((first[1] - second[1]).abs().max() / first[1].abs().max()).item()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--cm", type=int, nargs="+", default=[1, 2], help="channel multipliers")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--passes", nargs="+", default=["forward", "w+", "weights"],
                        choices=["forward", "w+", "weights"])
    args = parser.parse_args()

    host = machine()
    print(f"# StyleGAN2 {args.size}px, CPU: {host['machine']}, {host['threads']} threads, torch {torch.__version__}, "
          f"median of {args.repeats}")
    print(f"{'cm':>2} {'pass':<8} {'batch':>5} {'reference s':>12} {'default s':>10} {'ratio':>6} {'max|diff|':>10} "
          f"{'grad rel':>9}  verdict")
    results: List[Dict[str, object]] = []
    cpu_sync = lambda: None  # noqa: E731
    for cm in args.cm:
        torch.manual_seed(0)
        g = StyleGAN2Generator(args.size, 512, 8, channel_multiplier=cm).eval().requires_grad_(False)
        variants = {"reference": lambda: set_formulation(g, "reference"),
                    "default": lambda: set_formulation(g, "default")}
        for kind in args.passes:
            for batch in args.batches:
                w = torch.randn(batch, g.n_latent, 512, generator=torch.Generator().manual_seed(batch))
                r = compare(g, w, args.repeats, variants, cpu_sync, kind)
                ok = r["ratio"] >= TARGET_RATIO and r["max_abs_diff"] <= TOLERANCE
                grad = f"{r['grad_rel_diff']:9.1e}" if "grad_rel_diff" in r else f"{'-':>9}"
                print(f"{cm:>2} {kind:<8} {batch:>5} {r['seconds']['reference']:>12.4f} {r['seconds']['default']:>10.4f} "
                      f"{r['ratio']:>6.2f} {r['max_abs_diff']:>10.2e} {grad}  "
                      f"{'PASS' if ok else 'FAIL'} (target >= {TARGET_RATIO}x)", flush=True)
                results.append({"device": "cpu", "channel_multiplier": cm, "pass": kind, "batch": batch, **r,
                                "passed": ok})
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
