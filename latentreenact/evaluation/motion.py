"""Motion transfer measured by the independent judge (``latentreenact eval motion``).

For each source photo × driving clip: the reenactor renders the source's face with the clip's motion, and the
judge (:mod:`latentreenact.judge`: MediaPipe face mesh, dlib descriptor; neither is used by the method) measures
the same signals on the driving frames and on the outputs. Per signal (``pitch``, ``yaw``, ``roll`` relative to
the first frame, ``mouth`` and ``eye`` opening):

- ``correlation``: Pearson correlation of the output series with the driving series;
- ``gain``: least-squares slope of output against driving (1: the output moves as much as the driving face).

The same two numbers are reported for the two links the motion goes through: ``measurement`` (the pose vector of
the reenactor's Net3D estimator, ``bfm-rigid`` by default, as the reenactor uses it after gap filling and
smoothing, against the judge on the driving frames) and ``generation`` (the judge on the outputs against the
estimator's values; the series are stored under ``bfm``). The estimator has no single mouth or eye value,
so for those the link reports the correlation of the judge's series with each expression coefficient and the
best one. Identity: dlib's descriptor distance of each output to the source photo (mean, max; < 0.6 is the same
person by dlib's convention) beside SFace's cosine similarity (the network the method's tuning optimises).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from tqdm.auto import tqdm

from ..faces import NoFaceError
from ..identity.similarity import identity_similarity, sface_embedding
from ..judge import (SAME_PERSON_DISTANCE, SIGNALS, UNITS, FaceJudge, MotionSeries, dlib_distance, gain,
                     identity_descriptor, largest_face, motion_series, pearson)
from ..reenact_video import ReenactOptions, video_frames
from ..video import iter_frames
from .acceptance import acceptance, acceptance_markdown
from .frame_sheet import FrameKeeper, sample_indices, write_frame_sheet

log = logging.getLogger(__name__)

ANGLES = ("pitch", "yaw", "roll")
#: the longer side of the frames kept for the frame sheets
SHEET_SIDE = 320


def link_stats(driving: np.ndarray, output: np.ndarray) -> Dict[str, float]:
    """Correlation, gain and the standard deviations (over the finite pairs) of two series."""
    x, y = np.asarray(driving, dtype=np.float64), np.asarray(output, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    return {"correlation": pearson(x, y), "gain": gain(x, y),
            "driving_std": float(np.std(x[keep])) if keep.any() else math.nan,
            "output_std": float(np.std(y[keep])) if keep.any() else math.nan, "frames": int(keep.sum())}


def compare_series(driving: MotionSeries, output: MotionSeries) -> Dict[str, Dict[str, float]]:
    """:func:`link_stats` of every signal (``SIGNALS``) of two judge series of the same length."""
    if len(driving) != len(output):
        raise ValueError(f"the driving series has {len(driving)} frames, the output series {len(output)}")
    return {name: link_stats(driving.signal(name), output.signal(name)) for name in SIGNALS}


def bfm_series(p: np.ndarray, names: Sequence[str], reference: int) -> Dict[str, np.ndarray]:
    """The estimator's angles relative to frame ``reference`` and its raw expression coefficients, by name."""
    p = np.asarray(p, dtype=np.float64)
    out = {name: p[:, i] - (p[reference, i] if name in ANGLES else 0.0) for i, name in enumerate(names)}
    return out


def linear_readout_r2(target: np.ndarray, coefficients: np.ndarray, folds: int = 4) -> float:
    """Cross-validated R² of the best linear readout (with intercept) of ``target`` [N] from ``coefficients``
    [N, K]: fitted on all but one of ``folds`` contiguous blocks and predicted on that block, so that a readout
    that only fits one stretch of a clip scores below 0 (NaN with fewer finite rows than ``2 * folds``)."""
    y = np.asarray(target, dtype=np.float64)
    x = np.asarray(coefficients, dtype=np.float64).reshape(len(y), -1)
    keep = np.isfinite(y) & np.isfinite(x).all(1)
    y, x = y[keep], np.c_[np.ones(int(keep.sum())), x[keep]]
    n = len(y)
    if n < 2 * folds or np.var(y) == 0:
        return math.nan
    prediction = np.empty(n)
    for k in range(folds):
        test = np.zeros(n, dtype=bool)
        test[k * n // folds:(k + 1) * n // folds] = True
        beta, *_ = np.linalg.lstsq(x[~test], y[~test], rcond=None)
        prediction[test] = x[test] @ beta
    return float(1.0 - ((y - prediction) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def bfm_links(judge: MotionSeries, bfm: Dict[str, np.ndarray], judge_is_driving: bool) -> Dict[str, Dict[str, Any]]:
    """Per signal: the angles' :func:`link_stats` between the judge and the estimator (the estimator as the "output"
    of the measurement link when ``judge_is_driving``, else as its input); for ``mouth`` / ``eye`` the correlation with
    each expression coefficient, the best one by absolute value and ``readout_r2``, the cross-validated R² of a
    linear readout of the judge's series from all coefficients (:func:`linear_readout_r2`)."""
    links: Dict[str, Dict[str, Any]] = {}
    for name in ANGLES:
        if name in bfm:
            a, b = judge.signal(name), bfm[name]
            links[name] = link_stats(a, b) if judge_is_driving else link_stats(b, a)
    expressions = [n for n in bfm if n.startswith("exp_") or n == "jaw"]
    for name in ("mouth", "eye"):
        per = {e: pearson(judge.signal(name), bfm[e]) for e in expressions}
        finite = {e: r for e, r in per.items() if np.isfinite(r)}
        best = max(finite, key=lambda e: abs(finite[e])) if finite else None
        readout = (linear_readout_r2(judge.signal(name), np.stack([bfm[e] for e in expressions], 1))
                   if expressions else math.nan)
        links[name] = {"best": best, "correlation": finite[best] if best else math.nan, "readout_r2": readout,
                       "per_coefficient": per}
    return links


@dataclass
class MotionResult:
    """One source × driving clip: the judge's series, the statistics and the identity distances."""

    source: str
    driving: str
    tune: str
    driving_series: MotionSeries
    output_series: MotionSeries
    bfm: Dict[str, np.ndarray]
    dlib_distances: np.ndarray
    sface_similarities: np.ndarray
    seconds_per_frame: float
    setup_seconds: float
    signals: Dict[str, Dict[str, float]] = field(default_factory=dict)
    measurement: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    generation: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: a few (frame index, driving frame, output frame) to look at (:mod:`~latentreenact.evaluation.frame_sheet`)
    samples: List[Tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.signals = compare_series(self.driving_series, self.output_series)
        self.measurement = bfm_links(self.driving_series, self.bfm, judge_is_driving=True)
        self.generation = bfm_links(self.output_series, self.bfm, judge_is_driving=False)

    @property
    def frames(self) -> int:
        """Number of driving frames."""
        return len(self.driving_series)

    @property
    def identity(self) -> Dict[str, float]:
        """dlib distance to the source (mean, max, share under 0.6, frames without a face) and SFace similarity."""
        d, s = self.dlib_distances, self.sface_similarities
        ok = np.isfinite(d)
        return {"dlib_mean": _nanstat(np.mean, d), "dlib_max": _nanstat(np.max, d),
                "dlib_same_person": float((d[ok] < SAME_PERSON_DISTANCE).mean()) if ok.any() else math.nan,
                "frames_without_face": int((~ok).sum()), "sface_mean": _nanstat(np.mean, s),
                "sface_min": _nanstat(np.min, s)}

    def to_json(self) -> Dict[str, Any]:
        """JSON-ready summary and series."""
        return {"source": self.source, "driving": self.driving, "tune": self.tune, "frames": self.frames,
                "seconds_per_frame": _round(self.seconds_per_frame), "setup_seconds": _round(self.setup_seconds),
                "signals": _rounded(self.signals), "identity": _rounded(self.identity),
                "links": {"measurement": _rounded(self.measurement), "generation": _rounded(self.generation)},
                "series": {"driving": self.driving_series.as_dict(), "output": self.output_series.as_dict(),
                           "bfm": {k: [_round(v) for v in vals] for k, vals in self.bfm.items()},
                           "dlib_distance": [_round(v) for v in self.dlib_distances],
                           "sface_similarity": [_round(v) for v in self.sface_similarities]}}


def _nanstat(fn: Any, values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(fn(values)) if values.size else math.nan


def _round(value: Any, digits: int = 4) -> Any:
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _rounded(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _rounded(v) for k, v in tree.items()}
    if isinstance(tree, (float, np.floating)):
        return _round(tree)
    return tree


class _Timed:
    """An iterator wrapper that adds the time spent producing items to ``seconds``."""

    def __init__(self, items: Iterator[np.ndarray]) -> None:
        self.items, self.seconds = items, 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            start = time.perf_counter()
            try:
                item = next(self.items)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - start
            yield item


def _identity_features(image: np.ndarray, detector: str) -> tuple:
    """(dlib descriptor, SFace embedding) of the largest face, or (None, None)."""
    face = largest_face(image, detector)
    if face is None:
        return None, None
    return identity_descriptor(image, face), sface_embedding(image, face)


def judge_outputs(judge: FaceJudge, frames: Iterator[np.ndarray], source_descriptor: np.ndarray,
                  source_embedding: np.ndarray, detector: str = "hog", progress: bool = False,
                  total: Optional[int] = None) -> tuple:
    """The judge's series of output frames and per-frame dlib distance / SFace similarity to the source
    (NaN where no face is found)."""
    meshes, mirrored, distances, similarities = [], [], [], []
    for frame in tqdm(frames, desc="judging outputs", unit="frame", total=total, disable=not progress):
        mesh, mesh_m = judge.meshes(frame)
        meshes.append(mesh)
        mirrored.append(mesh_m)
        descriptor, embedding = _identity_features(frame, detector)
        distances.append(math.nan if descriptor is None else dlib_distance(descriptor, source_descriptor))
        similarities.append(math.nan if embedding is None else float(identity_similarity(embedding, source_embedding)))
    series = motion_series(meshes, mirrored if judge.mirror else None)
    return series, np.array(distances), np.array(similarities)


def judge_pair(judge: FaceJudge, driving_frames: Iterable[np.ndarray], output_frames: Iterable[np.ndarray],
               source_image: np.ndarray, bfm: Dict[str, np.ndarray], *, source: str = "source",
               driving: str = "driving", tune: str = "none", detector: str = "hog", progress: bool = False,
               total: Optional[int] = None) -> MotionResult:
    """Judge one reenacted clip: the driving frames, the output frames (same count; time spent producing them is
    the reported time per frame), the source photo and the estimator's series (:func:`bfm_series`). A few evenly
    spaced frames of both are kept in ``samples`` when the frame count is known (``total``, or a sized input)."""
    count = total if total is not None else len(driving_frames) if hasattr(driving_frames, "__len__") else 0
    indices = sample_indices(count)
    kept_driving = FrameKeeper(driving_frames, indices, max_side=SHEET_SIDE)
    driving_series = judge.measure(kept_driving, progress=progress, total=total, desc="judging driving")
    source_descriptor, source_embedding = _identity_features(source_image, detector)
    if source_descriptor is None:
        raise NoFaceError(f"dlib finds no face in the source photo {source}")
    kept_output = FrameKeeper(output_frames, indices, max_side=SHEET_SIDE)
    timed = _Timed(iter(kept_output))
    output_series, distances, similarities = judge_outputs(judge, iter(timed), source_descriptor, source_embedding,
                                                           detector, progress, total=total)
    if len(output_series) != len(driving_series):
        raise ValueError(f"{driving}: the judge saw {len(driving_series)} driving frames but {len(output_series)} "
                         "outputs")
    return MotionResult(source=source, driving=driving, tune=tune, driving_series=driving_series,
                        output_series=output_series, bfm=bfm, dlib_distances=distances,
                        sface_similarities=similarities, seconds_per_frame=timed.seconds / max(len(output_series), 1),
                        setup_seconds=0.0,
                        samples=[(i, kept_driving.kept[i], kept_output.kept[i]) for i in indices
                                 if i in kept_driving.kept and i in kept_output.kept])


def evaluate_pair(reenactor: Any, src: Any, driving: Path, judge: FaceJudge, *, tune: str = "none",
                  setup_seconds: float = 0.0, options: Optional[ReenactOptions] = None,
                  max_frames: Optional[int] = None, detector: str = "hog", progress: bool = False) -> MotionResult:
    """Reenact the inverted source ``src`` from the clip ``driving`` (``Reenactor``'s video path with
    ``options``, default :class:`ReenactOptions`; face crops without paste-back) and judge the result; the time
    per frame covers the estimator's pass and the rendering."""
    start = time.perf_counter()
    options = (options or ReenactOptions()).with_(paste_back=False, side_by_side=False, progress=progress)
    track, frames = video_frames(reenactor, src, driving, options, max_frames=max_frames)
    measured = time.perf_counter() - start
    reference = int(np.flatnonzero(track.found.numpy())[0])
    bfm = bfm_series(track.p.numpy(), reenactor.spec.names, reference)
    result = judge_pair(judge, iter_frames(driving, max_frames), frames, src.image, bfm, source=src.name,
                        driving=str(driving), tune=tune, detector=detector, progress=progress, total=len(track.p))
    result.seconds_per_frame += measured / max(result.frames, 1)
    result.setup_seconds = setup_seconds
    return result


def evaluate_motion(reenactor: Any, sources: Sequence[Path], drivings: Sequence[Path], judge: FaceJudge, *,
                    tune: str = "none", tune_steps: Optional[int] = None, options: Optional[ReenactOptions] = None,
                    max_frames: Optional[int] = None, detector: str = "hog",
                    progress: bool = False) -> List[MotionResult]:
    """Every source photo × driving clip (each source inverted, and tuned, once; reenacted with ``options``
    as in :func:`evaluate_pair`)."""
    results = []
    bar = tqdm(total=len(sources) * len(drivings), desc="motion", unit="pair", disable=not progress)
    try:
        for source in sources:
            start = time.perf_counter()
            src = reenactor.invert(source, tune=None if tune == "none" else tune, tune_steps=tune_steps,
                                   progress=progress, name=str(source))
            setup = time.perf_counter() - start
            for driving in drivings:
                results.append(evaluate_pair(reenactor, src, Path(driving), judge, tune=tune, setup_seconds=setup,
                                             options=options, max_frames=max_frames, detector=detector,
                                             progress=progress))
                bar.update(1)
    finally:
        bar.close()
    return results


# ----------------------------------------------------------------------------------------- report

def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def markdown_report(results: Sequence[MotionResult]) -> str:
    """Markdown tables: per pair and signal the correlation / gain, identity and time; then the two links."""
    lines = ["| source | driving | tune | frames | " + " | ".join(f"{s} r / gain" for s in SIGNALS)
             + " | dlib dist. mean / max | SFace mean | s/frame |",
             "|---|---|---|---:|" + "---|" * len(SIGNALS) + "---|---:|---:|"]
    for r in results:
        ident = r.identity
        cells = [f"{_fmt(r.signals[s]['correlation'])} / {_fmt(r.signals[s]['gain'])}" for s in SIGNALS]
        lines.append(f"| {Path(r.source).name} | {Path(r.driving).name} | {r.tune} | {r.frames} | " + " | ".join(cells)
                     + f" | {_fmt(ident['dlib_mean'])} / {_fmt(ident['dlib_max'])} | {_fmt(ident['sface_mean'])} | "
                     f"{_fmt(r.seconds_per_frame, 3)} |")
    lines += ["", "Links, through the reenactor's Net3D estimator (angles: r / gain; mouth and eye: its best expression "
              "coefficient and its r, and the "
              "cross-validated R² of a linear readout from all coefficients):", "",
              "| source | driving | tune | link | " + " | ".join(SIGNALS) + " |",
              "|---|---|---|---|" + "---|" * len(SIGNALS)]
    for r in results:
        for label, link in (("driving -> estimator", r.measurement), ("estimator -> output", r.generation)):
            cells = []
            for s in SIGNALS:
                entry = link.get(s, {})
                if s in ANGLES:
                    cells.append(f"{_fmt(entry.get('correlation'))} / {_fmt(entry.get('gain'))}" if entry else "-")
                else:
                    cells.append(f"{entry.get('best') or '-'}: {_fmt(entry.get('correlation'))}, "
                                 f"R² {_fmt(entry.get('readout_r2'))}")
            lines.append(f"| {Path(r.source).name} | {Path(r.driving).name} | {r.tune} | {label} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_result(result: MotionResult, path: Path) -> Path:
    """PNG of the driving vs output series of every signal (one panel each; the estimator's angles dotted)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(SIGNALS), 1, figsize=(8, 2.1 * len(SIGNALS)), sharex=True)
    frames = np.arange(result.frames)
    for ax, name in zip(axes, SIGNALS):
        stats = result.signals[name]
        ax.plot(frames, result.driving_series.signal(name), color="tab:blue", label="driving (judge)")
        ax.plot(frames, result.output_series.signal(name), color="tab:red", label="output (judge)")
        if name in ANGLES and name in result.bfm:
            ax.plot(frames, result.bfm[name], color="tab:gray", linestyle=":", label="Net3D estimate on driving (as used)")
        ax.set_ylabel(f"{name} ({UNITS[name]})")
        ax.set_title(f"{name}: r = {_fmt(stats['correlation'])}, gain = {_fmt(stats['gain'])}", fontsize=9,
                     loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    axes[-1].set_xlabel("frame")
    fig.suptitle(f"{Path(result.source).name} driven by {Path(result.driving).name} (tune: {result.tune})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_motion_report(results: Sequence[MotionResult], output: Path, meta: Dict[str, Any]) -> Dict[str, Path]:
    """``motion.json``, ``motion.md``, and per pair in ``output`` a ``plot_<source>__<driving>__<tune>.png`` of the
    series and, where the result kept frames, a ``frames_<source>__<driving>__<tune>.jpg`` of a few driving frames
    above the outputs."""
    output.mkdir(parents=True, exist_ok=True)
    paths: Dict[str, Path] = {}
    plots, sheets = [], []
    for r in results:
        stem = f"{Path(r.source).stem}__{Path(r.driving).stem}__{r.tune}"
        plots.append(plot_result(r, output / f"plot_{stem}.png"))
        if r.samples:
            sheets.append(write_frame_sheet(r.samples, output / f"frames_{stem}.jpg"))
    rows = [r.to_json() for r in results]
    summary = acceptance(rows)
    paths["json"] = output / "motion.json"
    paths["json"].write_text(json.dumps({"meta": meta, "results": rows, "acceptance": summary}, indent=1,
                                        allow_nan=False) + "\n", encoding="utf-8")
    paths["markdown"] = output / "motion.md"
    paths["markdown"].write_text("# Motion transfer, measured by the independent judge\n\n" + markdown_report(results)
                                 + "\n## Against issue #16's targets\n\n" + acceptance_markdown(summary) + "\n"
                                 + "\n".join(f"![{p.stem}]({p.name})" for p in plots + sheets) + "\n",
                                 encoding="utf-8")
    for i, p in enumerate(plots):
        paths[f"plot{i}"] = p
    for i, p in enumerate(sheets):
        paths[f"frames{i}"] = p
    return paths
