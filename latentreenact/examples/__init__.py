"""Bundled example inputs: one source photo and one short driving clip (credits in README.md here).

``example_path("astronaut")`` -> the source photo; ``example_path("smile")`` -> the driving clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

#: name -> (file, what it is)
EXAMPLES: Dict[str, tuple] = {
    "astronaut": ("astronaut.jpg", "source photo: Eileen Collins, NASA (public domain), 320x320"),
    "smile": ("smile.mp4", "driving clip: 3 s, 72 frames at 23.976 fps, 256x256, with audio (Pexels licence)"),
}


def example_path(name: str) -> Path:
    """The path of a bundled example (``KeyError`` naming the choices for an unknown name)."""
    if name not in EXAMPLES:
        raise KeyError(f"no bundled example {name!r}; choose from {', '.join(EXAMPLES)}")
    path = Path(__file__).with_name(EXAMPLES[name][0])
    if not path.is_file():
        raise FileNotFoundError(f"the bundled example {path} is missing from this installation")
    return path
