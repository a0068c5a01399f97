"""Inversion quality and time of the default models: the shipped encoder alone and encoder + pivotal
tuning, on the five real test photos (tests/fixtures) and on held-out generated faces.

For each face: the FFHQ-aligned 256 px crop is inverted; the reconstruction is compared with the
crop by SFace identity similarity (cosine) and L2 (mean squared error of [0, 1] pixels); generated
faces also report the latent MSE to their true W+. Seconds per image are wall-clock on this device.

    python benchmarks/bench_inversion.py [--tune released] [--tune-steps N] [--samples 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from inversion.recipes import DEFAULT_RECIPE, RECIPES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test photos' loader


def scores(identity: Any, recon: np.ndarray, crop: np.ndarray) -> Dict[str, float]:
    from latentreenact.metrics import csim

    emb = identity(np.stack([recon, crop]))
    l2 = float((((recon.astype(np.float64) - crop) / 255.0) ** 2).mean())
    return {"identity": float(csim(emb[:1], emb[1:])[0]), "l2": l2}


def summarise(rows: List[Dict[str, Any]], key: str) -> Optional[float]:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.mean(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tune", default=DEFAULT_RECIPE, choices=list(RECIPES))
    parser.add_argument("--tune-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--samples", type=int, default=16, help="held-out generated faces (encoder only)")
    parser.add_argument("--tune-samples", type=int, default=2, help="of which also tuned")
    parser.add_argument("--seed", type=int, default=12345, help="z seed of the generated faces")
    parser.add_argument("--encoder", default=None, help="an encoder file or registered name (default: the default model's)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from fixtures.face_photos import photos
    from latentreenact.images import to_uint8
    from latentreenact.metrics import IdentityFeatures
    from latentreenact.reenactor import Reenactor
    from latentreenact.sampling import render, truncation_centre

    device = torch.device(args.device)
    reenactor = Reenactor.from_pretrained("default", device=device, seed=0)
    if args.encoder is not None:
        from inversion import load_encoder

        reenactor.encoder = load_encoder(args.encoder, device=device)
    identity = IdentityFeatures(device=device)
    tune = None if args.tune == "none" else args.tune

    def run(name: str, image: np.ndarray, align: bool, with_tuning: bool,
            true_wplus: Optional[torch.Tensor] = None) -> Dict[str, Any]:
        start = time.perf_counter()
        src = reenactor.invert(image, align=align, name=name, tune="none")
        row: Dict[str, Any] = {"name": name, "encode_s": time.perf_counter() - start}
        crop = src.crop
        row.update({f"encoder_{k}": v for k, v in scores(identity, reenactor.render_source(src), crop).items()})
        if true_wplus is not None:
            row["latent_mse"] = float(((src.wplus.cpu() - true_wplus.cpu()) ** 2).mean())
        if with_tuning and tune is not None:
            start = time.perf_counter()
            tuned = reenactor.invert(image, align=align, tune=tune, tune_steps=args.tune_steps, name=name)
            row["tune_s"] = time.perf_counter() - start
            row["tune_steps"] = tuned.info.get("tune_steps_run")
            row.update({f"tuned_{k}": v for k, v in scores(identity, reenactor.render_source(tuned), crop).items()})
        print(json.dumps(row), flush=True)
        return row

    real = [run(name, image, True, True) for name, image in photos().items()]
    g = reenactor.generator
    gen = torch.Generator().manual_seed(args.seed)
    centre = truncation_centre(g, seed=0).to(device)
    held: List[Dict[str, Any]] = []
    for i in range(args.samples):
        z = torch.randn(1, g.style_dim, generator=gen).to(device)
        with torch.no_grad():
            w = g.truncate(g.mapping(z)[:, None].repeat(1, g.n_latent, 1), 0.7, centre)
            image = to_uint8(render(g, w, reenactor.render_size, noise_mode="const"))[0]
        held.append(run(f"generated {i}", image, False, i < args.tune_samples, w))
    keys = ["encode_s", "encoder_identity", "encoder_l2", "latent_mse", "tune_s", "tuned_identity", "tuned_l2"]
    result = {"encoder": args.encoder or "default", "device": str(device), "machine": platform.machine(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "tune": args.tune, "tune_steps": args.tune_steps,
              "real": real, "generated": held,
              "summary": {group: {k: summarise(rows, k) for k in keys}
                          for group, rows in (("real photos", real), ("generated", held))}}
    print("| faces | n | encoder s/img | encoder identity | encoder L2 | latent MSE | tuning s/img | tuned identity | tuned L2 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for group, rows in (("real photos", real), ("generated", held)):
        s = result["summary"][group]
        cells = [f"{s[k]:.4g}" if s[k] is not None else "–" for k in keys]
        print(f"| {group} | {len(rows)} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")



if __name__ == "__main__":
    main()
