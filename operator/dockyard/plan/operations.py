"""A Plan: a DAG of operations, each one engine call with the cause that makes it needed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dockyard.engine.objects import BuildSpec, DesiredContainer, DesiredNetwork, DesiredVolume


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


MUTATING = frozenset(Kind) - {Kind.WAIT_HEALTHY, Kind.WAIT_COMPLETED, Kind.MISSING_IMAGE}


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
    operations: tuple[Operation, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.operations

    @property
    def mutating(self) -> tuple[Operation, ...]:
        return tuple(op for op in self.operations if op.kind in MUTATING)

    def render(self) -> str:
        """One line per operation, its dependencies and its cause: golden-testable text."""
        lines = []
        for op in self.operations:
            deps = ", ".join(d.replace(":", " ", 1) for d in op.deps)
            after = f" (after {deps})" if deps else ""
            lines.append(f"{op.kind.value} {op.target}{after} — {op.cause}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"error: {e}" for e in self.errors)
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(
            {
                "changes": not self.empty,
                "operations": [op.to_json() for op in self.operations],
                "warnings": list(self.warnings),
                "errors": list(self.errors),
            },
            indent=2,
        )
