"""Shared by the benchmarks: the machine a record was measured on, writing the JSON record and the markdown
table (the judged edit benchmarks), and the median time of a call (``bench_conv3x3.py``, ``bench_large_photo.py``)."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch


def machine() -> Dict[str, Any]:
    """The processor (or architecture) and the torch threads of this run."""
    return {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def write_outputs(record: Dict[str, Any], json_path: Optional[Path], text: Optional[str] = None,
                  markdown_path: Optional[Path] = None) -> None:
    """Write ``record`` as JSON to ``json_path`` (its folder made) and ``text`` to ``markdown_path``; a path that is
    None is skipped."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(record, indent=1))
    if markdown_path is not None and text is not None:
        markdown_path.write_text(text)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
