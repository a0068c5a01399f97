"""A request's time limit, checked between the steps of its work (detection, tuning steps, frames
measured and rendered), so that the work itself stops, not only the page waiting for it."""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

from .errors import DemoClosedError, DemoTimeoutError

T = TypeVar("T")


class Deadline:
    """``seconds`` from now (``None``: no limit); :meth:`check` raises :class:`DemoTimeoutError` once
    they have passed, and :class:`DemoClosedError` as soon as ``closed()`` is true."""

    def __init__(self, seconds: Optional[float], closed: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._closed = closed
        self._clock = clock
        self._end = math.inf if seconds is None else clock() + float(seconds)

    def remaining(self) -> float:
        """Seconds left (``inf`` without a limit; negative once past)."""
        return self._end - self._clock()

    def check(self, *_: Any) -> None:
        """Raise if the request must stop (extra arguments are ignored, so this is a step callback)."""
        if self._closed():
            raise DemoClosedError("the demo is shutting down; this request was stopped")
        if self._clock() > self._end:
            raise DemoTimeoutError(
                f"this request took longer than the demo's time limit of {self.seconds:.0f} s and was stopped; "
                "try a shorter driving clip, fewer tuning steps or no tuning")

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, with :meth:`check` before each one."""
        for item in items:
            self.check()
            yield item
