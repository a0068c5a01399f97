"""An order-keeping, bounded map over worker threads, for per-frame work that releases the GIL.

dlib's detector and shape predictor, PIL's transforms and scipy's filters release the GIL, so a face
detected and aligned in one thread does not hold up the next frame's in another: on two cores the
driving clip's measuring pass runs close to twice as fast, with exactly the same per-frame results
(every frame is computed as before, only on another thread). Items are consumed lazily and at most
``ahead`` results are in flight, so a long streamed clip never sits in memory.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Deque, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, ahead: int = 0) -> Iterator[R]:
    """``map(fn, items)`` computed by ``workers`` threads, results in the items' order.

    ``ahead``: at most this many items are submitted before their results are taken (default and
    minimum: ``2 * workers``). ``workers <= 1`` runs ``fn`` in the calling thread, one item at a time. An
    exception raised by ``fn`` is raised here at its item's turn; closing the iterator early (or an
    exception) cancels the items not yet started and waits for the running ones.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    ahead = max(int(ahead), 2 * int(workers))
    pending: Deque[Future] = deque()
    pool = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="ordered_map")
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


__all__ = ["ordered_map"]
