"""The engines the controller reconciles: one record per host with its event-fed cache,
and the hosts sources declare (DockerHost manifests) added and removed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.engine.cache import EngineCache
from dockyard.engine.client import Engine
from dockyard.engine.observed import ObservedState
from dockyard.fleet.hosts import HostError, engine_for_host
from dockyard.spec.models import DockerHost

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


async def set_hosts(
    hosts: dict[str, Host],
    declared: Mapping[str, DockerHost],
    new_cache: Callable[[Engine], EngineCache],
    added: Callable[[Host], Awaitable[None]],
) -> None:
    """Connect the declared hosts not known yet (`added` hears each, its cache started),
    update the labels of known ones, forget the ones no longer declared."""
    for name, spec in declared.items():
        if spec.spec.agent is not None:
            continue  # an edge agent: its state goes over MQTT (dockyard.mqtt.publisher)
        current = hosts.get(name)
        if current is not None:
            current.labels = dict(spec.metadata.labels)
            continue
        try:
            engine = engine_for_host(spec)
        except HostError as exc:
            log.error("%s", exc.render())
            continue
        host = Host(name, engine, new_cache(engine), dict(spec.metadata.labels), True)
        hosts[name] = host
        await host.cache.start()
        await added(host)
        log.info("host %s added (%s)", name, spec.spec.url)
    for name in [n for n, h in hosts.items() if h.declared and n not in declared]:
        host = hosts.pop(name)
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
