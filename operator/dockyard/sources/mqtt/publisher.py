"""The publisher side, in `dockyard run --broker`: a tee around every source.

Each SourceUpdate passes through `AgentPublisher.observe`: the apps are placed over all
declared hosts (`fleet.placement.place`, as the controller does), each agent host's part
becomes that agent's desired state (published retained, QoS 1, with a new revision only
when its content changed), and the update goes on to the controller without the replicas
the agents run. The controller never connects to agent hosts (they have no engine URL).

Agents' status and online/offline (last will) come back on their topics; `view()` is
what `/agents`, `dockyard hosts` and `dockyard status` show.

At fleet scale (see docs/edge.md, sizing): one app's document is made once per replica
count and shared by every agent that runs it, each agent's digest is computed once per
distinct set of apps, only agents whose digest moved are published (in batches, a
bounded number in flight), and reports are kept as bytes (`reports.ReportTable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import socket
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.controller.source import Emit, Source, SourceUpdate
from dockyard.fleet.converge import DEFAULT_HOST
from dockyard.fleet.placement import HostInfo, place
from dockyard.retry import Backoff
from dockyard.spec.load import LoadedApp
from dockyard.spec.models import DockerHost

from . import topics
from .broker import BrokerConfig, MqttError
from .payload import agent_app, agent_secrets, content, digest_of, encode
from .reports import ReportTable

log = logging.getLogger("dockyard.sources.mqtt.publisher")

# Publishes awaiting their PUBACK at once, and per batch (the state file is saved after
# each batch, so a lost link mid-way republishes only what was not acknowledged).
PUBLISH_IN_FLIGHT = 64
PUBLISH_BATCH = 1000


class _Tee:
    """A source seen through the publisher: same id, same updates, agents' part taken out."""

    def __init__(self, inner: Source, publisher: AgentPublisher) -> None:
        self.inner = inner
        self.publisher = publisher

    @property
    def id(self) -> str:
        return self.inner.id

    async def run(self, emit: Emit) -> None:
        async def tee(update: SourceUpdate) -> None:
            await emit(self.publisher.observe(update))

        await self.inner.run(tee)


class AgentPublisher:
    def __init__(self, broker: BrokerConfig, state_dir: Path, settle: float = 0.5) -> None:
        self.broker = broker
        self.prefix = broker.prefix
        self.settle = settle
        self.path = state_dir / "mqtt-publisher.json"
        self._sources: dict[str, SourceUpdate] = {}
        self._assigned: dict[str, dict[tuple[str, int], str]] = {}
        self.agent_hosts: dict[str, DockerHost] = {}  # host name -> DockerHost
        # app -> agent id -> (document, secrets) last sent: kept while the app cannot be
        # placed or rendered, so a mistake in a manifest never removes it from devices.
        self._sent: dict[str, dict[str, tuple[dict[str, Any], dict[str, str]]]] = {}
        # agent id -> (content, source info): what it should be told.
        self.wanted: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        self.digests: dict[str, str] = {}  # agent id -> digest of its wanted content
        self.published: dict[str, dict[str, Any]] = self._load()
        self.retained: dict[str, dict[str, Any]] = {}  # agent -> {revision, digest} on broker
        self.reports = ReportTable()
        self.online: dict[str, str] = {}
        self.connected = False
        self._error = ""
        self._kick = asyncio.Event()

    def wrap(self, source: Source) -> Source:
        return _Tee(source, self)

    # ---- sources -------------------------------------------------------------------------

    def observe(self, update: SourceUpdate) -> SourceUpdate:
        """Record a source's update, recompute every agent's state, return the controller's
        share of the update."""
        if update.apps is None:
            return update  # invalid: the agents keep what they have, like the controller
        self._sources[update.source] = update
        shares = self._recompute()
        kept = (shares.get(a.name, a) for a in update.apps)
        apps = tuple(a for a in kept if a is not None)
        self._kick.set()
        return dataclasses.replace(update, apps=apps)

    def _recompute(self) -> dict[str, LoadedApp | None]:
        hosts: dict[str, DockerHost] = {}
        for upd in self._sources.values():
            hosts.update((h.metadata.name, h) for h in upd.hosts)
        self.agent_hosts = {n: h for n, h in hosts.items() if h.spec.agent is not None}
        infos = [HostInfo(n, dict(h.metadata.labels)) for n, h in sorted(hosts.items())]
        if DEFAULT_HOST not in hosts:
            infos.append(HostInfo(DEFAULT_HOST, {}))
        per_agent: dict[str, list[tuple[dict[str, Any], dict[str, str]]]] = {
            h.spec.agent.id: [] for h in self.agent_hosts.values() if h.spec.agent
        }
        sources: dict[str, dict[str, str]] = {}
        shares: dict[str, LoadedApp | None] = {}
        # One document per (app, replica counts), shared by all agents that get it: a
        # global app on 10,000 devices is rendered once, not 10,000 times.
        rendered: dict[tuple[int, tuple[tuple[str, int], ...]], tuple[Any, list[str]]] = {}
        sent: dict[str, dict[str, tuple[dict[str, Any], dict[str, str]]]] = {}
        for upd in self._sources.values():
            for loaded in upd.apps or ():
                result = place(loaded.app, infos, DEFAULT_HOST, self._assigned.get(loaded.name))
                if result.errors:
                    log.error(
                        "app %s cannot be placed: %s; agents keep the version they have",
                        loaded.name,
                        "; ".join(result.errors),
                    )
                    for agent_id, entry in self._sent.get(loaded.name, {}).items():
                        if agent_id in per_agent:
                            per_agent[agent_id].append(entry)
                            sent.setdefault(loaded.name, {})[agent_id] = entry
                    continue
                self._assigned[loaded.name] = {
                    (a.service, a.replica): h for h, items in result.by_host.items() for a in items
                }
                on_agents: Counter[str] = Counter()
                for host_name, items in result.by_host.items():
                    host = self.agent_hosts.get(host_name)
                    if host is None or host.spec.agent is None or not items:
                        continue
                    counts = Counter(a.service for a in items)
                    on_agents.update(counts)
                    key = (id(loaded), tuple(sorted(counts.items())))
                    if key not in rendered:
                        doc, problems = agent_app(loaded, counts)
                        rendered[key] = ((doc, agent_secrets(loaded)), problems)
                    entry, problems = rendered[key]
                    agent_id = host.spec.agent.id
                    if problems:
                        log.error(
                            "app %s cannot run on agent %s: %s",
                            loaded.name,
                            agent_id,
                            "; ".join(problems),
                        )
                        previous = self._sent.get(loaded.name, {}).get(agent_id)
                        if previous is None:
                            continue
                        entry = previous
                    per_agent[agent_id].append(entry)
                    sent.setdefault(loaded.name, {})[agent_id] = entry
                    sources[agent_id] = {"id": upd.source, "revision": upd.revision}
                if on_agents:
                    shares[loaded.name] = _controller_share(
                        loaded, on_agents, result.by_host, set(self.agent_hosts)
                    )
        self._sent = sent
        # Agents with the same apps share one body and one digest (entries are shared
        # objects, alive for this whole call, so their ids are a sound key here).
        bodies: dict[tuple[int, ...], tuple[dict[str, Any], str]] = {}
        wanted: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        digests: dict[str, str] = {}
        for agent, entries in per_agent.items():
            combo = tuple(sorted(id(e) for e in entries))
            if combo not in bodies:
                body = content(entries)
                bodies[combo] = (body, digest_of(body["apps"], body["secrets"]))
            body, digest = bodies[combo]
            wanted[agent] = (body, sources.get(agent, {}))
            digests[agent] = digest
        self.wanted, self.digests = wanted, digests
        return shares

    # ---- the link ------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep publishing what the agents should run and reading what they report."""
        backoff = Backoff(0.5, 5.0)
        identifier = f"dockyard-controller-{socket.gethostname()}-{os.getpid()}"
        while True:
            try:
                async with self.broker.client(identifier, in_flight=PUBLISH_IN_FLIGHT) as client:
                    backoff.reset()
                    self._error = ""
                    for kind in ("desired", "status", "online"):
                        await client.subscribe(topics.all_of(kind, self.prefix), qos=1)
                    self.connected = True
                    log.info("publishing agents' desired state to %s", self.broker.display)
                    reader = asyncio.create_task(self._read(client))
                    try:
                        await asyncio.sleep(self.settle)  # the retained revisions arrive
                        while not reader.done():
                            self._kick.clear()
                            await self._publish_due(client)
                            kicked = asyncio.create_task(self._kick.wait())
                            await asyncio.wait({kicked, reader}, return_when="FIRST_COMPLETED")
                            kicked.cancel()
                        reader.result()
                    finally:
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError, MqttError):
                            await reader
            except MqttError as exc:
                if self.connected:
                    log.warning("lost the broker %s: %s", self.broker.display, exc)
                elif str(exc) != self._error:  # once per new reason, not every retry
                    log.warning("cannot reach broker %s: %s (retrying)", self.broker.display, exc)
                self._error = str(exc)
            self.connected = False
            await asyncio.sleep(backoff.next())

    async def _read(self, client: Any) -> None:
        async for message in client.messages:
            parsed = topics.parse(str(message.topic), self.prefix)
            if parsed is None:
                continue
            agent, kind = parsed
            payload = message.payload
            raw = payload.encode() if isinstance(payload, str) else payload
            if not isinstance(raw, bytes | bytearray):
                continue
            if kind == "online":  # interned: 10,000 agents share two strings
                self.online[agent] = sys.intern(bytes(raw).decode("utf-8", "replace"))
                continue
            if kind == "status":
                self.reports.put(agent, bytes(raw))
                continue
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                continue
            if not isinstance(body, dict):
                continue
            if kind == "desired" and isinstance(body.get("revision"), int):
                self.retained[agent] = {
                    "revision": body["revision"],
                    "digest": body.get("digest", ""),
                }

    def due(self) -> list[tuple[str, int]]:
        """(agent, next revision) of every agent whose wanted content is not what it was
        last sent; an agent whose apps did not change is not in it."""
        due: list[tuple[str, int]] = []
        for agent in sorted(self.wanted):
            digest = self.digests[agent]
            known = self.published.get(agent, {})
            retained = self.retained.get(agent)
            reported = max(0, self.reports.revision(agent) or 0)
            revision = max(
                int(known.get("revision", 0)),
                int(retained["revision"]) if retained else 0,
                reported,
            )
            there = retained["digest"] if retained else known.get("digest")
            if revision and there == digest:
                continue
            due.append((agent, revision + 1))
        return due

    async def _publish_due(self, client: Any) -> None:
        due = self.due()
        if not due:
            return
        limit = asyncio.Semaphore(PUBLISH_IN_FLIGHT)

        async def one(agent: str, revision: int) -> None:
            body, source = self.wanted[agent]
            digest = self.digests[agent]
            async with limit:
                await client.publish(
                    topics.desired(agent, self.prefix),
                    encode(agent, revision, body, source),
                    qos=1,
                    retain=True,
                )
            log.debug(
                "agent %s: published revision %d (%d app(s))", agent, revision, len(body["apps"])
            )
            self.published[agent] = {"revision": revision, "digest": digest}
            self.retained[agent] = {"revision": revision, "digest": digest}

        try:
            for start in range(0, len(due), PUBLISH_BATCH):
                async with asyncio.TaskGroup() as group:
                    for agent, revision in due[start : start + PUBLISH_BATCH]:
                        group.create_task(one(agent, revision))
        except* MqttError as group_error:
            raise group_error.exceptions[0] from None
        finally:
            self._save()
        log.info("published a new desired state to %d agent(s)", len(due))

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return dict(data) if isinstance(data, dict) else {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.published, indent=1))
        tmp.replace(self.path)

    # ---- what users see ------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Per agent host: online/offline, the revision published and the one it runs."""
        return agents_view(self.agent_hosts, self.reports, self.online, self.published)


def agents_view(
    agent_hosts: Mapping[str, DockerHost],
    reports: Mapping[str, Mapping[str, Any]],
    online: Mapping[str, str],
    published: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for name, host in sorted(agent_hosts.items()):
        agent = host.spec.agent.id if host.spec.agent else ""
        report = reports.get(agent) or {}
        state = online.get(agent)
        view[name] = {
            "agent": agent,
            "online": None if state is None else state == "online",
            "published": (published or {}).get(agent, {}).get("revision"),
            "revision": report.get("revision"),
            "converged": report.get("converged"),
            "lastReport": report.get("at"),
            "labels": dict(host.metadata.labels),
            "apps": {
                app: {
                    "revision": st.get("revision"),
                    "converged": st.get("converged"),
                    "conditions": st.get("conditions", []),
                    "services": st.get("services", []),
                    "lastError": st.get("lastError", ""),
                }
                for app, st in (report.get("apps") or {}).items()
            },
            "pending": report.get("pending") or {},
            "locks": report.get("locks") or {},
            "rejected": report.get("rejected"),
            "lastOffline": report.get("lastOffline"),
        }
    return view


def _controller_share(
    loaded: LoadedApp, on_agents: Counter[str], by_host: Mapping[str, Any], agents: set[str]
) -> LoadedApp | None:
    """The app without the replicas agents run; None when agents run all of it. Replicated
    services keep the count placed on engine hosts (the controller places them again over
    its own hosts, the same way); global ones stay as they are (agents are not its hosts)."""
    if not any(items for host, items in by_host.items() if host not in agents):
        return None
    services = []
    for svc in loaded.app.spec.services:
        placement = svc.placement or loaded.app.spec.placement
        replicas = svc.replicas
        if placement is not None and placement.mode != "global":
            replicas = max(0, svc.replicas - on_agents.get(svc.name, 0))
        services.append(svc.model_copy(update={"replicas": replicas}))
    spec = loaded.app.spec.model_copy(update={"services": services})
    return dataclasses.replace(loaded, app=loaded.app.model_copy(update={"spec": spec}))
