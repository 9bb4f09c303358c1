"""The observed state of one engine, kept current by its event stream.

Reads are local (`state`); the engine is asked again only when an event says
something changed (debounced), on a periodic relist, and after reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dockyard.retry import Backoff
from dockyard.state.observed import ObservedState

from .client import Engine
from .errors import EngineError
from .expected import Expected, expected

log = logging.getLogger("dockyard.engine.cache")

Changed = Callable[[set[str] | None], None]  # app names whose objects changed; None = all

# A list that does not yet show what an event said is read again, sooner at first, until
# it does or this many seconds have passed since the event (then the resync catches it).
RECHECK_FIRST = 0.05
RECHECK_MAX = 1.0
RECHECK_FOR = 15.0


class EngineCache:
    def __init__(
        self,
        engine: Engine,
        on_change: Changed,
        debounce: float = 0.02,
        interesting: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.on_change = on_change
        # Events about objects nobody here cares about do not cost a relist.
        self.interesting = interesting or (lambda event: True)
        self.debounce = debounce
        self.state = ObservedState()
        self.connected = False
        self.down = False  # was connected, then lost the engine
        self.synced = False
        self.relists = 0
        self.events_seen = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty = asyncio.Event()
        self._stream: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = asyncio.Lock()
        # Container id -> what the list must show after its last event, and since when.
        self._expected: dict[str, tuple[Expected, float]] = {}
        self._rechecks = 0  # lists in a row that lagged behind the events
        self._recheck: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._watch, name="engine-events", daemon=True)
        self._thread.start()
        self._relister = asyncio.create_task(self._relist_loop())

    async def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            # Closing a dead socket may fail in many ways; it is gone either way.
            with contextlib.suppress(Exception):
                stream.close()
        self._relister.cancel()
        if self._recheck is not None:
            self._recheck.cancel()

    async def relist(self) -> ObservedState:
        """Ask the engine for everything now; tell the listener which apps changed."""
        async with self._lock:
            state = await asyncio.to_thread(self.engine.snapshot)
            old = self.state
            self.state = state
            self.relists += 1
            self.synced = True
            self._check_expected(state)
        changed = _changed_apps(old, state)
        if changed:
            self.on_change(changed)
        return state

    async def _relist_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)  # coalesce a burst of events into one relist
            self._dirty.clear()
            try:
                await self.relist()
            except EngineError as exc:
                log.warning("relist failed: %s", exc)

    def _mark_dirty(self) -> None:
        self._dirty.set()

    def _expect(self, what: Expected) -> None:
        self._expected[what.id] = (what, time.monotonic())

    def _check_expected(self, state: ObservedState) -> None:
        """Forget what this list shows as the events said; read again soon when it
        lags behind them (the engine's list view catches up after its events)."""
        now = time.monotonic()
        for cid, (what, since) in list(self._expected.items()):
            if what.met(state):
                del self._expected[cid]
            elif now - since > RECHECK_FOR:
                log.debug("list of %s still lags %s of %s", self.engine.name, what.action, cid)
                del self._expected[cid]
        if not self._expected:
            self._rechecks = 0
            return
        if self._recheck is None and self._loop is not None:
            delay = min(RECHECK_FIRST * 2**self._rechecks, RECHECK_MAX)
            self._rechecks += 1
            self._recheck = self._loop.call_later(delay, self._recheck_now)

    def _recheck_now(self) -> None:
        self._recheck = None
        self._dirty.set()

    def _watch(self) -> None:
        """Thread: follow the event stream; reconnect with backoff when it breaks."""
        backoff = Backoff(0.2, 5.0)
        while not self._stop.is_set():
            try:
                self._stream = self.engine.events()
                if not self.connected:
                    self.connected = True
                    self.down = False
                    log.info("watching engine %s events", self.engine.name)
                    self._signal(reconnected=True)
                backoff.reset()
                for event in self._stream:
                    self.events_seen += 1
                    if self.interesting(event):
                        self._signal(expected(event))
                    if self._stop.is_set():
                        return
            except Exception as exc:
                if self._stop.is_set():
                    return
                if self.connected:
                    log.warning("lost engine %s: %s", self.engine.name, exc)
                    self.down = True
                self.connected = False
            if self._stop.is_set():
                return
            # The stream ended (engine restarting, socket gone): retry with backoff.
            if self.connected:
                self.down = True
            self.connected = False
            self._stop.wait(backoff.next())
            self.engine.close()

    def _signal(self, what: Expected | None = None, reconnected: bool = False) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if what is not None:
            loop.call_soon_threadsafe(self._expect, what)
        loop.call_soon_threadsafe(self._mark_dirty)
        if reconnected:
            loop.call_soon_threadsafe(self.on_change, None)


def _changed_apps(old: ObservedState, new: ObservedState) -> set[str]:
    """Apps whose containers, networks or volumes differ between two snapshots."""

    def signature(state: ObservedState) -> dict[str, set[tuple[object, ...]]]:
        sig: dict[str, set[tuple[object, ...]]] = {}
        for c in state.containers:
            key = c.app or _app_from_name(c.name, "-")
            sig.setdefault(key, set()).add(
                ("c", c.id, c.name, c.state, c.health, c.config_hash, c.exit_code)
            )
        for n in state.networks:
            sig.setdefault(n.app or _app_from_name(n.name, "_"), set()).add(("n", n.id, n.name))
        for v in state.volumes:
            sig.setdefault(v.app or _app_from_name(v.name, "_"), set()).add(("v", v.name))
        return sig

    a, b = signature(old), signature(new)
    changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    if old.images != new.images:
        changed.add("*images*")
    return changed


def _app_from_name(name: str, sep: str) -> str:
    # Unlabelled objects named like an app's (a squatter) matter to that app's plan. The whole
    # name is kept: app names contain dashes, so no part of it is known to be the app's.
    return "?" + name
