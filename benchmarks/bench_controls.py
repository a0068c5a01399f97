"""Every expression control over its whole range, judged independently, on generated faces and real photos.

For each face (held-out generated faces of the default generator, inverted untuned from their renders, and the
repository's real photos, inverted with a tuning recipe) and each control the reenactor offers (``mouth_open``,
``smile``, ``eyes_closed``, ``lips_apart``) it renders the values ``-range .. +range`` and measures:

* the judge's (MediaPipe face mesh) change of the control's quantity from the unedited render: mouth opening
  (inner-lip gap over eye-corner distance), mouth width, eye opening (lid gap over eye width); and of the
  other quantities, which the control should leave alone (side effects), and the head's pitch change (degrees,
  the judge's relative rotation);
* identity: dlib's descriptor distance of each edit to the unedited render (generated faces) or to the source
  crop (real photos); < 0.6 is the same person in dlib's convention, and nothing in the method trains on dlib;
* texture: the artifact ratio of each edit to the unedited render (< 1 blur, > 1 added texture);
* skin: the change of the skin's mean luma (0-255) and the ratio of its luma std, at the judge's cheek and
  nose-bridge mesh points (:func:`latentreenact.judge.skin_reading`): a face that washes out reads brighter and
  smoother.

``--controls FILE`` judges a refitted W-space controls file (``latentreenact train controls -o FILE``) instead of
the shipped one.

The method fits its controls with its own networks (the 3D model's landmarks; dlib's 68 landmarks, bfm-net and
SFace for ``eyes_closed``; dlib's 68 landmarks, bfm-rigid's head angles and SFace for ``lips_apart``); the judge
uses none of them. JSON, a markdown table and one grid per face (rows:
controls; columns: the unedited render, then the values).

    make judge-env   # once
    python benchmarks/bench_controls.py [--generated 6] [--photos NAME ...] [--recipe released]
        [--controls FILE] [--json out.json] [--markdown out.md] [--grids DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from PIL import Image
from bench_files import machine, write_outputs

from latentreenact.images import resize_square, to_uint8
from latentreenact.judge import (FaceJudge, dlib_distance, eye_opening, identity_descriptor, mouth_opening, mouth_width,
                                 relative_pose, skin_reading)
from latentreenact.latent_controls import LATENT_CONTROLS, LatentControls
from latentreenact.metrics.high_frequency import artifact_ratio
from latentreenact.net3d.controls import CONTROLS
from latentreenact.reenactor import Reenactor
from latentreenact.sampling import render, wplus_from_z

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test photos' loader

JUDGED = {"mouth_open": ("mouth opening", mouth_opening), "smile": ("mouth width", mouth_width),
          "eyes_closed": ("eye opening", eye_opening), "lips_apart": ("mouth opening", mouth_opening)}


def head_pitch(base_mesh: np.ndarray, mesh: np.ndarray) -> float:
    """The head's pitch change in degrees from the unedited render (the judge's relative rotation)."""
    return float(relative_pose(base_mesh, mesh)[0])


def skin_changes(before: np.ndarray, image: np.ndarray, mesh: np.ndarray) -> Dict[str, float]:
    """The skin's luma change (0-255) and texture ratio (luma std over the unedited render's) at the judge's cheek
    and nose-bridge points, from the unedited render's reading ``before`` (:func:`skin_reading` at its own mesh):
    a washed-out face reads brighter and smoother."""
    after = skin_reading(image, mesh)
    return {"skin luma": float(after[0] - before[0]), "skin texture ratio": float(after[3] / max(before[3], 1e-9))}


def control_range(name: str) -> tuple:
    """The (low, high) values a control offers."""
    return (CONTROLS[name] if name in CONTROLS else LATENT_CONTROLS[name]).range


def evaluate_face(reenactor: Reenactor, judge: FaceJudge, src: Any, reference: np.ndarray, label: str,
                  values: int) -> Dict[str, Any]:
    """One face: per control, the judged change, identity distance and artifact ratio at ``values`` points."""
    base = reenactor.render_source(src)
    descriptor = identity_descriptor(reference)
    base_mesh = judge.mesh(base)
    base_skin = None if base_mesh is None else skin_reading(base, base_mesh)
    row: Dict[str, Any] = {"face": label, "controls": {}, "tiles": []}
    for name in reenactor.control_names():
        low, high = control_range(name)
        points = [float(v) for v in np.linspace(low, high, values)]
        quantity, measure = JUDGED[name]
        results, tiles = [], [base]
        for value in points:
            image = reenactor.edit(src, controls={name: value})
            tiles.append(image)
            mesh = judge.mesh(image)
            other = identity_descriptor(image)
            found = mesh is not None and base_mesh is not None
            results.append({
                "value": value,
                "change": measure(mesh) - measure(base_mesh) if found else None,
                "changes": ({**{q: m(mesh) - m(base_mesh) for q, m in JUDGED.values()},
                             "head pitch (deg)": head_pitch(base_mesh, mesh),
                             **skin_changes(base_skin, image, mesh)} if found else None),
                "distance": None if descriptor is None or other is None else float(dlib_distance(descriptor, other)),
                "artifact_ratio": artifact_ratio(image, base),
            })
        row["controls"][name] = {"quantity": quantity, "points": results}
        row["tiles"].append(tiles)
    return row


def generated_sources(reenactor: Reenactor, n: int, seed: int) -> List[tuple]:
    """``n`` held-out generated faces (z from ``seed``, truncation 0.7), inverted untuned from their renders."""
    z = torch.randn(n, reenactor.generator.style_dim, generator=torch.Generator().manual_seed(seed))
    out = []
    for i in range(n):
        with torch.no_grad():
            wplus = wplus_from_z(reenactor.generator, z[i:i + 1], truncation=0.7)
            face = to_uint8(render(reenactor.generator, wplus, reenactor.render_size))[0]
        src = reenactor.invert(face, align=False, tune="none", check_identity=False, name=f"generated_{i}")
        out.append((f"generated_{i}", src, reenactor.render_source(src)))
    return out


def summary(rows: List[Dict[str, Any]], kind: str) -> Dict[str, Dict[str, Any]]:
    """Per control over the faces of one kind: judged change at both ends, worst distance, faces lost."""
    out: Dict[str, Dict[str, Any]] = {}
    mine = [r for r in rows if r["kind"] == kind]
    if not mine:
        return out
    for name in mine[0]["controls"]:
        points = [r["controls"][name]["points"] for r in mine]
        low = [p[0]["change"] for p in points if p[0]["change"] is not None]
        high = [p[-1]["change"] for p in points if p[-1]["change"] is not None]
        dists = [q["distance"] for p in points for q in p if q["distance"] is not None]
        quantities = [*dict(JUDGED.values()), "head pitch (deg)", "skin luma"]
        side = {quantity: statistics.mean(abs(p[-1]["changes"][quantity]) for p in points if p[-1]["changes"])
                for quantity in quantities if quantity != mine[0]["controls"][name]["quantity"]}
        side["skin texture ratio"] = statistics.mean(p[-1]["changes"]["skin texture ratio"] for p in points
                                                     if p[-1]["changes"])
        out[name] = {"quantity": mine[0]["controls"][name]["quantity"], "low_value": points[0][0]["value"],
                     "high_value": points[0][-1]["value"],
                     "change_at_low_mean": statistics.mean(low) if low else None,
                     "change_at_high_mean": statistics.mean(high) if high else None,
                     "distance_mean": statistics.mean(dists) if dists else None,
                     "distance_max": max(dists) if dists else None,
                     "edits_over_0.6": sum(d > 0.6 for d in dists),
                     "faces_not_found": sum(q["change"] is None or q["distance"] is None for p in points for q in p),
                     "edits": sum(len(p) for p in points),
                     "artifact_ratio_max": max(q["artifact_ratio"] for p in points for q in p),
                     "side_effects_at_high": side}
    return out


def markdown(tables: Dict[str, Dict[str, Dict[str, Any]]]) -> str:
    """The summary as a markdown table."""
    def f(v: Optional[float], fmt: str = "{:.2f}") -> str:
        return "-" if v is None else fmt.format(v)

    lines = ["| faces | control | judged quantity | change at low / high end | other quantities at high end "
             "(mean abs change) | dlib mean / max | > 0.6 | no face | artifact max |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, table in tables.items():
        for name, s in table.items():
            lines.append(f"| {kind} | {name} ({s['low_value']:g}..{s['high_value']:g}) | {s['quantity']} | "
                         f"{f(s['change_at_low_mean'], '{:+.3f}')} / {f(s['change_at_high_mean'], '{:+.3f}')} | "
                         f"{', '.join(f'{q} {v:.3f}' for q, v in s['side_effects_at_high'].items())} | "
                         f"{f(s['distance_mean'])} / {f(s['distance_max'])} | {s['edits_over_0.6']} of {s['edits']} | "
                         f"{s['faces_not_found']} | {s['artifact_ratio_max']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", type=int, default=6, help="held-out generated faces (0: none)")
    parser.add_argument("--seed", type=int, default=7, help="z seed of the generated faces")
    parser.add_argument("--photos", nargs="*", default=None, help="repository photos (default: all; none: skip)")
    parser.add_argument("--recipe", default="released", help="tuning recipe for the real photos")
    parser.add_argument("--values", type=int, default=5, help="values per control over its range")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--grids", type=Path, default=None, help="folder for one JPEG grid per face")
    parser.add_argument("--tile", type=int, default=128, help="grid tile size in pixels")
    parser.add_argument("--controls", type=Path, default=None,
                        help="W-space controls file to judge instead of the shipped one (train controls -o)")
    args = parser.parse_args()

    from fixtures.face_photos import photos  # tests/fixtures: the repository's real photos

    torch.manual_seed(0)
    reenactor = Reenactor.from_pretrained("default", seed=0)
    if args.controls is not None:
        reenactor.latent_controls = LatentControls.load(args.controls)
    faces = [("generated", *f) for f in generated_sources(reenactor, args.generated, args.seed)]
    chosen = photos() if args.photos is None else {k: v for k, v in photos().items() if k in args.photos}
    rows: List[Dict[str, Any]] = []
    with FaceJudge(mirror=False) as judge:
        for kind, label, src, reference in faces:
            rows.append({"kind": kind, **evaluate_face(reenactor, judge, src, reference, label, args.values)})
        for name, photo in chosen.items():
            crop, _ = reenactor.crop(photo, True, name)
            src = reenactor.invert(photo, tune=args.recipe, name=name)
            rows.append({"kind": f"real ({args.recipe})", **evaluate_face(reenactor, judge, src, crop, name,
                                                                         args.values)})
            print(name, flush=True)
    for row in rows:
        tiles = row.pop("tiles")
        if args.grids is not None:
            args.grids.mkdir(parents=True, exist_ok=True)
            grid = np.concatenate([np.concatenate([resize_square(t, args.tile) for t in line], 1) for line in tiles], 0)
            Image.fromarray(grid).save(args.grids / f"{row['face']}.jpg", quality=88)
    tables = {kind: summary(rows, kind) for kind in dict.fromkeys(r["kind"] for r in rows)}
    text = markdown(tables)
    print(text)
    record = {**machine(), "controls": str(args.controls or "shipped"), "recipe": args.recipe, "values": args.values,
              "summary": tables, "rows": rows}
    write_outputs(record, args.json, text, args.markdown)


if __name__ == "__main__":
    main()
