"""Waiting for a condition in tests: one way, one default timeout, in async and plain tests.

`eventually` (async) and `wait_until` (blocking) poll a predicate until it returns something
truthy without raising, and return that value. A predicate may assert or raise: it is tried
again, and the last failure is reported if time runs out. Raise `GiveUp` from it to stop at
once (a process that a test waits on has died). Every wait uses `TIMEOUT` unless the call
names its own; a timeout is how long a failing test waits, never how long a passing one takes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: How long a wait lasts unless the call says otherwise (the machine may be loaded).
TIMEOUT = 30.0
#: How often the predicate is tried.
INTERVAL = 0.05


class GiveUp(Exception):
    """Raised by a predicate when waiting longer cannot help: it propagates at once."""


class _Attempts:
    """The deadline, and the last failure to report when it passes."""

    def __init__(self, predicate: Callable[[], object], timeout: float, what: str | None) -> None:
        self.timeout = timeout
        self.what = what or getattr(predicate, "__name__", repr(predicate))
        self.deadline = time.monotonic() + timeout
        self.last: Exception | None = None

    def failed(self, exc: Exception) -> None:
        if isinstance(exc, GiveUp):
            raise exc
        self.last = exc

    def check_deadline(self, value: object) -> None:
        if time.monotonic() <= self.deadline:
            return
        last = self.last
        detail = f": {type(last).__name__}: {last}" if last else f" (last: {value!r})"
        raise AssertionError(f"{self.what} did not hold within {self.timeout:g}s{detail}") from last


async def eventually(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = TIMEOUT,
    *,
    interval: float = INTERVAL,
    what: str | None = None,
    in_thread: bool = False,
) -> T:
    """Await `predicate` holding; return its value. It may be a coroutine function.

    A plain predicate runs on the event loop, between the loop's other tasks (an in-process
    controller sees the engine change atomically); `in_thread=True` runs it in a worker
    thread instead, for a blocking call that may hang (a Docker engine that went away)."""
    attempts = _Attempts(predicate, timeout, what)
    while True:
        value: object = None
        try:
            value = await asyncio.to_thread(predicate) if in_thread else predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            attempts.last = None
        except Exception as exc:
            attempts.failed(exc)
        attempts.check_deadline(value)
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], T],
    timeout: float = TIMEOUT,
    *,
    interval: float = INTERVAL,
    what: str | None = None,
) -> T:
    """Block until `predicate` holds; return its value (`eventually` for plain tests)."""
    attempts = _Attempts(predicate, timeout, what)
    while True:
        value: object = None
        try:
            value = predicate()
            if value:
                return value  # type: ignore[return-value]
            attempts.last = None
        except Exception as exc:
            attempts.failed(exc)
        attempts.check_deadline(value)
        time.sleep(interval)
