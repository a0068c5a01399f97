"""Pivotal tuning's step on the default generator: the batch-1 recorded pass against the textbook one.

MobileStyleGAN's passes that autograd records take the batch-1 formulation on the CPU when they render one
image (``synthesis_network.recorded_impl = "auto"``, the default; docs/benchmarks.md, "The tuning pass in the
batch-1 formulation"); ``"textbook"`` is the activation-modulated form they ran before. In one process, on the
bundled photo's crop and the encoder's code, with the ``released`` preset's trainable layers, this times
(interleaved, medians):

* the generator's forward and backward pass at 256 px (blocks 1-4 trainable);
* a tuning step (``inversion.pti.tune``, seconds per step after the first);

and prints the ratio textbook / default per row and the max difference of one pass's image and parameter
gradients (float rounding only; quality after 200 steps is judged by ``bench_editability.py
--recorded-impl``).

    python benchmarks/bench_tuning.py [--steps 15] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from bench_files import machine, write_outputs

from inversion.projector import render_with_noise
from inversion.pti import select_parameters, tune
from latentreenact.faces import read_image
from latentreenact.images import from_uint8, resize_square
from latentreenact.reenactor import Reenactor

PHOTO = Path(__file__).resolve().parents[1] / "latentreenact" / "examples" / "astronaut.jpg"
IMPLS = ("textbook", "auto")


def one_pass(generator: Any, pivot: torch.Tensor,
             size: int) -> Tuple[float, float, torch.Tensor, Dict[str, torch.Tensor]]:
    """Seconds of one recorded forward and backward pass, its image and the trainable parameters' gradients."""
    generator.zero_grad(set_to_none=True)
    start = time.perf_counter()
    image = render_with_noise(generator, pivot, size)
    mid = time.perf_counter()
    image.square().mean().backward()
    end = time.perf_counter()
    grads = {n: p.grad.detach().clone() for n, p in generator.named_parameters() if p.grad is not None}
    return mid - start, end - mid, image.detach(), grads


def step_seconds(generator: Any, pivot: torch.Tensor, target: torch.Tensor, steps: int) -> float:
    """Median seconds per tuning step (``released`` preset), the first step left out."""
    stamps: List[float] = []
    start = time.perf_counter()
    tune(generator, pivot, target, preset="released", steps=steps, progress=False,
         callback=lambda _: stamps.append(time.perf_counter()))
    return statistics.median(np.diff(np.array([start] + stamps))[1:].tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=15, help="tuning steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per formulation")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.steps < 3 or args.repeats < 1:
        parser.error("--steps must be >= 3 and --repeats >= 1")

    torch.manual_seed(0)
    reenactor = Reenactor.from_pretrained("default", seed=0)
    generator = reenactor.generator
    crop, _ = reenactor.crop(read_image(PHOTO), True, "astronaut")
    target = from_uint8(resize_square(crop, args.size), generator.device)
    with torch.no_grad():
        pivot = reenactor.encoder(from_uint8(resize_square(crop, reenactor.encoder.input_size), generator.device))
    synthesis = generator.synthesis_network
    trainable = set(select_parameters(generator, "released"))

    times: Dict[str, Dict[str, List[float]]] = {impl: {"forward": [], "backward": [], "step": []} for impl in IMPLS}
    passes: Dict[str, Tuple[torch.Tensor, Dict[str, torch.Tensor]]] = {}
    try:
        for name, p in generator.named_parameters():
            p.requires_grad_(name in trainable)
        for impl in IMPLS:  # warm-up, and the pass that is compared
            synthesis.recorded_impl = impl
            one_pass(generator, pivot, args.size)
            _, _, image, grads = one_pass(generator, pivot, args.size)
            passes[impl] = (image, grads)
        for _ in range(args.repeats):
            for impl in IMPLS:
                synthesis.recorded_impl = impl
                for _ in range(3):
                    forward, backward, _, _ = one_pass(generator, pivot, args.size)
                    times[impl]["forward"].append(forward)
                    times[impl]["backward"].append(backward)
        generator.requires_grad_(False)
        generator.zero_grad(set_to_none=True)
        for _ in range(args.repeats):
            for impl in IMPLS:
                synthesis.recorded_impl = impl  # tune copies the generator, and the setting with it
                times[impl]["step"].append(step_seconds(generator, pivot, target, args.steps))
    finally:
        synthesis.recorded_impl = "auto"
        generator.requires_grad_(False)

    image_diff = float((passes["auto"][0] - passes["textbook"][0]).abs().max())
    grad_diff = max(float((passes["auto"][1][n] - g).abs().max() / g.abs().max().clamp_min(1e-30))
                    for n, g in passes["textbook"][1].items())
    rows = []
    print(f"# MobileStyleGAN tuning at {args.size} px, {machine()['machine']}, {torch.get_num_threads()} threads, "
          f"medians of {args.repeats} interleaved runs")
    print(f"{'row':<22} {'textbook ms':>12} {'default ms':>11} {'ratio':>6}")
    for row in ("forward", "backward", "step"):
        textbook = statistics.median(times["textbook"][row]) * 1e3
        default = statistics.median(times["auto"][row]) * 1e3
        rows.append({"row": row, "textbook_ms": textbook, "default_ms": default, "ratio": textbook / default})
        label = {"forward": "generator forward", "backward": "generator backward", "step": "tuning step"}[row]
        print(f"{label:<22} {textbook:>12.1f} {default:>11.1f} {textbook / default:>6.2f}")
    print(f"one pass: image max |diff| {image_diff:.1e}, parameter gradients max relative diff {grad_diff:.1e}")
    record = {**machine(), "size": args.size, "steps": args.steps, "repeats": args.repeats, "rows": rows,
              "image_max_abs_diff": image_diff, "gradient_max_rel_diff": grad_diff}
    write_outputs(record, args.json)


if __name__ == "__main__":
    main()
