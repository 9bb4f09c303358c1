"""App status, Kubernetes style: conditions with reason and message, replica counts."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.engine.observed import ObservedState
from dockyard.plan.desired import DesiredApp


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
