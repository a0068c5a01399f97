"""Run methods over evaluation clips, score them, and write ``frames.csv``, ``summary.json`` and
``summary.md`` (each written atomically)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

import numpy as np
from tqdm.auto import tqdm

from ..fileio import atomic_path
from ..metrics import frechet_from_features
from .data import EvalClip
from .scoring import FRAME_METRICS, Scorer

PathLike = Union[str, "os.PathLike[str]"]
Method = Callable[[EvalClip], List[np.ndarray]]
#: (metric key, column title, better) in the markdown table
TABLE_COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ("csim_source", "CSIM vs source", "↑"), ("csim_target", "CSIM vs truth", "↑"), ("l1", "L1", "↓"),
    ("perceptual", "perceptual (SFace features)", "↓"), ("lpips", "LPIPS", "↓"), ("nme", "NME x10^3", "↓"),
    ("pose_l1", "pose L1 (deg)", "↓"), ("expression_l1", "expr. L1", "↓"),
    ("ifd", "identity-embedding FD", "↓"), ("fid", "FID", "↓"))


@dataclass
class EvalResult:
    """Per-frame rows and per (mode, method) summaries."""

    rows: List[Dict[str, Any]] = field(default_factory=list)
    summary: List[Dict[str, Any]] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)


def evaluate(clips: Sequence[EvalClip], methods: Sequence[Any], scorer: Scorer, progress: bool = False) -> EvalResult:
    """Every method on every clip: per-frame scores, then means and Fréchet distances per (mode, method)."""
    if not clips:
        raise ValueError("no evaluation clips (no video or pair with a usable face)")
    result = EvalResult()
    features: Dict[Tuple[str, str], Dict[str, List[np.ndarray]]] = {}
    real: Dict[str, Dict[str, List[np.ndarray]]] = {}
    for clip in tqdm(clips, desc="evaluating", unit="clip", disable=not progress):
        ref = scorer.reference(clip)  # measured once, shared by every method
        for key, value in ref.real_features.items():
            real.setdefault(clip.mode, {}).setdefault(key, []).append(value)
        for method in methods:
            outputs = method(clip)
            output_features = scorer.set_features(outputs)
            scores = scorer.frame_scores(clip, outputs, ref, output_embeddings=output_features["ifd"])
            for i, frame_id in enumerate(clip.frame_ids):
                row: Dict[str, Any] = {"mode": clip.mode, "method": method.name, "clip": clip.name, "frame": frame_id}
                row.update({k: float(scores[k][i]) for k in FRAME_METRICS})
                result.rows.append(row)
            for key, value in output_features.items():
                features.setdefault((clip.mode, method.name), {}).setdefault(key, []).append(value)
    for (mode, name), feats in features.items():
        rows = [r for r in result.rows if r["mode"] == mode and r["method"] == name]
        entry: Dict[str, Any] = {"mode": mode, "method": name, "frames": len(rows)}
        for key in FRAME_METRICS:
            values = np.array([r[key] for r in rows], dtype=np.float64)
            valid = np.isfinite(values)
            entry[key] = float(values[valid].mean()) if valid.any() else None
            entry[f"{key}_n"] = int(valid.sum())
        for key, chunks in feats.items():
            fake, ref = np.concatenate(chunks), np.concatenate(real[mode][key])
            entry[key] = frechet_from_features(fake, ref) if len(fake) >= 2 and len(ref) >= 2 else None
            entry[f"{key}_n"] = int(len(fake))
        result.summary.append(entry)
    return result


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def markdown_table(result: EvalResult) -> str:
    """The summary as a markdown table per mode (metrics that are empty everywhere are left out)."""
    lines: List[str] = []
    for mode in ("self", "cross"):
        entries = [e for e in result.summary if e["mode"] == mode]
        if not entries:
            continue
        columns = [c for c in TABLE_COLUMNS if any(e.get(c[0]) is not None for e in entries)]
        lines.append(f"**{mode}-reenactment** ({entries[0]['frames']} frames per method)\n")
        lines.append("| method | " + " | ".join(f"{title} {arrow}" for _, title, arrow in columns) + " |")
        lines.append("|---|" + "---|" * len(columns))
        for e in entries:
            lines.append(f"| {e['method']} | " + " | ".join(_fmt(e.get(key)) for key, _, _ in columns) + " |")
        lines.append("")
    return "\n".join(lines)


def write_report(result: EvalResult, out_dir: PathLike) -> Dict[str, Path]:
    """``frames.csv`` (one row per method and frame), ``summary.json`` and ``summary.md`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "frames.csv", "json": out / "summary.json", "markdown": out / "summary.md"}
    buffer = io.StringIO()
    fields = ["mode", "method", "clip", "frame", *FRAME_METRICS]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in result.rows:
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
    texts = {"csv": buffer.getvalue(),
             "json": json.dumps({"meta": result.meta, "summary": result.summary}, indent=2, ensure_ascii=False) + "\n",
             "markdown": markdown_table(result)}
    for key, path in paths.items():
        with atomic_path(path) as tmp:
            tmp.write_text(texts[key], encoding="utf-8")
    return paths
