"""Pieces shared by the trainers: the loop skeleton (:class:`TrainLoop`), every RNG state in a
checkpoint, the run folder and its state file, the metrics log, the LR schedule, shuffled batches.

A trainer that saves :func:`rng_state` with its model and optimiser and restores it with
:func:`set_rng_state` continues bit-identically after an interruption (same device).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm.auto import tqdm

from .fileio import atomic_path, read_torch_file, update_with_state

log = logging.getLogger(__name__)

__all__ = ["TrainLoop", "rng_state", "save_run_state", "set_rng_state", "start_run", "state_digest", "truncate_metrics",
           "warmup_cosine", "write_metrics"]


def state_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's tensors (by name): in a run's config, so that ``--resume`` with other weights (another
    generator of the same shape) is refused as a different run."""
    digest = hashlib.sha256()
    update_with_state(digest, module)
    return digest.hexdigest()


def rng_state(*generators: torch.Generator) -> Dict[str, Any]:
    """Global torch / numpy / python / CUDA states plus those of ``generators`` (in order)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {"torch": torch.get_rng_state(), "generators": [g.get_state() for g in generators],
            "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                      "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
            "python": {"version": py_state[0], "state": torch.tensor(py_state[1], dtype=torch.int64),
                       "gauss": py_state[2]},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: Mapping[str, Any], *generators: torch.Generator) -> None:
    """Restore what :func:`rng_state` saved (the ``generators`` in the same order)."""
    torch.set_rng_state(state["torch"])
    saved: Sequence[torch.Tensor] = state["generators"]
    if len(saved) != len(generators):
        raise ValueError(f"the checkpoint holds {len(saved)} generator states, expected {len(generators)}")
    for g, s in zip(generators, saved):
        g.set_state(s)
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["gauss"]))
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_metrics(path: Path, record: Dict[str, Any]) -> None:
    """Append one JSON line to ``path``."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records after ``step`` (written by an interrupted run past its last checkpoint)."""
    if not path.is_file():
        return

    keep = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


def warmup_cosine(steps: int, floor: float = 0.01) -> Callable[[int], float]:
    """LR factor: linear warm-up over min(500, steps/20) steps, then cosine decay to ``floor``."""
    warmup = max(1, min(500, steps // 20))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))

    return factor


def start_run(out: Path, resume: bool, fmt: str, version: int, config: Mapping[str, Any],
              what: str) -> "Dict[str, Any] | None":
    """Open a trainer's run folder. ``resume``: read ``out/checkpoint.pt``, check its format,
    version and that every ``config`` item is unchanged, drop metric records past its step and
    return it. Otherwise refuse a folder that already holds a run, create it, clear its metrics
    log and return None. ``what`` names the trainer in error messages."""
    ckpt, metrics = out / "checkpoint.pt", out / "metrics.jsonl"
    if resume:
        if not ckpt.is_file():
            raise FileNotFoundError(f"no training checkpoint to resume at {ckpt}")

        state = read_torch_file(ckpt)
        if not isinstance(state, dict) or state.get("format") != fmt or state.get("format_version") != version:
            raise ValueError(f"{ckpt}: not {what} training checkpoint (version {version})")
        saved = state["config"]
        differ = sorted(k for k in set(config) | set(saved) if saved.get(k) != config.get(k))
        if differ:
            raise ValueError(f"{ckpt}: cannot resume a different run (changed: {', '.join(differ)}); "
                             "use the same options and data or start afresh")
        truncate_metrics(metrics, int(state["step"]))
        return state
    if ckpt.exists():
        raise ValueError(f"{out} already holds a training run (checkpoint.pt); resume it or use another folder")
    out.mkdir(parents=True, exist_ok=True)
    if metrics.exists():
        metrics.unlink()
    return None


def save_run_state(out: Path, fmt: str, version: int, config: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    """Write ``out/checkpoint.pt`` atomically: format, version, config and the trainer's ``state``."""
    with atomic_path(out / "checkpoint.pt") as tmp:
        torch.save({"format": fmt, "format_version": version, "config": dict(config), **state}, tmp)


def take_batch(perm: torch.Tensor, pos: int, n: int, batch_size: int,
               generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """The next ``batch_size`` rows of a shuffled pass over ``n`` samples: ``(rows, perm, pos)``; a new
    permutation (from ``generator``) starts when the current one has too few rows left. ``perm`` and
    ``pos`` are part of a trainer's checkpoint, so a resumed run draws the same batches."""
    if pos + batch_size > len(perm):
        perm, pos = torch.randperm(n, generator=generator), 0
    return perm[pos:pos + batch_size], perm, pos + batch_size


@dataclass(frozen=True)
class TrainLoop:
    """The skeleton the trainers share: optimisation steps up to ``steps`` (or up to ``stop_after``,
    stopping as an interruption would), an evaluation every ``eval_every`` steps and after the last
    one, and the run state saved every ``checkpoint_every`` steps and where the loop stops."""

    steps: int
    eval_every: int
    checkpoint_every: int
    desc: str
    stop_after: Optional[int] = None
    progress: bool = False

    @property
    def end(self) -> int:
        """The step this run stops at."""
        return self.steps if self.stop_after is None else min(self.steps, int(self.stop_after))

    def run(self, step: int, train_step: Callable[[], Mapping[str, str]], evaluate: Callable[[int], Any],
            save_state: Callable[[int], Any]) -> int:
        """Run from ``step``: ``train_step()`` makes one step and returns the progress bar's postfix;
        ``evaluate(step)`` and ``save_state(step)`` follow the steps that call for them. Returns the
        step reached."""
        with tqdm(total=self.steps, initial=step, unit="step", desc=self.desc, disable=not self.progress) as bar, \
                _interrupt_after_step() as interrupted:
            while step < self.end:
                postfix = train_step()
                step += 1
                bar.update(1)
                bar.set_postfix(**postfix)
                if step % self.eval_every == 0 or step == self.steps:
                    evaluate(step)
                saved = step % self.checkpoint_every == 0 or step == self.end
                if saved or interrupted.is_set():
                    save_state(step)
                if interrupted.is_set() and step < self.end:  # after the step and its state: --resume goes on
                    raise KeyboardInterrupt                       # (on the last step: the run is complete)
        return step


@contextlib.contextmanager
def _interrupt_after_step() -> Iterator[threading.Event]:
    """Ctrl-C (SIGINT) sets the yielded event, so that the loop finishes the step it is in and saves the run state
    before it stops; a second Ctrl-C stops at once, as usual. Nothing is changed outside the main thread, nor
    where SIGINT is not Python's default handler (ignored, as for a job started with ``&`` by a script, or handled
    by the caller)."""
    interrupted = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield interrupted
        return

    def handler(signum: int, frame: Any) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        log.warning("interrupted: finishing this step and saving the run state (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
