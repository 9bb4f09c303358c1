"""Retry delays: exponential, capped, with full jitter; the one backoff helper of dockyard.

Used wherever something reconnects or retries after a failure: the engine's event stream
(engine/cache.py), the controller's first relist and its sources, the Kubernetes watch's
first list and leader election, the MQTT agent and publisher. It imports nothing of
dockyard, so every layer may use it. The work queue's per-key backoff and the crash-loop
restart delay are deterministic (as controller-runtime's), and share `ceiling`.

Why jitter: when a broker or an engine restarts, every client it had loses its link in
the same instant. A fixed delay (or a plain doubling one) brings them all back in the
same instant again, a stampede that can take the server down once more. Drawing each
delay uniformly from [0, ceiling], the ceiling doubling per failed attempt up to a cap,
spreads N returning clients evenly over the window, so the server sees about
N / ceiling connects a second.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Never retry in a tight loop, even when the draw is close to 0.
MIN_DELAY = 0.05


def ceiling(base: float, cap: float, attempt: int) -> float:
    """`base` doubled per failed attempt before this one (0 for the first), at most `cap`."""
    return min(cap, base * 2.0 ** min(attempt, 32))


class Backoff:
    """Delays for one link's reconnect (or one operation's retry) attempts; `reset()` once
    it succeeded, so the next failure starts again from `base`."""

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
        return ceiling(self.base, self.cap, self.attempt)

    def next(self) -> float:
        """The delay before the next attempt, in seconds: uniform in [MIN_DELAY, ceiling]."""
        top = self.ceiling()
        self.attempt += 1
        return max(MIN_DELAY, top * self._rand())

    def reset(self) -> None:
        self.attempt = 0
