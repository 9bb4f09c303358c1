"""The engines the controller reconciles: one record per host with its event-fed cache,
the hosts sources declare (DockerHost manifests) added and removed, and relists."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard import retry
from dockyard.engine.cache import EngineCache
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.fleet.converge import DEFAULT_HOST
from dockyard.fleet.hosts import HostError, engine_for_host
from dockyard.spec.models import DockerHost
from dockyard.state.observed import ObservedState

from .triggers import apps_changed, interesting

log = logging.getLogger("dockyard.controller")


@dataclass
class Host:
    """One engine the controller reconciles, with its own event-fed cache."""

    name: str
    engine: Engine
    cache: EngineCache
    labels: dict[str, str] = field(default_factory=dict)
    declared: bool = False  # from a DockerHost manifest (else: the default engine)
    down_since: float | None = None  # monotonic time it went dark

    @property
    def dark(self) -> bool:
        return self.cache.down or (self.declared and not self.cache.connected)


def declared_hosts(by_source: Mapping[str, Mapping[str, DockerHost]]) -> dict[str, DockerHost]:
    """Every source's DockerHosts by name (a later source wins a name)."""
    declared: dict[str, DockerHost] = {}
    for per_source in by_source.values():
        declared.update(per_source)
    return declared


class Hosts:
    """The hosts by name (`local` first: the default engine), each cache calling back
    with the apps its events concern; a relist looks at every app again."""

    def __init__(
        self,
        engine: Engine,
        known_apps: Callable[[], Mapping[str, str]],  # app -> its project
        enqueue: Callable[[str], None],
        changed: Callable[[], None],
    ) -> None:
        self.known_apps, self.enqueue, self.changed = known_apps, enqueue, changed
        self.by_name: dict[str, Host] = {
            DEFAULT_HOST: Host(DEFAULT_HOST, engine, self.new_cache(DEFAULT_HOST, engine))
        }
        self._declared: dict[str, dict[str, DockerHost]] = {}  # source -> its DockerHosts

    def new_cache(self, name: str, engine: Engine) -> EngineCache:
        on_change = functools.partial(self._on_change, name)
        return EngineCache(engine, on_change, interesting=self._interesting)

    def _interesting(self, event: dict[str, Any]) -> bool:
        """Called on the event thread: does this event concern an app of ours?"""
        try:
            known = self.known_apps()
        except RuntimeError:  # changed while we looked: be safe
            return True
        return interesting(event, known)

    def _on_change(self, host_name: str, apps: set[str] | None) -> None:
        if apps is None:  # the host's engine is back: anything may have happened there
            host = self.by_name.get(host_name)
            if host is not None:
                problem = f"relist of host {host_name} after reconnect: %s"
                asyncio.get_running_loop().create_task(self.relist(host, problem))
            return
        for name in apps_changed(apps, self.known_apps()):
            self.enqueue(name)
        self.changed()

    async def relist(self, host: Host, problem: str) -> None:
        """Relist a host, then look at every app again (`problem`: how to log a failure)."""
        try:
            await host.cache.relist()
        except EngineError as exc:
            log.warning(problem, exc)
        for name in self.known_apps():
            self.enqueue(name)

    async def declare(self, source: str, hosts: Sequence[DockerHost]) -> None:
        """Hosts declared by a source: connect new ones, forget removed ones."""
        self._declared[source] = {h.metadata.name: h for h in hosts}
        declared = declared_hosts(self._declared)
        for name, spec in declared.items():
            if spec.spec.agent is not None:
                continue  # an edge agent: its state goes over MQTT (sources/mqtt/publisher.py)
            current = self.by_name.get(name)
            if current is not None:
                current.labels = dict(spec.metadata.labels)
                continue
            try:
                engine = engine_for_host(spec)
            except HostError as exc:
                log.error("%s", exc.render())
                continue
            cache = self.new_cache(name, engine)
            host = Host(name, engine, cache, dict(spec.metadata.labels), True)
            self.by_name[name] = host
            await host.cache.start()
            problem = f"host {name} is not reachable yet: %s"
            asyncio.get_running_loop().create_task(self.relist(host, problem))
            log.info("host %s added (%s)", name, spec.spec.url)
        for name in [n for n, h in self.by_name.items() if h.declared and n not in declared]:
            host = self.by_name.pop(name)
            await host.cache.stop()
            log.info("host %s is no longer declared; its containers are left as they are", name)


def has_objects(state: ObservedState, app: str) -> bool:
    return bool(state.app_containers(app)) or any(n.app == app for n in state.networks)


def app_hosts(
    hosts: Sequence[Host], placed: Mapping[str, Sequence[object]], app: str
) -> list[Host]:
    """The hosts an app is reconciled on: where it is placed, and where it still has
    objects (to remove them)."""
    return [
        h
        for h in hosts
        if placed.get(h.name) or (h.cache.synced and has_objects(h.cache.state, app))
    ]


def mark_dark(hosts: Sequence[Host], now: float) -> None:
    """Note when each host went dark (and forget it once it answers again)."""
    for host in hosts:
        if host.dark and host.down_since is None:
            host.down_since = now
        elif not host.dark:
            host.down_since = None


async def first_read(
    cache: EngineCache,
    stopping: asyncio.Event,
    enqueue: Callable[[], None],
    failed: Callable[[str], None],
) -> None:
    """Read the engine until it answers (backing off; `failed` hears why each try
    failed), then enqueue every app: until then reconciles plan nothing."""
    backoff = retry.Backoff(0.5, 10.0)
    while not stopping.is_set():
        try:
            await cache.relist()
            enqueue()
            return
        except EngineError as exc:
            failed(str(exc))
            delay = backoff.next()
            log.warning("engine not reachable yet: %s (retrying in %.1fs)", exc, delay)
            await asyncio.sleep(delay)


async def resync_loop(
    every: float, hosts: Callable[[], Sequence[Host]], enqueue: Callable[[], None]
) -> None:
    """Relist every host and enqueue every app, every `every` seconds (--resync)."""
    while True:
        await asyncio.sleep(every)
        for host in hosts():
            try:
                await host.cache.relist()
            except EngineError as exc:
                log.warning("resync of host %s: %s", host.name, exc)
        enqueue()
