"""Inversion recipes compared by the independent judge: reconstruction identity, and the identity, motion
and texture of edits away from the pivot.

For each real photo and each recipe (``inversion.recipes.RECIPES``) it inverts the photo, renders the
pivot and the edits yaw ±20°, pitch ±15°, ``mouth_open`` +1 and ``smile`` +1, and measures:

* identity: dlib's descriptor distance to the source crop (< 0.6: the same person in dlib's convention;
  no part of the method trains against dlib), for the reconstruction and every edit;
* motion: the judge's (MediaPipe face mesh) head rotation of each pose edit relative to the pivot's
  render, as a gain (measured / requested), and the judge's mouth opening and mouth width changes;
* texture: the artifact ratio (``latentreenact.metrics.high_frequency.artifact_ratio``) of each edit
  to the pivot's render (< 1: blur, > 1: added grid or noise texture);
* time: seconds of the recipe (after detection and the encoder) on this machine;
* the judge's own scale on the photo's face: its reading of the crop's face drawn as a 3D surface and turned
  by exactly the edits' angles (``latentreenact.judge.turned_face``, docs/evaluation.md), per axis; every pose
  gain is also given divided by it (``gain_judge_scaled``), since the judge reads turns short.

It writes JSON, a markdown table and one grid per photo (rows: recipes; columns: source crop,
reconstruction, the six edits).

    make judge-env   # once
    python benchmarks/bench_editability.py [--recipes none released editable] [--photos astronaut ... |
        --photo-files a.jpg b.png ...]
        [--directions shipped=A.pt other=B.pt] [--json out.json] [--markdown out.md] [--grids DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from PIL import Image
from bench_files import machine, write_outputs

from directions.matrix import DirectionMatrix, spec_from_matrix
from latentreenact.faces import NoFaceError, read_image
from latentreenact.images import resize_square
from latentreenact.judge import FaceJudge, dlib_distance, identity_descriptor, mouth_opening, mouth_width
from latentreenact.judge.turned_face import coloured_surface, draw_turned
from latentreenact.metrics.high_frequency import artifact_ratio
from latentreenact.models.mobilestylegan import RECORDED_IMPLS
from latentreenact.reenactor import Reenactor
from latentreenact.shape3d import LinearShapeModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test photos' loader

EDITS = {  # name -> (edit keyword arguments, judged quantity, requested value)
    "yaw-20": ({"yaw": -20.0}, "yaw", -20.0),
    "yaw+20": ({"yaw": 20.0}, "yaw", 20.0),
    "pitch-15": ({"pitch": -15.0}, "pitch", -15.0),
    "pitch+15": ({"pitch": 15.0}, "pitch", 15.0),
    "mouth_open": ({"controls": {"mouth_open": 1.0}}, "mouth", None),
    "smile": ({"controls": {"smile": 1.0}}, "mouth_width", None),
}


def distance(descriptor: Optional[np.ndarray], image: np.ndarray) -> Optional[float]:
    """dlib distance of ``image``'s face to ``descriptor`` (None without a face in either)."""
    other = identity_descriptor(image)
    return None if descriptor is None or other is None else float(dlib_distance(descriptor, other))


def judge_edit(judge: FaceJudge, base: np.ndarray, image: np.ndarray, quantity: str) -> Optional[float]:
    """The judge's change of ``quantity`` from ``base`` to ``image`` (None if it finds no face)."""
    if quantity in ("yaw", "pitch"):
        series = judge.measure([base, image])
        if not series.found.all():
            return None
        return float(getattr(series, quantity)[1])
    mesh_base, mesh = judge.mesh(base), judge.mesh(image)
    if mesh_base is None or mesh is None:
        return None
    measure = mouth_opening if quantity == "mouth" else mouth_width
    return measure(mesh) - measure(mesh_base)


def judge_scale(judge: FaceJudge, crop: np.ndarray, model: LinearShapeModel) -> Dict[str, Optional[float]]:
    """The judge's reading over the asked angle of ``crop``'s face turned by exactly the pose edits' angles, per
    axis (mean over the two signs; None where dlib or the judge finds no face). Only the edits' angles, so it
    differs a little from the slope over all turns of ``bench_judge_rotation.py``."""
    try:
        surface = coloured_surface(crop, model)
    except NoFaceError:
        return {"yaw": None, "pitch": None}
    turns = [(kwargs, quantity, requested) for kwargs, quantity, requested in EDITS.values()
             if quantity in ("yaw", "pitch")]
    drawings = [draw_turned(surface, kwargs.get("yaw", 0.0), kwargs.get("pitch", 0.0), crop.shape[0])
                for kwargs, _, _ in turns]
    series = judge.measure([draw_turned(surface, 0.0, 0.0, crop.shape[0]), *drawings])  # relative to the first
    ratios: Dict[str, List[float]] = {"yaw": [], "pitch": []}
    for i, (_, quantity, requested) in enumerate(turns, start=1):
        if series.found[0] and series.found[i]:
            ratios[quantity].append(float(getattr(series, quantity)[i]) / requested)
    return {axis: statistics.mean(v) if v else None for axis, v in ratios.items()}


def evaluate(reenactor: Reenactor, judge: FaceJudge, photo: np.ndarray, name: str, recipe: str,
             matrices: Dict[str, DirectionMatrix], scale: Dict[str, Optional[float]]) -> List[Dict[str, Any]]:
    """One photo inverted with one recipe, edited with each direction matrix: per matrix, the row of
    measurements and the grid row of images (``row["tiles"]``)."""
    crop, _ = reenactor.crop(photo, True, name)
    start = time.perf_counter()
    src = reenactor.invert(photo, tune=recipe, name=name)
    seconds = time.perf_counter() - start
    base = reenactor.render_source(src)
    source_descriptor = identity_descriptor(crop)
    rows = []
    for label, matrix in matrices.items():
        reenactor.directions = matrix
        row: Dict[str, Any] = {"photo": name, "recipe": recipe if len(matrices) == 1 else f"{recipe} / A {label}",
                               "directions": label, "seconds": seconds,
                               "reconstruction_distance": distance(source_descriptor, base), "judge_scale": scale,
                               "edits": {}}
        tiles = [resize_square(crop, base.shape[0]), base]
        for edit_name, (kwargs, quantity, requested) in EDITS.items():
            image = reenactor.edit(src, **kwargs)
            tiles.append(image)
            change = judge_edit(judge, base, image, quantity)
            gain = None if change is None or requested is None else change / requested
            own = scale.get(quantity)
            row["edits"][edit_name] = {
                "distance": distance(source_descriptor, image),
                "change": change,
                "gain": gain,
                "gain_judge_scaled": None if gain is None or not own else gain / own,
                "artifact_ratio": artifact_ratio(image, base),
            }
        row["tiles"] = tiles
        rows.append(row)
    return rows


def load_matrices(specs: Optional[List[str]], reenactor: Reenactor) -> Dict[str, DirectionMatrix]:
    """``NAME=PATH`` direction matrices to compare (default: the reenactor's own, named "shipped"); each
    must use the reenactor's pose vector (same entries and ranges)."""
    if not specs:
        return {"shipped": reenactor.directions}
    out = {}
    for item in specs:
        label, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"--directions takes NAME=PATH, got {item!r}")
        matrix = DirectionMatrix.load(path)
        if spec_from_matrix(matrix) != reenactor.spec:
            raise SystemExit(f"{path}: its pose vector differs from the default model's")
        out[label] = matrix.eval().requires_grad_(False)
    return out


def summary(rows: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per recipe: means and worst cases over photos."""
    out: Dict[str, Dict[str, Any]] = {}
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        mine = [r for r in rows if r["recipe"] == recipe]
        edits = [e for r in mine for e in r["edits"].values()]
        pose = [e for r in mine for n, e in r["edits"].items() if EDITS[n][2] is not None]

        def values(items: List[Dict[str, Any]], key: str) -> List[float]:
            return [e[key] for e in items if e.get(key) is not None]

        recon = [r["reconstruction_distance"] for r in mine if r["reconstruction_distance"] is not None]
        dists, gains, ratios = values(edits, "distance"), values(pose, "gain"), values(edits, "artifact_ratio")
        scaled = values(pose, "gain_judge_scaled")
        mouth = [r["edits"]["mouth_open"]["change"] for r in mine if r["edits"]["mouth_open"]["change"] is not None]
        out[recipe] = {
            "seconds": statistics.mean(r["seconds"] for r in mine),
            "reconstruction_distance_mean": statistics.mean(recon) if recon else None,
            "reconstruction_distance_max": max(recon) if recon else None,
            "edit_distance_mean": statistics.mean(dists) if dists else None,
            "edit_distance_max": max(dists) if dists else None,
            "edits_over_0.5": sum(d > 0.5 for d in dists), "edits_judged": len(dists),
            "edits_without_face": sum(e["distance"] is None for e in edits),
            "pose_gain_min": min(gains) if gains else None, "pose_gain_max": max(gains) if gains else None,
            "pose_gains_in_range": sum(0.7 <= g <= 1.3 for g in gains), "pose_gains_judged": len(gains),
            "pose_gains_judge_scaled_in_range": sum(0.7 <= g <= 1.3 for g in scaled),
            "pose_gains_judge_scaled": len(scaled),
            "mouth_open_change_mean": statistics.mean(mouth) if mouth else None,
            "artifact_ratio_min": min(ratios), "artifact_ratio_max": max(ratios),
        }
    return out


def markdown(table: Dict[str, Dict[str, Any]], rows: List[Dict[str, Any]]) -> str:
    """The per-recipe table and the per-photo rows."""
    def f(v: Any, fmt: str = "{:.2f}") -> str:
        return "–" if v is None else fmt.format(v)

    lines = ["| recipe | s | recon. dist. mean / max | edit dist. mean / max | edits > 0.5 | pose gain min..max "
             "| gains in [0.7, 1.3] (judge-scaled) | mouth-open change | artifact ratio min..max |",
             "|---|---|---|---|---|---|---|---|---|"]
    for recipe, s in table.items():
        lines.append(f"| {recipe} | {s['seconds']:.0f} | {f(s['reconstruction_distance_mean'])} / "
                     f"{f(s['reconstruction_distance_max'])} | {f(s['edit_distance_mean'])} / {f(s['edit_distance_max'])} "
                     f"| {s['edits_over_0.5']} of {s['edits_judged']} | {f(s['pose_gain_min'])}..{f(s['pose_gain_max'])} "
                     f"| {s['pose_gains_in_range']} of {s['pose_gains_judged']} "
                     f"({s['pose_gains_judge_scaled_in_range']} of {s['pose_gains_judge_scaled']}) "
                     f"| {f(s['mouth_open_change_mean'], '{:+.3f}')} | {s['artifact_ratio_min']:.2f}..{s['artifact_ratio_max']:.2f} |")
    lines += ["", "| photo | recipe | recon. | " + " | ".join(EDITS) + " |", "|---|---|---|" + "---|" * len(EDITS)]
    for r in rows:
        cells = []
        for e in r["edits"].values():
            gain = "" if e["gain"] is None else f", gain {e['gain']:.2f}"
            if e.get("gain_judge_scaled") is not None:
                gain += f" ({e['gain_judge_scaled']:.2f})"
            change = "" if e["gain"] is not None or e["change"] is None else f", {e['change']:+.3f}"
            cells.append(f"{f(e['distance'])}{gain}{change}, hf {e['artifact_ratio']:.2f}")
        lines.append(f"| {r['photo']} | {r['recipe']} | {f(r['reconstruction_distance'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["none", "released", "editable"])
    parser.add_argument("--photos", nargs="+", default=None, help="test photo names (default: all five)")
    parser.add_argument("--photo-files", nargs="+", type=Path, default=None,
                        help="image files to use instead of the test photos (named by their stem)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--grids", type=Path, default=None, help="folder for one JPEG grid per photo")
    parser.add_argument("--tile", type=int, default=160, help="grid tile size in pixels")
    parser.add_argument("--directions", nargs="+", default=None, metavar="NAME=PATH",
                        help="direction matrices to compare on the same inversions (default: the shipped A)")
    parser.add_argument("--recorded-impl", choices=RECORDED_IMPLS, default="auto",
                        help="MobileStyleGAN's formulation of the tuning passes (default auto: folded, channels-last)")
    args = parser.parse_args()

    from fixtures.face_photos import photos  # tests/fixtures: the repository's real photos

    torch.manual_seed(0)
    reenactor = Reenactor.from_pretrained("default", seed=0)
    reenactor.generator.synthesis_network.recorded_impl = args.recorded_impl
    shape_model = LinearShapeModel.load(dense=True)
    matrices = load_matrices(args.directions, reenactor)
    if args.photo_files:
        chosen = {path.stem: read_image(path) for path in args.photo_files}
    else:
        chosen = photos() if args.photos is None else {k: v for k, v in photos().items() if k in args.photos}
    rows: List[Dict[str, Any]] = []
    with FaceJudge(mirror=True) as judge:
        for name, photo in chosen.items():
            grid_rows = []
            scale = judge_scale(judge, reenactor.crop(photo, True, name)[0], shape_model)
            for recipe in args.recipes:
                for row in evaluate(reenactor, judge, photo, name, recipe, matrices, scale):
                    tiles = row.pop("tiles")
                    grid_rows.append(np.concatenate([np.asarray(Image.fromarray(t).resize((args.tile, args.tile),
                                                                                          Image.LANCZOS)) for t in tiles], 1))
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items()}, default=lambda x: round(x, 3)), flush=True)
            if args.grids is not None:
                args.grids.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.concatenate(grid_rows, 0)).save(args.grids / f"{name}.jpg", quality=88)
    table = summary(rows)
    text = markdown(table, rows)
    print(text)
    record = {**machine(), "recorded_impl": args.recorded_impl, "recipes": args.recipes,
              "directions": args.directions or ["shipped"], "edits": {k: v[0] for k, v in EDITS.items()},
              "summary": table, "rows": rows}
    write_outputs(record, args.json, text, args.markdown)


if __name__ == "__main__":
    main()
