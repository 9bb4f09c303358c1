"""The history lives on the app's hosts (docs/rollouts.md): read once per app and host
before the app's first reconcile there, written back after each save (one writer per app
at a time). Mirrors (the cluster, in Kubernetes mode) are read and written the same way."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dockyard.fleet.converge import DEFAULT_HOST

from .history import HistoryStore, read_newest, write_each
from .hosts import Host

log = logging.getLogger("dockyard.controller")

# How long after start an app waits for a connecting host's history before reconciling.
HISTORY_WAIT = 30.0


class HistoryMirror(Protocol):
    """Another place that keeps each app's history record beside its hosts (the operator
    keeps one in the cluster). Errors are raised as exceptions whose text says what."""

    @property
    def name(self) -> str: ...

    async def read(self, app: str) -> dict[str, Any] | None: ...

    async def write(self, app: str, record: dict[str, Any]) -> None: ...


class HistorySync:
    def __init__(
        self,
        store: HistoryStore,
        hosts: Callable[[], Mapping[str, Host]],
        images: Callable[[str], list[str]],
        wait: float = HISTORY_WAIT,
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.images = images  # app -> the images its history travels with
        self.read_from: set[tuple[str, str]] = set()  # (app, host) read once
        self.app_hosts: dict[str, list[str]] = {}  # where each app was reconciled last
        self.writers: dict[str, asyncio.Task[None]] = {}
        self._unsent: dict[str, dict[str, Any]] = {}
        self._wait_until = time.monotonic() + wait
        self.mirrors: list[HistoryMirror] = []
        store.on_save = self.saved

    async def read(self, name: str) -> bool:
        """Each host once per app, as soon as it answers: take the newest history they
        hold (another machine's `dockyard apply`, or this controller before a restart with
        another state folder). A host is written only once read, so a host that answers
        late never has its history replaced by one that did not know it. False while a
        host that is not dark has not been read yet (for HISTORY_WAIT after start): the
        app waits, so nothing is recorded that does not continue that host's history."""
        waiting = False
        for mirror in self.mirrors:
            if (name, f"mirror:{mirror.name}") in self.read_from:
                continue
            try:
                record = await mirror.read(name)
            except Exception as exc:  # read again next reconcile; wait for it a while
                log.warning("app %s: history not read from %s: %s", name, mirror.name, exc)
                waiting = waiting or time.monotonic() < self._wait_until
                continue
            self.read_from.add((name, f"mirror:{mirror.name}"))
            if self.store.adopt(name, record):
                log.info("app %s: history read from %s", name, mirror.name)
        for host in list(self.hosts().values()):
            if (name, host.name) in self.read_from or host.dark:
                continue
            if not host.cache.synced:
                waiting = waiting or time.monotonic() < self._wait_until
                continue
            record, problems = await asyncio.to_thread(read_newest, name, [host.engine])
            for problem in problems:
                log.warning("app %s: history not read from %s", name, problem)
            if problems:
                continue
            self.read_from.add((name, host.name))
            if self.store.adopt(name, record):
                log.info("app %s: history read from host %s", name, host.name)
        return not waiting

    def saved(self, name: str, record: dict[str, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not running (a test or a tool): the state folder has it
        self._unsent[name] = record
        if name not in self.writers:
            self.writers[name] = loop.create_task(self._write(name))

    async def _write(self, name: str) -> None:
        try:
            while name in self._unsent:
                record = self._unsent.pop(name)
                read = {h for a, h in self.read_from if a == name}
                known = self.hosts()
                hosts = [
                    known[h]
                    for h in self.app_hosts.get(name, [DEFAULT_HOST])
                    if h in known and h in read and not known[h].dark
                ]
                problems = await asyncio.to_thread(
                    write_each, name, record, [h.engine for h in hosts], self.images(name)
                )
                for problem in problems:
                    log.warning("app %s: history not stored on %s", name, problem)
                for mirror in self.mirrors:
                    if (name, f"mirror:{mirror.name}") not in self.read_from:
                        continue  # never replace a copy that was not read
                    try:
                        await mirror.write(name, record)
                    except Exception as exc:  # the hosts have it; the next save tries again
                        log.warning("app %s: history not stored in %s: %s", name, mirror.name, exc)
        finally:
            self.writers.pop(name, None)

    async def flush(self) -> None:
        """Wait until what was recorded reached the hosts."""
        await asyncio.gather(*self.writers.values(), return_exceptions=True)
