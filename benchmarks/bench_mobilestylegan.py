"""The MobileStyleGAN port against the OpenVINO runtime on the same network, side by side in one process.

Two cases, batch 1, CPU, medians of interleaved runs:

* 1024 px: the shipped OpenVINO IR (``SynthesisNetwork.xml`` of random-face) compiled by OpenVINO
  against our PyTorch port of the same IR (``mobilestylegan-ffhq``);
* 256 px with the fitted heads (``mobilestylegan-ffhq-heads``): the IR has no heads, so our module is
  exported to ONNX (TorchScript exporter) and OpenVINO compiles that graph.

Both runtimes use f32 (``INFERENCE_PRECISION_HINT``) and the same number of threads. The script
prints each time, the ratio OpenVINO s / ours s (target >= 1: the port at least as fast) and the
max abs difference of the images. Without the optional ``openvino`` extra it times the port alone
and says that the comparison was skipped.

    python benchmarks/bench_mobilestylegan.py [--repeats 7] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from latentreenact.models.mobilestylegan import random_face_data_dir
from latentreenact.zoo import load_registered_generator

TARGET_RATIO = 1.0
#: pause before each timed call: OpenVINO's worker threads spin for a while after an inference and
#: would otherwise slow down a PyTorch call that follows at once (seen as 0.027 s vs 0.047 s at 256 px)
PAUSE_S = 0.2


class _Synthesis(torch.nn.Module):
    """W+ -> image at one resolution (the graph exported for OpenVINO)."""

    def __init__(self, generator: Any, size: int):
        super().__init__()
        self.generator, self.size = generator, size

    def forward(self, wplus: torch.Tensor) -> torch.Tensor:
        return self.generator.synthesis(wplus, noise_mode="const", resolution=self.size)


def interleaved(variants: Dict[str, Callable[[], Any]], repeats: int) -> Dict[str, List[float]]:
    """Median seconds per call of each variant, runs interleaved (after one warm-up call each, and a
    pause before each call)."""
    for fn in variants.values():
        fn()
    times: Dict[str, List[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            time.sleep(PAUSE_S)  # let the other runtime's worker threads stop spinning
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def openvino_model(path: Path, threads: int) -> Optional[Any]:
    """The model compiled by OpenVINO for the CPU in f32, or None without the openvino package."""
    if importlib.util.find_spec("openvino") is None:
        return None
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
    return core.compile_model(core.read_model(str(path)), "CPU", config)


def case(name: str, ours: Callable[[], torch.Tensor], theirs: Optional[Callable[[], np.ndarray]],
         repeats: int) -> Dict[str, Any]:
    """Time our port (and OpenVINO when given) on one case."""
    variants: Dict[str, Callable[[], Any]] = {"ours": ours}
    if theirs is not None:
        variants["openvino"] = theirs
    runs = interleaved(variants, repeats)
    seconds = {name: statistics.median(t) for name, t in runs.items()}
    row: Dict[str, Any] = {"case": name, "seconds": seconds, "min_seconds": {n: min(t) for n, t in runs.items()},
                           "runs": runs}
    if theirs is not None:
        diff = float(np.abs(ours().numpy() - theirs()).max())
        row.update(ratio=seconds["openvino"] / seconds["ours"], max_abs_diff=diff,
                   passed=seconds["openvino"] / seconds["ours"] >= TARGET_RATIO)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    has_openvino = importlib.util.find_spec("openvino") is not None
    full = load_registered_generator("mobilestylegan-ffhq")
    heads = load_registered_generator("mobilestylegan-ffhq-heads")
    w = full.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(0)))
    wplus = w[:, None].repeat(1, full.n_latent, 1)
    rows = []
    with torch.inference_mode():
        ir = openvino_model(random_face_data_dir() / "SynthesisNetwork.xml", args.threads)
        rows.append(case("1024 px, full network (IR)", lambda: full.synthesis(wplus, noise_mode="const"),
                         None if ir is None else (lambda: ir([w.numpy()])[ir.output(0)]), args.repeats))
    with tempfile.TemporaryDirectory() as tmp:
        compiled = None
        if has_openvino:
            onnx_path = Path(tmp) / "heads256.onnx"
            torch.onnx.export(_Synthesis(heads, 256), (wplus,), str(onnx_path), dynamo=False, opset_version=17)
            compiled = openvino_model(onnx_path, args.threads)
        with torch.inference_mode():
            rows.append(case("256 px, fitted heads", lambda: heads.synthesis(wplus, noise_mode="const", resolution=256),
                             None if compiled is None else (lambda: compiled([wplus.numpy()])[compiled.output(0)]),
                             args.repeats))
    print(f"# MobileStyleGAN, CPU ({platform.machine()}, {args.threads} threads, torch {torch.__version__}), batch 1, "
          f"median of {args.repeats}")
    if not has_openvino:
        print("# openvino is not installed (pip install 'latentreenact[openvino]'): the OpenVINO comparison is skipped")
    print(f"{'case':30s} {'ours s':>8s} {'openvino s':>10s} {'ratio':>6s} {'max|diff|':>9s}  verdict")
    for row in rows:
        sec = row["seconds"]
        if "ratio" in row:
            verdict = f"{'PASS' if row['passed'] else 'FAIL'} (target >= {TARGET_RATIO:.1f}x)"
            low = row["min_seconds"]
            print(f"{row['case']:30s} {sec['ours']:8.4f} {sec['openvino']:10.4f} {row['ratio']:6.2f} "
                  f"{row['max_abs_diff']:9.2e}  {verdict}; fastest runs {low['ours']:.4f} / {low['openvino']:.4f} s")
        else:
            print(f"{row['case']:30s} {sec['ours']:8.4f} {'-':>10s} {'-':>6s} {'-':>9s}  not compared")
    if args.json:
        meta = {"machine": platform.machine(), "threads": args.threads, "torch": torch.__version__,
                "openvino": None, "repeats": args.repeats}
        if has_openvino:
            import openvino as ov

            meta["openvino"] = ov.__version__
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
