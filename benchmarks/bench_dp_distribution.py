"""The Δp that A receives from real driving clips, against the Δp of the generated face pairs it was trained on.

For each driving clip the default reenactor measures every frame (``bfm-rigid``) and turns the poses into Δp as
the video path does (gaps filled, smoothed with the video default, relative to the first frame, rescaled to A's
common range). Two steps of the video path come after this and are left out: the per-source pitch gain divides
the pitch entry (by 0.25 to 4), and with the default ``roll="rotate"`` the roll entry is applied as an image
rotation and never reaches A. The training side is random pairs of generated faces labelled with ``bfm-net`` (the estimator the
shipped A and its ranges were made with), Δp = rescaled(p_b) - rescaled(p_a). Prints, per entry of Δp, the
median, 95th percentile and maximum of |Δp| on the clips and the median and 95th percentile over the pairs, and
the share of clip frames beyond A's training range (±6); writes JSON and, with ``--plot``, box plots of both.
With ``--driving-share`` (and ``--single-share``, ``--driving-angle-scale``) it adds the Δp of that training mix
(``latentreenact train directions`` with the same options), drawn from the same pairs by the trainer's own
``shift_targets``.

    python benchmarks/bench_dp_distribution.py --driving CLIP ... [--faces 1000] --json out.json --plot out.png \
        [--single-share 0.25 --driving-share 0.5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from directions.init import sampled_latents
from directions.train import batch_rows, shift_targets
from latentreenact.examples import example_path
from latentreenact.net3d import get_estimator
from latentreenact.net3d.pose_vector import LAYOUTS
from latentreenact.reenact_video import DEFAULT_SMOOTHING, fill_missing, smooth
from latentreenact.reenactor import Reenactor
from latentreenact.video import iter_frames


def clip_deltas(reenactor: Reenactor, clip: Path, max_frames: int) -> np.ndarray:
    """Δp [N, k] of a clip's frames as the video path feeds A (relative to the first frame with a face)."""
    measured = reenactor.measure_driving(iter_frames(clip, max_frames=max_frames))
    filled = smooth(fill_missing(measured.p, measured.found, str(clip)), DEFAULT_SMOOTHING)
    first = filled[int(torch.nonzero(measured.found).flatten()[0])][None]
    return (reenactor.spec.rescale(filled) - reenactor.spec.rescale(first)).numpy()


def labelled_pairs(reenactor: Reenactor, faces: int, pairs: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Raw p of both ends [pairs, k] of random pairs of ``faces`` generated faces labelled by bfm-net."""
    if tuple(LAYOUTS["bfm"]) != tuple(reenactor.spec.names):
        raise ValueError(f"bfm-net's layout {LAYOUTS['bfm']} is not A's {reenactor.spec.names}")
    _, p, _ = sampled_latents(reenactor.generator, get_estimator("bfm-net"), faces, seed=seed, layout="bfm",
                              progress=True)
    g = torch.Generator().manual_seed(seed)
    a, b = (torch.randint(0, len(p), (pairs,), generator=g) for _ in range(2))
    return p[a], p[b]


def mix_deltas(reenactor: Reenactor, p_a: torch.Tensor, p_b: torch.Tensor, single: float, driving: float,
               angle_scale: float, seed: int) -> np.ndarray:
    """Δp [pairs, k] of the trainer's mix (single-entry, driving-like and whole-target rows) on these pairs."""
    n_single, n_driving = batch_rows(single, driving, len(p_a))
    g = torch.Generator().manual_seed(seed + 1)
    dp, _ = shift_targets(reenactor.spec, p_a, p_b, n_single, g, n_driving, angle_scale)
    return dp.numpy()


def summary(names: List[str], real: np.ndarray, pairs: np.ndarray, limit: float,
            mix: Optional[np.ndarray] = None) -> List[Dict[str, Any]]:
    rows = []
    for i, name in enumerate(names):
        r, q = np.abs(real[:, i]), np.abs(pairs[:, i])
        row = {"entry": name, "clips_median": float(np.median(r)), "clips_p95": float(np.percentile(r, 95)),
               "clips_max": float(r.max()), "pairs_median": float(np.median(q)),
               "pairs_p95": float(np.percentile(q, 95)), "clips_beyond_range": float((r > limit).mean())}
        if mix is not None:
            m = np.abs(mix[:, i])
            row.update(mix_median=float(np.median(m)), mix_p95=float(np.percentile(m, 95)),
                       mix_below_1=float((m < 1).mean()))
        rows.append(row)
    return rows


def plot(path: Path, names: List[str], clips: Dict[str, np.ndarray], pairs: np.ndarray, limit: float,
         mix: Optional[np.ndarray] = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = np.concatenate(list(clips.values()))
    fig, ax = plt.subplots(figsize=(12, 4))
    pos = np.arange(len(names))
    series = [(pairs, -0.2, "#cfe0f3"), (real, 0.2, "#f6c9a8")]
    width = 0.35
    if mix is not None:
        series = [(pairs, -0.27, "#cfe0f3"), (mix, 0.0, "#bfe3bf"), (real, 0.27, "#f6c9a8")]
        width = 0.25
    for values, shift, colour in series:
        ax.boxplot([np.abs(values[:, i]) for i in range(len(names))], positions=pos + shift, widths=width,
                   whis=(5, 95), showfliers=False, patch_artist=True, boxprops=dict(facecolor=colour))
    for (name, values), marker in zip(clips.items(), "os^dv<>"):
        ax.plot(pos + series[-1][1], np.abs(values).max(0), marker, ms=4, color="k", alpha=0.6, label=f"max, {name}")
    ax.axhline(limit, color="r", lw=1, ls="--", label=f"A's training range (±{limit:g})")
    ax.set_xticks(pos)
    ax.set_xticklabels(names)
    ax.set_ylabel("|Δp| (rescaled units)")
    mixed = "" if mix is None else ", the driving-like training mix (green)"
    ax.set_title(f"|Δp| as A receives it: random pairs of generated faces (blue, bfm-net){mixed} vs real clips "
                 "(orange, bfm-rigid, relative, smoothed);\nboxes 25-75 %, whiskers 5-95 %", fontsize=9)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driving", type=Path, nargs="+", default=[Path(example_path("smile"))])
    parser.add_argument("--max-frames", type=int, default=72)
    parser.add_argument("--faces", type=int, default=1000, help="generated faces labelled for the pairs")
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--single-share", type=float, default=0.5, help="the training mix's single-entry share")
    parser.add_argument("--driving-share", type=float, default=None,
                        help="add the training mix with this driving-like share")
    parser.add_argument("--driving-angle-scale", type=float, default=0.6)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    reenactor = Reenactor.from_pretrained("default", seed=args.seed)
    names, limit = list(reenactor.spec.names), float(reenactor.spec.shift_scale)
    if len({clip.stem for clip in args.driving}) != len(args.driving):
        parser.error("give driving clips with different file names (the rows are named by them)")
    clips = {clip.stem: clip_deltas(reenactor, clip, args.max_frames) for clip in args.driving}
    p_a, p_b = labelled_pairs(reenactor, args.faces, args.pairs, args.seed)
    pairs = (reenactor.spec.rescale(p_b) - reenactor.spec.rescale(p_a)).numpy()
    mix = None if args.driving_share is None else mix_deltas(reenactor, p_a, p_b, args.single_share,
                                                             args.driving_share, args.driving_angle_scale, args.seed)
    rows = summary(names, np.concatenate(list(clips.values())), pairs, limit, mix)
    print(f"# |Δp| (rescaled units), {sum(len(v) for v in clips.values())} frames of {len(clips)} clips vs "
          f"{args.pairs} pairs of {args.faces} generated faces")
    print(f"{'entry':8s} {'clips p50':>9s} {'p95':>6s} {'max':>6s} {'pairs p50':>9s} {'p95':>6s} {'clips > range':>13s}")
    for row in rows:
        print(f"{row['entry']:8s} {row['clips_median']:9.2f} {row['clips_p95']:6.2f} {row['clips_max']:6.2f} "
              f"{row['pairs_median']:9.2f} {row['pairs_p95']:6.2f} {100 * row['clips_beyond_range']:12.1f}%"
              + ("" if mix is None else f"  mix p50 {row['mix_median']:.2f} p95 {row['mix_p95']:.2f}"))
    if args.json:
        record = {"clips": [c.name for c in args.driving], "max_frames": args.max_frames, "faces": args.faces,
                  "pairs": args.pairs, "seed": args.seed, "range": limit, "rows": rows,
                  **({} if mix is None else {"mix": {"single_share": args.single_share,
                                                     "driving_share": args.driving_share,
                                                     "driving_angle_scale": args.driving_angle_scale}}),
                  "clip_max": {k: np.abs(v).max(0).round(3).tolist() for k, v in clips.items()}}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    if args.plot:
        plot(args.plot, names, clips, pairs, limit, mix)


if __name__ == "__main__":
    main()
