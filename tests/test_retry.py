"""Retry delays (dockyard/retry.py, the one backoff helper): jittered within bounds that
double up to the cap, so a fleet that loses its broker or engine at once does not come
back at once; reset once connected; the queue's and crash loop's delays on the same curve."""

from __future__ import annotations

import random

import pytest

from dockyard.controller.queue import WorkQueue
from dockyard.retry import MIN_DELAY, Backoff, ceiling


def test_each_delay_is_drawn_below_a_doubling_ceiling_up_to_the_cap() -> None:
    draws = iter([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0])
    b = Backoff(0.5, 5.0, rand=lambda: next(draws))
    assert [b.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert b.next() == 2.5  # half the cap
    assert b.next() == MIN_DELAY  # never a tight loop
    b.reset()
    assert b.ceiling() == 0.5


def test_a_fleet_returning_at_once_is_spread_over_the_window() -> None:
    rng = random.Random(7)
    delays = []
    for _ in range(10_000):
        b = Backoff(0.5, 8.0, rand=rng.random)
        for _ in range(4):  # four failed attempts: ceiling 8 s
            b.next()
        delays.append(b.next())
    assert all(MIN_DELAY <= d <= 8.0 for d in delays)
    per_second = [sum(1 for d in delays if s <= d < s + 1) for s in range(8)]
    # Uniform: about 1,250 a second, never all in one.
    assert max(per_second) < 1_450 and min(per_second) > 1_050


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="0 < base <= cap"):
        Backoff(2.0, 1.0)


def test_a_success_starts_the_next_outage_from_the_first_delay() -> None:
    b = Backoff(1.0, 60.0, rand=lambda: 1.0)
    assert [b.next() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    b.reset()  # connected again
    assert b.next() == 1.0


def test_the_ceiling_doubles_per_attempt_and_stays_at_the_cap() -> None:
    assert [ceiling(10.0, 300.0, n) for n in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert ceiling(0.5, 5.0, 10_000) == 5.0  # no overflow after a long outage


async def test_the_work_queue_backs_off_a_failing_key_on_the_same_curve() -> None:
    queue = WorkQueue(base_delay=0.5, max_delay=4.0)
    try:
        delays = [queue.add_rate_limited("shop") for _ in range(5)]
    finally:
        queue.shutdown()
    assert delays == [ceiling(0.5, 4.0, n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
