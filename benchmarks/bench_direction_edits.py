"""Direction matrices compared on held-out generated faces by the independent judge: does a pose edit keep
the person, and does the head turn by the requested angle?

Faces: z from seed 1 (disjoint from the seed-0 faces the shipped A was fitted on), truncation 0.7,
rendered at 256 px by the default generator's heads. Edits: yaw -20 / +20 and pitch -15 / +15 degrees
through each A (no inversion, no tuning: what A alone does). Judge (nothing here trains against it):

* identity: dlib's descriptor distance between the edit and the unedited face (< 0.6: same person);
* motion: MediaPipe face mesh head rotation of the edit relative to the unedited face, as a gain
  (measured / requested);
* texture: the artifact ratio (high-frequency energy of the edit over the unedited face's).

It writes JSON and a grid (per face: one row per matrix; columns: face, yaw -20, yaw +20, pitch -15,
pitch +15).

    make judge-env   # once
    python benchmarks/bench_direction_edits.py shipped=latentreenact/weights/directions_mobilestylegan_ffhq.pt \\
        other=RUN/A.pt [--faces 12] [--json out.json] [--grid out.jpg] [--grid-faces 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
from bench_files import write_outputs
from PIL import Image

from directions.matrix import DirectionMatrix, spec_from_matrix
from latentreenact.checkpoints.loading import load_generator
from latentreenact.images import to_uint8
from latentreenact.judge import FaceJudge, dlib_distance, identity_descriptor
from latentreenact.metrics.high_frequency import artifact_ratio
from latentreenact.sampling import render, truncation_centre, wplus_from_z

EDITS = {"yaw-20": ("yaw", -20.0), "yaw+20": ("yaw", 20.0), "pitch-15": ("pitch", -15.0), "pitch+15": ("pitch", 15.0)}


def edit_delta(matrix: DirectionMatrix, entry: str, degrees: float) -> torch.Tensor:
    """Rescaled Δp [1, k] that changes one angle by ``degrees``."""
    spec = spec_from_matrix(matrix)
    source = torch.zeros(1, spec.k)
    target = source.clone()
    target[0, spec.names.index(entry)] = degrees
    return spec.delta(source, target)


def summarise(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Means and extremes over one matrix's edits."""
    dists = [r["distance"] for r in rows if r["distance"] is not None]
    out: Dict[str, Any] = {"edits": len(rows), "without_face": sum(r["distance"] is None for r in rows),
                           "distance_mean": statistics.mean(dists), "distance_max": max(dists),
                           "over_0.5": sum(d > 0.5 for d in dists), "over_0.6": sum(d > 0.6 for d in dists),
                           "artifact_ratio_min": min(r["artifact_ratio"] for r in rows),
                           "artifact_ratio_max": max(r["artifact_ratio"] for r in rows)}
    for angle in ("yaw", "pitch"):
        gains = [r["gain"] for r in rows if r["angle"] == angle and r["gain"] is not None]
        out[f"{angle}_gain_mean"] = statistics.mean(gains)
        out[f"{angle}_gain_min"], out[f"{angle}_gain_max"] = min(gains), max(gains)
        out[f"{angle}_gains_in_0.7_1.3"] = sum(0.7 <= g <= 1.3 for g in gains)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("matrices", nargs="+", metavar="NAME=PATH")
    parser.add_argument("--faces", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--grid", type=Path, default=None)
    parser.add_argument("--grid-faces", type=int, default=4)
    parser.add_argument("--tile", type=int, default=160)
    args = parser.parse_args()

    matrices = {}
    for item in args.matrices:
        name, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"expected NAME=PATH, got {item!r}")
        matrices[name] = DirectionMatrix.load(path).eval().requires_grad_(False)
    torch.manual_seed(0)
    G = load_generator("mobilestylegan-ffhq-heads")
    z = torch.randn(args.faces, G.style_dim, generator=torch.Generator().manual_seed(args.seed))
    wplus = wplus_from_z(G, z, 0.7, truncation_centre(G, seed=0))
    rows: Dict[str, List[Dict[str, Any]]] = {name: [] for name in matrices}
    tiles: Dict[str, List[List[np.ndarray]]] = {name: [] for name in matrices}
    with torch.no_grad(), FaceJudge(mirror=True) as judge:
        base = to_uint8(render(G, wplus, 256))
        descriptors = [identity_descriptor(b) for b in base]
        for name, matrix in matrices.items():
            for i in range(args.faces):
                row_tiles = [base[i]]
                for edit, (angle, degrees) in EDITS.items():
                    image = to_uint8(render(G, matrix.shift(wplus[i:i + 1], edit_delta(matrix, angle, degrees)), 256))[0]
                    row_tiles.append(image)
                    other = identity_descriptor(image)
                    series = judge.measure([base[i], image])
                    rows[name].append({
                        "face": i, "edit": edit, "angle": angle,
                        "distance": None if other is None or descriptors[i] is None
                        else float(dlib_distance(descriptors[i], other)),
                        "gain": float(getattr(series, angle)[1]) / degrees if bool(series.found.all()) else None,
                        "artifact_ratio": artifact_ratio(image, base[i])})
                tiles[name].append(row_tiles)
            print(name, json.dumps(summarise(rows[name]), default=lambda v: round(v, 3)), flush=True)
    record = {"faces": args.faces, "seed": args.seed, "edits": EDITS, "matrices": dict(zip(matrices, args.matrices)),
              "summary": {name: summarise(r) for name, r in rows.items()}, "rows": rows}
    write_outputs(record, args.json)
    if args.grid is not None:
        lines = [np.concatenate([np.asarray(Image.fromarray(t).resize((args.tile, args.tile), Image.LANCZOS))
                                 for t in tiles[name][i]], 1)
                 for i in range(min(args.grid_faces, args.faces)) for name in matrices]
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(lines, 0)).save(args.grid, quality=85)


if __name__ == "__main__":
    main()
