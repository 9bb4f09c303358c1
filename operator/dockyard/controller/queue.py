"""A work queue keyed by app, as client-go's: deduplicated, one worker per key at a time,
per-key exponential backoff for failures, and delayed re-adds; and the Result a reconcile
hands back, which the worker applies: every requeue decision is made here."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from dockyard.retry import ceiling


@dataclass(frozen=True)
class Result:
    """What a reconcile asks of the queue, as controller-runtime's `Result`."""

    requeue: bool = False  # again as soon as a worker is free
    requeue_after: float | None = None  # again after this many seconds (when not failed)
    rate_limited: bool = False  # failed: again after this key's backoff
    forget: bool = True  # reset this key's backoff (False: leave it as it is)
    why: str = ""  # for the log line that says when the retry comes
    level: int = logging.WARNING

    @classmethod
    def done(cls) -> Result:
        """Converged: forget the backoff, nothing to look at again."""
        return cls()

    @classmethod
    def after(cls, seconds: float | None) -> Result:
        """Converged, but look again after `seconds` (None: no need)."""
        return cls(requeue_after=seconds)

    @classmethod
    def retry(cls, why: str, level: int = logging.WARNING) -> Result:
        """Failed: again after this key's backoff."""
        return cls(rate_limited=True, forget=False, why=why, level=level)

    @classmethod
    def wait(cls, seconds: float) -> Result:
        """Not ready to start: again after `seconds`, the backoff left as it is."""
        return cls(requeue_after=seconds, forget=False)

    @classmethod
    def untouched(cls) -> Result:
        """Nothing to do now and nothing to reset (another trigger will come)."""
        return cls(forget=False)

    def and_now(self, now: bool = True) -> Result:
        """The same, and also again as soon as a worker is free."""
        return replace(self, requeue=self.requeue or now)


class WorkQueue:
    def __init__(self, base_delay: float = 1.0, max_delay: float = 300.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._dirty: set[str] = set()  # waiting in the queue
        self._processing: set[str] = set()
        self._again: set[str] = set()  # added while processing: re-queue when done
        self._failures: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._dirty)

    def add(self, key: str) -> None:
        if self._shutdown:
            return
        if key in self._processing:
            self._again.add(key)
            return
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        if existing is not None and existing.when() <= loop.time() + delay:
            return  # an earlier retry is already scheduled
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> float:
        """Re-add after this key's backoff (base * 2**failures, capped); returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = ceiling(self.base_delay, self.max_delay, failures)
        self.add_after(key, delay)
        return delay

    def apply(self, key: str, result: Result) -> float | None:
        """Do what a reconcile of `key` asked; returns the backoff delay when it failed."""
        if result.requeue:
            self.add(key)
        if result.rate_limited:
            return self.add_rate_limited(key)
        if result.forget:
            self.forget(key)
        if result.requeue_after is not None:
            self.add_after(key, result.requeue_after)
        return None

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> str:
        while True:
            key = await self._queue.get()
            if key in self._dirty:
                self._dirty.discard(key)
                self._processing.add(key)
                return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def shutdown(self) -> None:
        self._shutdown = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
