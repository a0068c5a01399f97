"""The demo's files on disk: one ``run-*`` folder per request under a work folder, removed at once
when the request fails, and pruned by age and count on a timer (a background thread), together with
old entries of the upload folder."""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

log = logging.getLogger(__name__)

RUN_PREFIX = "run-"


def _remove(path: Path) -> None:
    """Remove a file or a folder tree; one that is already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _age(path: Path, now: float) -> Optional[float]:
    """Seconds since ``path`` last changed (``None`` when it is gone)."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return None


class OutputFolders:
    """Request folders ``root/run-*``: at most ``max_count`` kept, none older than ``keep_s``; entries of
    ``uploads`` older than ``keep_s`` go too. ``every_s``: prune on a background timer that often
    (``None``: only when a new folder is made or :meth:`prune` is called)."""

    def __init__(self, root: Path, keep_s: float = 3600.0, max_count: int = 20, every_s: Optional[float] = 60.0,
                 uploads: Optional[Path] = None) -> None:
        if max_count < 1:
            raise ValueError(f"max_count must be >= 1, got {max_count}")
        if every_s is not None and every_s <= 0:
            raise ValueError(f"every_s must be positive or None, got {every_s}")
        self.root, self.uploads = Path(root), uploads
        self.keep_s, self.max_count = float(keep_s), int(max_count)
        self._active: Set[Path] = set()
        self._used: Dict[Path, float] = {}  # upload entries by the time a request last used them
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if every_s is not None:
            self._thread = threading.Thread(target=self._run, args=(float(every_s),), daemon=True,
                                            name="latentreenact-demo-prune")
            self._thread.start()

    @contextlib.contextmanager
    def new(self) -> Iterator[Path]:
        """A fresh folder for one request (the others are pruned, leaving room for it); removed if the
        request fails."""
        with self._lock:
            folder = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=self.root))
            self._active.add(folder)
        try:
            self.prune()
            yield folder
        except BaseException:
            _remove(folder)
            raise
        finally:
            with self._lock:
                self._active.discard(folder)

    def prune(self, now: Optional[float] = None) -> List[Path]:
        """Remove request folders beyond the newest ``max_count`` or older than ``keep_s`` (never one in
        use) and upload entries older than ``keep_s``; returns what was removed."""
        now = time.time() if now is None else now
        removed: List[Path] = []
        with self._lock:
            ages = [(age, folder) for folder in self.root.glob(f"{RUN_PREFIX}*")
                    if folder not in self._active and (age := _age(folder, now)) is not None]
            ages.sort(key=lambda pair: pair[0])  # newest first
            room = max(self.max_count - len(self._active), 0)
            removed += [folder for i, (age, folder) in enumerate(ages) if i >= room or age > self.keep_s]
            if self.uploads is not None and self.uploads.is_dir():
                removed += [entry for entry in self.uploads.iterdir()
                            if (age := _age(entry, now)) is not None
                            and min(age, now - self._used.get(entry, -math.inf)) > self.keep_s]
                for entry in removed:
                    self._used.pop(entry, None)
            for path in removed:
                _remove(path)
        if removed:
            log.info("removed %d old output(s)", len(removed))
        return removed

    def mark_used(self, path: Path, now: Optional[float] = None) -> None:
        """Note that a request uses the upload ``path``: its entry under ``uploads`` is kept for ``keep_s`` from now
        (a live stream asks for its source photo on every frame, long after the upload; the file is not touched,
        so caches keyed on its time stay valid)."""
        if self.uploads is None:
            return
        try:
            parts = Path(path).resolve().relative_to(self.uploads.resolve()).parts
        except (ValueError, OSError):  # not an upload of ours
            return
        if parts:
            with self._lock:
                self._used[self.uploads / parts[0]] = time.time() if now is None else now

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.prune()
            except OSError as exc:  # a folder vanishing under us is not worth stopping the timer
                log.warning("pruning old outputs failed: %s", exc)

    def close(self) -> None:
        """Stop the timer (the folders stay)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
