"""Shared by the judged edit benchmarks (``bench_controls.py``, ``bench_editability.py``,
``bench_direction_edits.py``): the machine a record was measured on, and writing the JSON record and the
markdown table."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Dict, Optional

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
