"""A Plan: a DAG of operations, each one engine call with the cause that makes it needed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dockyard.state.desired import BuildSpec, DesiredContainer, DesiredNetwork, DesiredVolume

if TYPE_CHECKING:
    from .rollout import RolloutPlan


class Kind(StrEnum):
    CREATE_NETWORK = "create-network"
    REMOVE_NETWORK = "remove-network"
    CREATE_VOLUME = "create-volume"
    REMOVE_VOLUME = "remove-volume"
    PULL_IMAGE = "pull-image"
    BUILD_IMAGE = "build-image"
    MISSING_IMAGE = "missing-image"  # pullPolicy Never and the image is absent: fails at apply
    CREATE_CONTAINER = "create-container"
    CONNECT_NETWORK = "connect-network"
    START_CONTAINER = "start-container"
    STOP_CONTAINER = "stop-container"
    REMOVE_CONTAINER = "remove-container"
    RESTART_CONTAINER = "restart-container"
    SIGNAL_CONTAINER = "signal-container"
    WAIT_HEALTHY = "wait-healthy"
    WAIT_COMPLETED = "wait-completed"
    # Rollouts: the old container steps aside under `<name>-old`; the new one is watched.
    RENAME_CONTAINER = "rename-container"
    MONITOR_CONTAINER = "monitor-container"


WAITS = frozenset({Kind.WAIT_HEALTHY, Kind.WAIT_COMPLETED, Kind.MONITOR_CONTAINER})
MUTATING = frozenset(Kind) - WAITS - {Kind.MISSING_IMAGE}


@dataclass(frozen=True)
class Operation:
    id: str
    kind: Kind
    target: str
    cause: str
    app: str
    deps: tuple[str, ...] = ()
    service: str | None = None
    container: DesiredContainer | None = None
    network: DesiredNetwork | None = None
    volume: DesiredVolume | None = None
    build: BuildSpec | None = None
    image: str | None = None
    # For stop/remove/wait: the engine id or name of an existing object.
    ref: str | None = None
    timeout: float | None = None
    aliases: tuple[str, ...] = ()
    host: str | None = None  # set when an app spans several hosts
    signal: str | None = None  # signal-container: which one (e.g. SIGHUP)
    rename_to: str | None = None  # rename-container: the new name
    monitor: float | None = None  # monitor-container: seconds it must stay healthy

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"{self.kind.value.replace('-', ' ', 1)} {self.target}{where}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "target": self.target,
            "app": self.app,
            "host": self.host,
            "service": self.service,
            "cause": self.cause,
            "dependsOn": list(self.deps),
        }


@dataclass(frozen=True)
class Plan:
    """What converges an app: `operations` run at once (in dependency order); then, when
    services with `update:` change, the `rollout` replaces their containers batch by batch
    (plan/rollout.py), each batch gated on health, with the steps to put old containers
    back on failure."""

    operations: tuple[Operation, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())
    rollout: RolloutPlan | None = None

    @property
    def empty(self) -> bool:
        return not self.operations and not self.rollout

    @property
    def steps(self) -> tuple[Operation, ...]:
        """Every operation the plan may run: the first ones, then the rollout's (its
        put-back steps included, which run only on failure)."""
        if self.rollout is None:
            return self.operations
        return self.operations + self.rollout.steps

    @property
    def size(self) -> int:
        """How many operations converging runs when all goes well."""
        return len(self.operations) + (self.rollout.size if self.rollout else 0)

    @property
    def mutating(self) -> tuple[Operation, ...]:
        return tuple(op for op in self.steps if op.kind in MUTATING)

    def on_host(self, host: str) -> Plan:
        """The same plan, each operation saying which host it runs on."""
        ops = tuple(replace(op, host=host) for op in self.operations)
        rollout = self.rollout.on_host(host) if self.rollout is not None else None
        return replace(self, operations=ops, rollout=rollout)

    def render(self) -> str:
        """One line per operation, its dependencies and its cause: golden-testable text."""
        lines = [render_op(op) for op in self.operations]
        if self.rollout is not None:
            lines.extend(self.rollout.render())
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"error: {e}" for e in self.errors)
        return "\n".join(lines)

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "changes": not self.empty,
            "operations": [op.to_json() for op in self.operations],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }
        if self.rollout is not None:
            doc["rollout"] = self.rollout.to_json()
        return json.dumps(doc, indent=2)


def merge(plans: Iterable[Plan]) -> Plan:
    """The first operations of several apps' plans as one (an image two apps share is
    pulled or built once); each app's rollout stays its own."""
    ops: dict[str, Operation] = {}
    warnings: list[str] = []
    errors: list[str] = []
    for plan in plans:
        for op in plan.operations:
            ops.setdefault(op.id, op)
        warnings.extend(plan.warnings)
        errors.extend(plan.errors)
    return Plan(tuple(ops.values()), tuple(warnings), tuple(errors))


def render_op(op: Operation, indent: str = "") -> str:
    deps = ", ".join(d.replace(":", " ", 1) for d in op.deps)
    after = f" (after {deps})" if deps else ""
    return f"{indent}{op.kind.value} {op.target}{after} — {op.cause}"
