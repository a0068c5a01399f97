"""ordered_map: the items' order, real concurrency, a bounded number in flight, errors at their turn, early close."""
import random
import threading
import time
from typing import List

import pytest

from latentreenact.ordered_map import ordered_map


def test_results_come_in_the_items_order_whatever_finishes_first() -> None:
    rng = random.Random(0)
    delays = [rng.uniform(0.0, 0.01) for _ in range(40)]

    def work(i: int) -> int:
        time.sleep(delays[i])
        return i * i

    assert list(ordered_map(work, range(40), workers=3)) == [i * i for i in range(40)]
    assert list(ordered_map(work, [], workers=3)) == []


def test_two_workers_run_at_the_same_time_and_one_runs_in_the_calling_thread() -> None:
    barrier = threading.Barrier(2, timeout=10)  # passes only if two calls wait at once

    def meet(i: int) -> int:
        barrier.wait()
        return i

    assert list(ordered_map(meet, range(6), workers=2)) == list(range(6))
    caller = threading.get_ident()
    assert set(ordered_map(lambda _: threading.get_ident(), range(5), workers=1)) == {caller}


def test_at_most_ahead_items_are_taken_before_their_results() -> None:
    drawn: List[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(30):
            drawn.append(i)
            yield i

    results = ordered_map(lambda i: i, items(), workers=2, ahead=5)
    for k, value in enumerate(results):
        assert value == k
        assert len(drawn) - k <= 5  # items taken whose results have not come back yet, this one included
    assert drawn == list(range(30))


def test_an_error_is_raised_at_its_items_turn_after_the_earlier_results() -> None:
    def work(i: int) -> int:
        if i == 4:
            raise KeyError("item 4")
        return i

    got: List[int] = []
    with pytest.raises(KeyError, match="item 4"):
        for value in ordered_map(work, range(10), workers=2):
            got.append(value)
    assert got == [0, 1, 2, 3]


def test_closing_early_cancels_the_items_not_started() -> None:
    calls: List[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            calls.append(i)
        time.sleep(0.005)
        return i

    results = ordered_map(work, range(1000), workers=2, ahead=4)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    results.close()
    done = len(calls)
    time.sleep(0.05)
    assert len(calls) == done < 20  # nothing runs after close, and only the few taken ahead ran
