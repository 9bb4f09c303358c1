"""App status, Kubernetes style: conditions with reason and message, replica counts;
and how a reconcile's findings become the status (pure)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.apply.executor import ApplyResult
from dockyard.plan.desired import DesiredApp
from dockyard.plan.operations import Kind, Operation
from dockyard.state.observed import ObservedState

from .crashloop import CrashLoop, crash_looping, restarts_on
from .image_poll import REASON as IMAGE_PULL_FAILED


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Condition:
    type: str  # Ready | Progressing | Degraded
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""
    lastTransitionTime: str = field(default_factory=lambda: _now())  # RFC 3339


@dataclass
class ServiceStatus:
    name: str
    desired: int
    running: int = 0
    healthy: int = 0
    restarts: int = 0
    containers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AppStatus:
    name: str
    source: str = ""
    revision: str = ""
    observedGeneration: str = ""
    conditions: list[Condition] = field(default_factory=list)
    services: list[ServiceStatus] = field(default_factory=list)
    lastError: str = ""
    lastReconcileTime: float = 0.0
    reconciles: int = 0
    restarts: int = 0
    driftRepairs: int = 0
    placement: dict[str, list[str]] = field(default_factory=dict)  # host -> containers
    # The revision in `dockyard history` running now, and the last rollout's story:
    # {"revision": N, "phase": …, "message": …, "pinnedTo": M (while rolled back)}.
    appRevision: int | None = None
    rollout: dict[str, Any] = field(default_factory=dict)

    def set_condition(self, type_: str, status: str, reason: str = "", message: str = "") -> None:
        for cond in self.conditions:
            if cond.type == type_:
                if cond.status != status:
                    cond.lastTransitionTime = _now()
                cond.status, cond.reason, cond.message = status, reason, message
                return
        self.conditions.append(Condition(type_, status, reason, message))

    def failed(self, reason: str, message: str, ready: bool | None = None) -> None:
        """Degraded for `reason`, with `message` as the last error (and not Ready)."""
        self.lastError = message
        self.set_condition("Degraded", "True", reason, message)
        if ready is False:
            self.set_condition("Ready", "False", reason, message)

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def replica_counts(
    desired: DesiredApp, observed: ObservedState, restarts: dict[str, int]
) -> tuple[list[ServiceStatus], list[str], list[str]]:
    """Per-service counts; why desired containers are not ready yet; and of those, the
    ones no waiting will fix (a one-shot container that failed: the engine will not run
    it again, restart: no or on-failure with its retries spent)."""
    services: dict[str, ServiceStatus] = {}
    not_ready: list[str] = []
    failed: list[str] = []
    for d in desired.containers:
        svc = services.setdefault(d.service, ServiceStatus(d.service, 0))
        svc.desired += 1
        obs = observed.container_named(d.name)
        if obs is None or obs.app != d.app:
            not_ready.append(f"{d.name} is missing")
            continue
        svc.restarts += restarts.get(d.name, 0)
        svc.containers.append(
            {"name": obs.name, "state": obs.state, "health": obs.health, "status": obs.status}
        )
        one_shot = d.config.restart == "no" or d.config.restart.startswith("on-failure")
        completed = one_shot and obs.state == "exited" and obs.exit_code == 0
        if obs.running:
            svc.running += 1
        if obs.health == "healthy":
            svc.healthy += 1
        if obs.config_hash != d.config_hash:
            not_ready.append(f"{d.name} has an old config")
        elif completed:
            continue
        elif one_shot and obs.state == "exited" and obs.exit_code not in (None, 0):
            failed.append(f"{d.name} exited (exit code {obs.exit_code})")
            not_ready.append(failed[-1])
        elif not obs.running:
            not_ready.append(f"{d.name} is {obs.state}")
        elif obs.health not in (None, "healthy"):
            not_ready.append(f"{d.name} is {obs.health}")
    # Services scaled to zero still show up.
    return list(services.values()), not_ready, failed


def update_status(
    status: AppStatus,
    crash: Mapping[str, CrashLoop],
    per_host: Sequence[tuple[str, DesiredApp, ObservedState]],
    results: Sequence[ApplyResult],
    unknown: Mapping[str, list[str]],
    revision: str,
    pull_problem: str | None = None,
    source_error: str | None = None,
) -> None:
    """The app's status after a reconcile, from what each host runs (`per_host`: host,
    what it should run, what it runs), the operations' results, the hosts that did not
    answer (`unknown`: host -> its containers) and the problems found elsewhere."""
    services: dict[str, ServiceStatus] = {}
    not_ready: list[str] = []
    exited: list[str] = []  # one-shot containers that failed: no waiting fixes them
    status.placement = {}
    for host, desired, observed in per_host:
        counted, missing, dead = replica_counts(
            desired, observed, restarts_on(crash, host, desired)
        )
        not_ready.extend(missing)
        exited.extend(dead)
        for svc in counted:
            total = services.setdefault(svc.name, ServiceStatus(svc.name, 0))
            total.desired += svc.desired
            total.running += svc.running
            total.healthy += svc.healthy
            total.restarts += svc.restarts
            for c in svc.containers:
                total.containers.append({**c, "host": host})
        for d in desired.containers:
            status.placement.setdefault(host, []).append(d.name)
    for host, names in unknown.items():
        status.placement.setdefault(host, []).extend(names)
        not_ready.extend(f"{n} is unknown (host {host} is unreachable)" for n in names)
    status.services = list(services.values())
    status.revision = revision
    failed = [f for r in results for f in r.failed]
    crashloop = crash_looping(crash)
    if failed:
        message = "; ".join(f"{r.op.describe()}: {r.error}" for r in failed)
        status.lastError = message
        status.set_condition("Degraded", "True", "OperationFailed", message)
    elif unknown:
        message = "; ".join(
            f"host {h} is unreachable: {len(n)} replica(s) unknown" for h, n in unknown.items()
        )
        status.set_condition("Degraded", "True", "HostUnreachable", message)
    elif crashloop:
        message = ", ".join(f"{n} restarted {crash[n].restarts} times" for n in crashloop)
        status.set_condition("Degraded", "True", "CrashLoopBackOff", message)
    elif exited:
        status.set_condition("Degraded", "True", "ContainerFailed", "; ".join(exited[:5]))
    elif unhealthy := [m for m in not_ready if m.endswith(" is unhealthy")]:
        # Its healthcheck failed its retries: running, but not serving; no waiting fixes it.
        status.set_condition("Degraded", "True", "Unhealthy", "; ".join(unhealthy[:5]))
    elif pull_problem:
        status.set_condition("Degraded", "True", IMAGE_PULL_FAILED, pull_problem)
    elif source_error:
        status.set_condition("Degraded", "True", "InvalidSpec", source_error)
    else:
        status.set_condition("Degraded", "False", "AsExpected", "")
        status.lastError = ""
    if not_ready:
        status.set_condition("Ready", "False", "NotReady", "; ".join(not_ready[:5]))
        status.set_condition("Progressing", "True", "Converging", "; ".join(not_ready[:5]))
    else:
        status.set_condition("Ready", "True", "Converged", "")
        status.set_condition("Progressing", "False", "Converged", "")
        if not failed:
            status.observedGeneration = revision


REPAIR_KINDS = {Kind.CREATE_CONTAINER, Kind.CREATE_NETWORK, Kind.CREATE_VOLUME}


def is_repair(op: Operation) -> bool:
    """An operation that restores something, as opposed to rolling out a change."""
    if op.kind == Kind.START_CONTAINER:
        return op.cause != "new container"  # a stopped container started again
    return op.kind in REPAIR_KINDS


def repairs_and_restarts(result: ApplyResult) -> tuple[int, int]:
    """How many done operations restored something, and how many restarted a container."""
    done = [r.op for r in result.results if r.status == "done"]
    return sum(1 for op in done if is_repair(op)), sum(
        1 for op in done if op.kind == Kind.RESTART_CONTAINER
    )
