"""Reconnect delays: exponential, capped, with full jitter.

When a broker restarts, every client it had loses its link in the same instant. A fixed
delay (or a plain doubling one) brings them all back in the same instant again, a
stampede that can take the broker down once more. Drawing each delay uniformly from
[0, ceiling], the ceiling doubling per failed attempt up to a cap, spreads N returning
clients evenly over the window, so the broker sees about N / ceiling connects a second.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Never retry in a tight loop, even when the draw is close to 0.
MIN_DELAY = 0.05


class Backoff:
    """Delays for one link's reconnect attempts; `reset()` once connected."""

    def __init__(
        self, base: float = 0.5, cap: float = 5.0, rand: Callable[[], float] = random.random
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"backoff needs 0 < base <= cap (base {base}, cap {cap})")
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rand = rand

    def ceiling(self) -> float:
        """The largest delay the next attempt may draw."""
        return min(self.cap, self.base * 2.0 ** min(self.attempt, 32))

    def next(self) -> float:
        """The delay before the next attempt, in seconds: uniform in [MIN_DELAY, ceiling]."""
        top = self.ceiling()
        self.attempt += 1
        return max(MIN_DELAY, top * self._rand())

    def reset(self) -> None:
        self.attempt = 0
