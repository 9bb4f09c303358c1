"""Status back to Kubernetes: `.status` of Apps and DockerHosts, and Events.

The controller calls `listener` after every reconcile; writes are coalesced per app
and made only when the status document changed, so an idle operator writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from dockyard.controller.status import AppStatus
from dockyard.fleet.hosts import HostStatus

from .api import KubeApi, NotFound, ObjectRef, now_rfc3339
from .source import AppRecord, KubernetesSource

log = logging.getLogger("dockyard.kubernetes.status")

COMPONENT = "dockyard-operator"


def _condition(type_: str, status: str, reason: str, message: str, since: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason or ("AsExpected" if status == "False" else "Unknown"),
        "message": message,
        "lastTransitionTime": since,
    }


def app_status_doc(
    status: AppStatus | None, record: AppRecord, observed: int | None
) -> dict[str, Any]:
    """The `.status` of an App: the controller's status, in Kubernetes' shape."""
    doc: dict[str, Any] = {}
    conditions: list[dict[str, str]] = []
    if status is not None:
        for c in status.conditions:
            conditions.append(
                _condition(c.type, c.status, c.reason, c.message, c.lastTransitionTime)
            )
        desired = sum(s.desired for s in status.services)
        running = sum(s.running for s in status.services)
        doc.update(
            ready=f"{running}/{desired}",
            hosts=",".join(sorted(h for h, names in status.placement.items() if names)),
            services=[
                {
                    "name": s.name,
                    "desired": s.desired,
                    "running": s.running,
                    "healthy": s.healthy,
                    "restarts": s.restarts,
                    "containers": s.containers,
                }
                for s in status.services
            ],
            placement=status.placement,
            rollout=status.rollout,
            lastError=status.lastError,
            driftRepairs=status.driftRepairs,
            restarts=status.restarts,
        )
        if status.appRevision is not None:
            doc["appRevision"] = status.appRevision
        if observed is not None:
            doc["observedGeneration"] = observed
    problem = record.conflict or record.invalid
    if problem is not None:
        reason = "NameConflict" if record.conflict else "InvalidSpec"
        now = now_rfc3339()
        kept = "; the last valid spec keeps running" if status is not None else ""
        by_type = {c["type"]: c for c in conditions}
        old = by_type.get("Degraded")
        since = old["lastTransitionTime"] if old and old["status"] == "True" else now
        by_type["Degraded"] = _condition("Degraded", "True", reason, problem + kept, since)
        if status is None or record.conflict:
            for type_ in ("Ready", "Progressing"):
                old = by_type.get(type_)
                keep = old["lastTransitionTime"] if old and old["status"] == "False" else now
                by_type[type_] = _condition(type_, "False", reason, problem, keep)
        conditions = [by_type[t] for t in ("Ready", "Progressing", "Degraded") if t in by_type]
        doc["observedGeneration"] = record.generation
        doc["lastError"] = problem
    doc["conditions"] = conditions
    return doc


@dataclass
class _Seen:
    doc: dict[str, Any] | None = None
    posted: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, reason)


class StatusWriter:
    def __init__(self, api: KubeApi, source: KubernetesSource) -> None:
        self.api = api
        self.source = source
        self._statuses: dict[str, AppStatus | None] = {}
        self._dirty: set[str] = set()
        self._seen: dict[tuple[str, str, str], _Seen] = {}
        self._wake = asyncio.Event()
        self.writes = 0

    def listener(self, name: str, status: AppStatus | None) -> None:
        """A controller status listener: remember, write soon."""
        self._statuses[name] = status
        self._dirty.add(name)
        self._wake.set()

    def records_changed(self) -> None:
        """The source saw new objects: write what it alone knows (invalid specs, conflicts)."""
        for name, record in self.source.records.items():
            if record.invalid or name not in self._statuses:
                self._dirty.add(name)
        for record in self.source.conflicts():
            self._dirty.add(f"{record.namespace}/{record.name}")
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(0.05)

    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for name in sorted(dirty):
            try:
                await self._write_app(name)
            except Exception as exc:
                log.warning("status of app %s: %s", name, exc)

    async def _write_app(self, name: str) -> None:
        if "/" in name:  # a conflicting App in another namespace
            namespace, _, obj = name.partition("/")
            record = next(
                (r for r in self.source.conflicts() if (r.namespace, r.name) == (namespace, obj)),
                None,
            )
            status = None
        else:
            record = self.source.records.get(name)
            status = self._statuses.get(name)
        if record is None:
            return
        key = ("apps", record.namespace, record.name)
        seen = self._seen.setdefault(key, _Seen())
        observed = (seen.doc or {}).get("observedGeneration")
        if status is not None:
            progressing = status.condition("Progressing")
            # While a new spec is being applied, the other conditions still describe the
            # old one: the generation counts as observed once the reconcile has finished.
            applying = (
                progressing is not None
                and progressing.status == "True"
                and progressing.reason in ("Applying", "RollingUpdate")
            )
            if not applying:
                observed = self.source.generation_at(status.revision, name) or observed
        doc = app_status_doc(status, record, observed)
        if seen.doc == doc:
            return
        try:
            await self.api.patch_status("apps", record.namespace, record.name, doc)
        except NotFound:
            self._seen.pop(key, None)
            return
        self.writes += 1
        seen.doc = doc
        await self._events(record, seen, doc)

    async def _events(self, record: AppRecord, seen: _Seen, doc: dict[str, Any]) -> None:
        """One Event per condition transition worth telling: what dockyard did or found."""
        ref = ObjectRef("App", record.namespace, record.name, record.uid)
        for cond in doc["conditions"]:
            key = (cond["status"], cond["reason"])
            if seen.posted.get(cond["type"]) == key:
                continue
            first = cond["type"] not in seen.posted
            seen.posted[cond["type"]] = key
            type_, status, reason = cond["type"], cond["status"], cond["reason"]
            if type_ == "Ready" and status == "True":
                await self.post(ref, "Normal", "Ready", f"all replicas ready ({doc.get('ready')})")
            elif type_ == "Progressing" and status == "True" and reason != "Converging":
                await self.post(ref, "Normal", reason, cond["message"] or "applying")
            elif type_ == "Degraded" and status == "True":
                await self.post(ref, "Warning", reason, cond["message"])
            elif type_ == "Degraded" and status == "False" and not first:
                await self.post(ref, "Normal", "Recovered", "no longer degraded")

    async def post(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        await self.api.post_event(ref, type_, reason, message, COMPONENT)

    # ---- DockerHosts -------------------------------------------------------------------

    async def write_host(self, record: AppRecord, probed: HostStatus | None) -> None:
        """Status of a DockerHost: reachability and engine version (or why it is invalid)."""
        now = now_rfc3339()
        doc: dict[str, Any] = {"observedGeneration": record.generation}
        if record.invalid or probed is None:
            message = record.invalid or "not probed"
            doc.update(reachable=False, error=message)
            ready = _condition("Ready", "False", "InvalidSpec", message, now)
        elif probed.reachable:
            doc.update(
                reachable=True,
                engineVersion=probed.version or "",
                runningContainers=probed.running or 0,
                error="",
            )
            ready = _condition("Ready", "True", "Reachable", f"engine {probed.version}", now)
        else:
            message = probed.error or "unreachable"
            doc.update(reachable=False, error=message)
            ready = _condition("Ready", "False", "Unreachable", message, now)
        key = ("dockerhosts", record.namespace, record.name)
        seen = self._seen.setdefault(key, _Seen())
        old = seen.doc or {}
        old_ready = (old.get("conditions") or [{}])[0]
        if old_ready.get("status") == ready["status"]:
            ready["lastTransitionTime"] = old_ready.get("lastTransitionTime", now)
        doc["conditions"] = [ready]
        if probed is not None and probed.last_contact is not None:
            doc["lastContact"] = probed.last_contact.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif "lastContact" in old:
            doc["lastContact"] = old["lastContact"]
        if {k: v for k, v in old.items() if k != "lastContact"} == {
            k: v for k, v in doc.items() if k != "lastContact"
        }:
            return
        try:
            await self.api.patch_status("dockerhosts", record.namespace, record.name, doc)
        except NotFound:
            self._seen.pop(key, None)
            return
        self.writes += 1
        seen.doc = doc
        if old_ready.get("status") != ready["status"]:
            ref = ObjectRef("DockerHost", record.namespace, record.name, record.uid)
            kind = "Normal" if ready["status"] == "True" else "Warning"
            await self.post(ref, kind, ready["reason"], ready["message"])
