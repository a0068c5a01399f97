"""A few frames of a reenacted clip side by side with the driving frames, so that a run's numbers come with
pictures to look at (``eval motion`` writes one sheet per pair beside its plot).

:class:`FrameKeeper` passes a stream of frames through unchanged and keeps copies of the ones at chosen indices
(:func:`sample_indices`: evenly spaced, first and last included); :func:`write_frame_sheet` lays the kept driving
and output frames out as two rows of square tiles, each driving tile labelled with its frame number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["FrameKeeper", "SHEET_FRAMES", "sample_indices", "write_frame_sheet"]

#: frames per sheet
SHEET_FRAMES = 6


def sample_indices(total: int, count: int = SHEET_FRAMES) -> List[int]:
    """``count`` evenly spaced frame indices of a clip of ``total`` frames, the first and the last included (all of
    them when the clip is shorter)."""
    if total < 1:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, min(count, total))})


class FrameKeeper:
    """Iterate over ``frames`` unchanged, keeping a copy of the frames at ``indices`` (``kept``: index -> frame),
    shrunk so that the longer side is at most ``max_side`` when given (a sheet needs no full-size video frames)."""

    def __init__(self, frames: Iterable[np.ndarray], indices: Sequence[int], max_side: Optional[int] = None) -> None:
        self.frames, self.indices, self.max_side = frames, set(indices), max_side
        self.kept: Dict[int, np.ndarray] = {}

    def __iter__(self) -> Iterator[np.ndarray]:
        for i, frame in enumerate(self.frames):
            if i in self.indices:
                self.kept[i] = self._copy(frame)
            yield frame

    def _copy(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        if self.max_side is None or max(height, width) <= self.max_side:
            return np.array(frame, copy=True)
        scale = self.max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return np.asarray(Image.fromarray(np.asarray(frame, dtype=np.uint8)).resize(size, Image.LANCZOS))


def _tile(frame: np.ndarray, size: int) -> Image.Image:
    image = Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert("RGB")
    side = min(image.size)  # the centred square: driving frames are often wider than tall
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)


def write_frame_sheet(samples: Sequence[Tuple[int, np.ndarray, np.ndarray]], path: Path, tile: int = 160) -> Path:
    """JPEG of the ``(index, driving frame, output frame)`` samples: driving frames in the top row (centre square,
    labelled with the frame number), the outputs below them. ValueError when there is nothing to show."""
    if not samples:
        raise ValueError("no frames to lay out")
    sheet = Image.new("RGB", (tile * len(samples), 2 * tile))
    draw = ImageDraw.Draw(sheet)
    for column, (index, driving, output) in enumerate(samples):
        sheet.paste(_tile(driving, tile), (column * tile, 0))
        sheet.paste(_tile(output, tile), (column * tile, tile))
        label = f"frame {index}"
        box = draw.textbbox((0, 0), label)
        draw.rectangle((column * tile, 0, column * tile + box[2] + 6, box[3] + 6), fill=(0, 0, 0))
        draw.text((column * tile + 3, 3), label, fill=(255, 255, 255))
    path = Path(path)
    sheet.save(path, quality=88)
    return path
