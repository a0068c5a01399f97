"""Where the driving signal is lost: each driving-pose estimate of a clip against the independent judge.

For every frame of a driving clip (default: the bundled one) it measures, relative to the first frame:

* the judge (MediaPipe face mesh, ``latentreenact.judge``) on the frames, and on the aligned crops
  that Net3D sees (does the alignment remove pose?);
* ``bfm-net`` on the aligned crops (what drives the reenactment today);
* ``bfm-fit`` (dlib's 68 landmarks, the joint BFM fit) on the aligned crops;
* the rigid pose fit (``LandmarkFitter.fit_rigid_pose``: the mean face fitted to the nose and eye
  landmarks only) on the frames.

It prints, per estimate, the Pearson correlation and the gain (least-squares slope) of pitch, yaw
and roll against the judge on the frames, and of the best single expression coefficient against
the judge's mouth opening; and writes JSON and a PNG plot of the pitch and mouth series.

    make judge-env   # once: the judge's helper environment
    python benchmarks/bench_driving.py [--clip FILE] [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from latentreenact.examples import example_path
from latentreenact.images import from_uint8
from latentreenact.judge import FaceJudge, gain, pearson
from latentreenact.net3d import get_estimator
from latentreenact.net3d.base import detect_landmarks
from latentreenact.reenactor import Reenactor
from latentreenact.shape3d import LandmarkFitter
from latentreenact.video import iter_frames

ANGLES = ("yaw", "pitch", "roll")


def link(judge: Dict[str, np.ndarray], angles: np.ndarray, expression: np.ndarray = None) -> Dict[str, Any]:
    """Correlation and gain of one estimate's relative angles (and best expression coefficient) vs the judge."""
    out: Dict[str, Any] = {}
    rel = angles - angles[0]
    for k, name in enumerate(ANGLES):
        out[name] = {"r": pearson(judge[name], rel[:, k]), "gain": gain(judge[name], rel[:, k])}
    if expression is not None:
        rs = [pearson(judge["mouth"], expression[:, i]) for i in range(expression.shape[1])]
        best = int(np.nanargmax(np.abs(rs)))
        out["mouth_best_coefficient"] = {"coefficient": f"exp_{best}", "r": abs(rs[best]),
                                         "all_r": [round(v, 3) for v in rs]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=None, help="driving clip (default: the bundled smile.mp4)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()

    clip = args.clip or example_path("smile")
    frames = [f[0] if isinstance(f, tuple) else f for f in iter_frames(clip)]
    reenactor = Reenactor.from_pretrained("default", seed=0)
    crops = [reenactor.driving_crop(f, name=f"frame {i}") for i, f in enumerate(frames)]
    keep = [i for i, c in enumerate(crops) if c is not None]
    frames, crops = [frames[i] for i in keep], [crops[i] for i in keep]
    with FaceJudge() as judge:
        on_frames = judge.measure(frames, progress=True, desc="judge, frames")
        on_crops = judge.measure(crops, progress=True, desc="judge, crops")
    ref = {name: on_frames.signal(name) for name in ("pitch", "yaw", "roll", "mouth")}
    names = reenactor.spec.names
    batch = from_uint8(np.stack(crops), reenactor.device)
    with torch.no_grad():
        net = reenactor.estimator.estimate(batch, missing="mask").to_vector(names).numpy()
        fit = get_estimator("bfm-fit").estimate(batch, missing="mask").to_vector(names).numpy()
    landmarks = detect_landmarks(frames, "hog", 1)
    rigid = LandmarkFitter().fit_rigid_pose(np.stack(landmarks)).numpy()
    crop_angles = np.stack([on_crops.yaw, on_crops.pitch, on_crops.roll], axis=1)
    results = {
        "clip": Path(clip).name, "frames": len(frames),
        "judge_range_deg": {n: [float(np.nanmin(ref[n])), float(np.nanmax(ref[n]))] for n in ("pitch", "yaw", "roll")},
        "judge on the aligned crops": link(ref, crop_angles),
        "bfm-net on the crops (drives today)": link(ref, net[:, :3], net[:, 3:]),
        "bfm-fit on the crops": link(ref, fit[:, :3], fit[:, 3:]),
        "rigid fit (nose + eyes) on the frames": link(ref, rigid),
    }
    print(f"# {Path(clip).name}: {len(frames)} frames; judge pitch {results['judge_range_deg']['pitch']}, "
          f"yaw {results['judge_range_deg']['yaw']} deg")
    print(f"{'estimate':<40} {'pitch r/gain':>13} {'yaw r/gain':>12} {'roll r/gain':>12} {'mouth r':>8}")
    for label, row in results.items():
        if label in ("clip", "frames", "judge_range_deg"):
            continue
        mouth = row.get("mouth_best_coefficient", {}).get("r")
        cells = [f"{row[n]['r']:5.2f}/{row[n]['gain']:5.2f}" for n in ("pitch", "yaw", "roll")]
        print(f"{label:<40} {cells[0]:>13} {cells[1]:>12} {cells[2]:>12} {'' if mouth is None else f'{mouth:8.2f}'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.plot:
        plot(args.plot, ref, crop_angles, net, fit, rigid, results)


def plot(path: Path, ref: Dict[str, np.ndarray], crop_angles: np.ndarray, net: np.ndarray, fit: np.ndarray,
         rigid: np.ndarray, results: Dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    left.plot(ref["pitch"], "k-", lw=2, label="judge on the frames")
    left.plot(crop_angles[:, 1], "k:", label="judge on the aligned crops")
    series: List[tuple] = [("bfm-net on the crops (drives today)", net[:, 1]), ("bfm-fit on the crops", fit[:, 1]),
                           ("rigid fit (nose + eyes) on the frames", rigid[:, 1])]
    for label, values in series:
        left.plot(values - values[0], label=f"{label} (r={results[label]['pitch']['r']:.2f})")
    left.set_title("pitch relative to the first frame (deg)")
    left.set_xlabel("frame")
    left.legend(fontsize=7)
    mouth = ref["mouth"]
    right.plot((mouth - np.nanmean(mouth)) / np.nanstd(mouth), "k-", lw=2, label="judge: mouth opening")
    for label, params in (("bfm-net on the crops (drives today)", net), ("bfm-fit on the crops", fit)):
        best = results[label]["mouth_best_coefficient"]
        values = params[:, 3 + int(best["coefficient"].split("_")[1])]
        sign = np.sign(pearson(mouth, values))
        right.plot(sign * (values - values.mean()) / values.std(),
                   label=f"{label}: {best['coefficient']} (|r|={best['r']:.2f})")
    right.set_title("mouth opening vs the best expression coefficient (z-scores)")
    right.set_xlabel("frame")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
