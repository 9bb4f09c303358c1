"""Building a Plan: operations added once each, by id, with their dependencies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dockyard.state.desired import DesiredContainer
from dockyard.state.observed import ObservedContainer

from .operations import Kind, Operation, Plan


class Builder:
    def __init__(self, app: str) -> None:
        self.app = app
        self.ops: dict[str, Operation] = {}
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def add(
        self,
        kind: Kind,
        target: str,
        cause: str,
        deps: Iterable[str | None] = (),
        **extra: object,
    ) -> str:
        op_id = f"{kind.value}:{target}"
        if op_id in self.ops:
            return op_id
        clean = tuple(dict.fromkeys(d for d in deps if d))
        self.ops[op_id] = Operation(
            id=op_id,
            kind=kind,
            target=target,
            cause=cause,
            app=self.app,
            deps=clean,
            **extra,  # type: ignore[arg-type]
        )
        return op_id

    def plan(self) -> Plan:
        return Plan(tuple(self.ops.values()), tuple(self.warnings), tuple(self.errors))


def stop_op(b: Builder, c: ObservedContainer, cause: str, deps: Iterable[str | None] = ()) -> str:
    return b.add(Kind.STOP_CONTAINER, c.name, cause, deps, ref=c.id, service=c.service)


def topological(ops: dict[str, Operation]) -> dict[str, Operation]:
    result: dict[str, Operation] = {}

    def visit(op_id: str) -> None:
        if op_id in result:
            return
        for dep in ops[op_id].deps:
            if dep in ops:
                visit(dep)
        result[op_id] = ops[op_id]

    for op_id in ops:
        visit(op_id)
    return result


def create_container(
    b: Builder,
    d: DesiredContainer,
    cause: str,
    deps: Iterable[str | None],
    net_ops: Mapping[str, str | None],
) -> list[str]:
    """Create `d` (on its first network: `deps` include what makes that network), then
    connect it to the others: the ids its start waits for."""
    nets = d.config.networks
    create = b.add(Kind.CREATE_CONTAINER, d.name, cause, deps, container=d, service=d.service)
    connects = [
        b.add(
            Kind.CONNECT_NETWORK,
            f"{d.name} to {net.name}",
            "service is attached to more than one network",
            [create, net_ops.get(net.name)],
            ref=d.name,
            aliases=net.aliases,
            image=net.name,
            service=d.service,
        )
        for net in nets[1:]
    ]
    return [create, *connects]
