"""Evaluation inputs: aligned face crops sampled from a folder of videos, or image pairs from a CSV.

- **Self-reenactment** (one video): the first frame with a face is the source and the driving
  reference; ``frames`` more frames, evenly spaced over the rest of the clip, are the driving
  frames and their own ground truth.
- **Cross-reenactment**: the source of video i is driven by the frames of video ``perm[i]``, a
  seeded permutation without fixed points (needs two or more videos); there is no ground truth.
- **Pairs** (``pairs.csv`` with columns ``source,driving[,target]``, paths relative to the CSV):
  one driving image per row, the source itself as reference; rows with a target are self, rows
  without are cross.

Every picture is FFHQ-aligned by ``align`` (e.g. :meth:`Reenactor.driving_crop`); frames without a
usable face are skipped and counted.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Union

import numpy as np

from ..faces import NoFaceError, read_image
from ..video import is_video_path, iter_frames, probe_video

PathLike = Union[str, "os.PathLike[str]"]
AlignFn = Callable[[np.ndarray, str], Optional[np.ndarray]]


@dataclass
class VideoSample:
    """Aligned crops sampled from one video: ``crops[0]`` is the reference frame."""

    name: str
    crops: List[np.ndarray]
    frame_ids: List[int]
    skipped: int = 0


@dataclass
class EvalClip:
    """One unit of evaluation: a source, a driving reference, driving frames and (self mode) targets."""

    name: str
    mode: str
    source: np.ndarray
    reference: np.ndarray
    driving: List[np.ndarray]
    targets: Optional[List[np.ndarray]] = None
    frame_ids: List[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in ("self", "cross"):
            raise ValueError(f"mode must be 'self' or 'cross', got {self.mode!r}")
        if not self.driving:
            raise ValueError(f"{self.name}: no driving frames")
        if self.targets is not None and len(self.targets) != len(self.driving):
            raise ValueError(f"{self.name}: {len(self.targets)} targets for {len(self.driving)} driving frames")
        if not self.frame_ids:
            self.frame_ids = list(range(len(self.driving)))


def video_files(folder: PathLike) -> List[Path]:
    """The video files of a folder, sorted by name (``FileNotFoundError`` / ``ValueError`` if none)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"evaluation folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_video_path(p))
    if not files:
        raise ValueError(f"no video files (.mp4, .mov, ...) in {folder}")
    return files


def sample_video(path: PathLike, frames: int, align: AlignFn, max_source_tries: int = 30) -> VideoSample:
    """The reference crop (first frame with a face within ``max_source_tries`` frames) and up to
    ``frames`` crops evenly spaced over the rest of the clip (decoded once, streamed)."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    path = Path(path)
    total = probe_video(path).n_frames
    crops: List[np.ndarray] = []
    ids: List[int] = []
    skipped = 0
    wanted: Optional[set] = None
    for index, frame in enumerate(iter_frames(path)):
        if wanted is None:  # still looking for the reference frame
            crop = align(frame, f"{path.name} frame {index}")
            if crop is None:
                skipped += 1
                if index + 1 >= max_source_tries:
                    break
                continue
            crops.append(crop)
            ids.append(index)
            last = (total or index + 1) - 1
            picks = np.linspace(index, last, frames + 1)[1:] if last > index else []
            wanted = {int(round(x)) for x in picks} - {index}
            continue
        if not wanted or index > max(wanted):
            break
        if index in wanted:
            crop = align(frame, f"{path.name} frame {index}")
            if crop is None:
                skipped += 1
            else:
                crops.append(crop)
                ids.append(index)
    if not crops:
        raise NoFaceError(f"{path}: no face in its first {max_source_tries} frames")
    return VideoSample(path.stem, crops, ids, skipped)


def self_clips(samples: Sequence[VideoSample]) -> List[EvalClip]:
    """Self-reenactment clips: each video drives its own first frame (videos with one usable frame are left out)."""
    return [EvalClip(s.name, "self", s.crops[0], s.crops[0], s.crops[1:], s.crops[1:], s.frame_ids[1:])
            for s in samples if len(s.crops) > 1]


def derangement(n: int, seed: int) -> List[int]:
    """A seeded permutation of range(n) with no fixed point (n >= 2)."""
    if n < 2:
        raise ValueError("cross-reenactment needs at least two videos")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return [int(i) for i in perm]


def cross_clips(samples: Sequence[VideoSample], seed: int) -> List[EvalClip]:
    """Cross-reenactment clips: the source of video i driven by video ``perm[i]``."""
    usable = [s for s in samples if len(s.crops) > 1]
    perm = derangement(len(usable), seed)
    return [EvalClip(f"{s.name}<-{usable[j].name}", "cross", s.crops[0], usable[j].crops[0], usable[j].crops[1:],
                     None, usable[j].frame_ids[1:]) for s, j in zip(usable, perm)]


def pair_clips(csv_path: PathLike, align: AlignFn) -> List[EvalClip]:
    """Clips from a ``source,driving[,target]`` CSV (header required; paths relative to the CSV)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"pairs file not found: {csv_path}")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"source", "driving"} <= set(rows[0]):
        raise ValueError(f"{csv_path}: needs a header with the columns source,driving[,target] and one row or more")

    def crop(name: str, row: int) -> np.ndarray:
        path = csv_path.parent / name
        out = align(read_image(path), str(path))
        if out is None:
            raise NoFaceError(f"{csv_path} row {row}: no face in {path}")
        return out

    clips = []
    for i, row in enumerate(rows, start=2):
        source, driving = crop(row["source"], i), crop(row["driving"], i)
        target = crop(row["target"], i) if row.get("target") else None
        clips.append(EvalClip(f"row{i}:{Path(row['driving']).stem}", "self" if target is not None else "cross",
                              source, source, [driving], None if target is None else [target], [i]))
    return clips


def clips_from_videos(files: Iterable[PathLike], frames: int, align: AlignFn, modes: Sequence[str],
                      seed: int) -> List[EvalClip]:
    """Self and/or cross clips over videos (each video decoded once)."""
    samples = [sample_video(f, frames, align) for f in files]
    clips: List[EvalClip] = []
    if "self" in modes:
        clips += self_clips(samples)
    if "cross" in modes:
        clips += cross_clips(samples, seed)
    return clips
