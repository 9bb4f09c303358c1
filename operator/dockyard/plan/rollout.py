"""Rollouts as plans: a changed service with `update:` is replaced batch by batch.

Planned in full before anything runs, so `dockyard diff` shows every step and the
golden tests cover them; apply/rollout.py only sequences the batches and decides,
from how each batch went, which of the planned steps run next.

For each container a rollout replaces (a `Replacement`):
- steps: the old container is renamed `<name>-old` (kept, so putting it back is
  possible), stopped first with `order: stop-first`; the new one is created under the
  name, connected, started and monitored: healthy (when it has a healthcheck) and then
  running, not restarted and not unhealthy, for `monitor` seconds;
- passed: with `order: start-first`, the old one is stopped only once its successor
  passed, so healthy replicas never drop below the desired count;
- put back: when the new one failed, the old one is started again, the new one
  removed, and the old one takes its name back;
- retire: once the whole rollout passed, the old container is removed.
Batches hold `parallelism` containers of one service, `delay` seconds apart. When the
share of failed containers exceeds `maxFailureRatio`, the service's `failureAction`
decides: `rollback` puts back every replacement that passed, `pause` keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dockyard.spec.models import UpdateStrategy
from dockyard.state.desired import DesiredContainer
from dockyard.state.observed import ObservedState

from .builder import Builder, create_container
from .desired import DesiredApp
from .operations import Kind, Operation, Plan, render_op

OLD_SUFFIX = "-old"


@dataclass(frozen=True)
class Replacement:
    """One container a rollout replaces, and every step it may take."""

    name: str
    service: str
    cause: str
    steps: tuple[Operation, ...]
    passed: tuple[Operation, ...] = ()
    put_back: tuple[Operation, ...] = ()  # when the new container failed
    roll_back: tuple[Operation, ...] = ()  # when a later failure undoes one that passed
    retire: tuple[Operation, ...] = ()

    @property
    def old_name(self) -> str:
        return self.name + OLD_SUFFIX

    def owns(self, op_id: str) -> bool:
        return any(op.id == op_id for op in self.steps)


@dataclass(frozen=True)
class Batch:
    service: str
    replacements: tuple[Replacement, ...]
    delay: float = 0.0  # waited before this batch starts
    # Waits on the services this one depends on, which every start of the batch needs.
    gates: tuple[Operation, ...] = ()

    def plan(self) -> Plan:
        return Plan(self.gates + tuple(op for r in self.replacements for op in r.steps))


@dataclass(frozen=True)
class RolloutPlan:
    app: str
    batches: tuple[Batch, ...]
    strategies: Mapping[str, UpdateStrategy] = field(default_factory=dict)

    @property
    def replacements(self) -> tuple[Replacement, ...]:
        return tuple(r for b in self.batches for r in b.replacements)

    @property
    def causes(self) -> dict[str, str]:
        """container -> why the rollout replaces it."""
        return {r.name: r.cause for r in self.replacements}

    @property
    def steps(self) -> tuple[Operation, ...]:
        out: list[Operation] = []
        for b in self.batches:
            out.extend(b.gates)
            for r in b.replacements:
                out.extend((*r.steps, *r.passed, *r.put_back, *r.retire))
                out.extend(op for op in r.roll_back if op not in r.put_back)
        return tuple(out)

    @property
    def size(self) -> int:
        """Operations run when every batch passes."""
        return sum(
            len(b.gates) + sum(len(r.steps) + len(r.passed) + len(r.retire) for r in b.replacements)
            for b in self.batches
        )

    def on_host(self, host: str) -> RolloutPlan:
        def placed(ops: tuple[Operation, ...]) -> tuple[Operation, ...]:
            return tuple(replace(op, host=host) for op in ops)

        batches = tuple(
            replace(
                b,
                gates=placed(b.gates),
                replacements=tuple(
                    replace(
                        r,
                        steps=placed(r.steps),
                        passed=placed(r.passed),
                        put_back=placed(r.put_back),
                        roll_back=placed(r.roll_back),
                        retire=placed(r.retire),
                    )
                    for r in b.replacements
                ),
            )
            for b in self.batches
        )
        return replace(self, batches=batches)

    def render(self) -> list[str]:
        lines: list[str] = []
        for service, strategy in self.strategies.items():
            batches = [b for b in self.batches if b.service == service]
            if not batches:
                continue
            size = strategy.parallelism or len(batches[0].replacements)
            lines.append(
                f"rollout of service {service}: {strategy.order}, {size} at a time, "
                f"monitor {strategy.monitor:g}s, on failure {strategy.failure_action} "
                f"(when more than {strategy.max_failure_ratio:.0%} of them fail)"
            )
            for number, batch in enumerate(batches, 1):
                wait = f" after {batch.delay:g}s" if batch.delay and number > 1 else ""
                names = ", ".join(r.name for r in batch.replacements)
                lines.append(f"  batch {number}/{len(batches)}{wait}: {names}")
                lines.extend(render_op(op, "    ") for op in batch.gates)
                for r in batch.replacements:
                    lines.extend(render_op(op, "    ") for op in r.steps)
                    lines.extend(render_op(op, "    once it passed: ") for op in r.passed)
                    if r.roll_back == r.put_back:
                        prefix = "    if it fails or is rolled back: "
                        lines.extend(render_op(op, prefix) for op in r.put_back)
                        continue
                    lines.extend(render_op(op, "    if it fails: ") for op in r.put_back)
                    lines.extend(render_op(op, "    if rolled back: ") for op in r.roll_back)
            retire = [op for b in batches for r in b.replacements for op in r.retire]
            lines.extend(render_op(op, "  once all passed: ") for op in retire)
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "batches": [
                {
                    "service": b.service,
                    "delay": b.delay,
                    "gates": [op.to_json() for op in b.gates],
                    "containers": [
                        {
                            "name": r.name,
                            "cause": r.cause,
                            "steps": [op.to_json() for op in r.steps],
                            "passed": [op.to_json() for op in r.passed],
                            "putBack": [op.to_json() for op in r.put_back],
                            "rollBack": [op.to_json() for op in r.roll_back],
                            "retire": [op.to_json() for op in r.retire],
                        }
                        for r in b.replacements
                    ],
                }
                for b in self.batches
            ],
            "strategies": {
                s: u.model_dump(mode="json", by_alias=True) for s, u in self.strategies.items()
            },
        }


def plan_rollout(
    desired: DesiredApp,
    observed: ObservedState,
    rolling: Mapping[str, str],
    health_timeout: Mapping[str, float],
    gates: Mapping[str, tuple[Operation, ...]],
) -> RolloutPlan:
    """The batches that replace the `rolling` containers (name -> cause); `gates` are the
    waits on its dependencies each service's starts need (planner.py decides them)."""
    by_service: dict[str, list[DesiredContainer]] = {}
    for d in desired.containers:
        if d.name in rolling:
            by_service.setdefault(d.service, []).append(d)
    batches: list[Batch] = []
    for service, containers in by_service.items():
        strategy = desired.updates[service]
        size = strategy.parallelism or len(containers)
        for start in range(0, len(containers), size):
            chosen = containers[start : start + size]
            replacements = tuple(
                _replacement(
                    desired.name, d, observed, strategy, rolling[d.name], health_timeout[d.name]
                )
                for d in chosen
            )
            gate_ops = gates.get(service, ())
            if gate_ops:
                gate_ids = tuple(g.id for g in gate_ops)
                replacements = tuple(_after_gates(r, gate_ids) for r in replacements)
            batches.append(Batch(service, replacements, strategy.delay if start else 0.0, gate_ops))
    strategies = {s: desired.updates[s] for s in by_service}
    return RolloutPlan(desired.name, tuple(batches), strategies)


def _replacement(
    app: str,
    d: DesiredContainer,
    observed: ObservedState,
    strategy: UpdateStrategy,
    cause: str,
    health_timeout: float,
) -> Replacement:
    old = observed.container_named(d.name)
    assert old is not None  # a rolling change replaces an existing container
    old_name = d.name + OLD_SUFFIX
    why = f"rolling update: {cause}"
    b = Builder(app)
    aside = b.add(
        Kind.RENAME_CONTAINER,
        d.name,
        f"{why}; the old container steps aside as {old_name}, kept until the rollout passed",
        ref=old.id,
        rename_to=old_name,
        service=d.service,
    )
    stop_first = (
        _stop(
            b,
            d,
            old_name,
            old.id,
            "stop-first: the old container stops before its successor starts",
            [aside],
        )
        if strategy.order == "stop-first" and old.running
        else None
    )
    made = create_container(b, d, why, [aside, stop_first], {})
    start = b.add(
        Kind.START_CONTAINER,
        d.name,
        "new container",
        made,
        ref=d.name,
        service=d.service,
        container=d,
    )
    b.add(
        Kind.MONITOR_CONTAINER,
        d.name,
        f"must be healthy within {health_timeout:.0f}s, then keep running for "
        f"{strategy.monitor:g}s",
        [start],
        ref=d.name,
        service=d.service,
        timeout=health_timeout,
        monitor=strategy.monitor,
    )
    steps = tuple(b.ops.values())

    passed = Builder(app)
    if strategy.order == "start-first" and old.running:
        why = "start-first: its successor passed, so the old container stops"
        _stop(passed, d, old_name, old.id, why)

    # Putting the old container back: when the new one failed (with start-first the old
    # one still runs), and when a later failure rolls back one that passed.
    failed_back = _put_back(
        app, d, old.id, start_old=old.running and strategy.order == "stop-first"
    )
    rolled_back = _put_back(app, d, old.id, start_old=old.running)

    retire = Builder(app)
    retire.add(
        Kind.REMOVE_CONTAINER,
        old_name,
        "the rollout passed: the old container is no longer needed",
        ref=old.id,
        service=d.service,
    )
    return Replacement(
        d.name,
        d.service,
        cause,
        steps,
        tuple(passed.ops.values()),
        failed_back,
        rolled_back,
        tuple(retire.ops.values()),
    )


def _stop(
    b: Builder, d: DesiredContainer, name: str, ref: str, why: str, deps: Iterable[str | None] = ()
) -> str:
    """Stop container `name` (engine reference `ref`) of `d`'s service within its grace."""
    return b.add(
        Kind.STOP_CONTAINER,
        name,
        why,
        deps,
        ref=ref,
        service=d.service,
        timeout=d.config.stop_grace_period,
    )


def _put_back(app: str, d: DesiredContainer, old_id: str, start_old: bool) -> tuple[Operation, ...]:
    old_name = d.name + OLD_SUFFIX
    back = Builder(app)
    halt = _stop(
        back, d, d.name, d.name, f"put back: {d.name} failed its rollout; the new container stops"
    )
    again = (
        back.add(
            Kind.START_CONTAINER,
            old_name,
            "put back: the old container runs again",
            [halt],
            ref=old_id,
            service=d.service,
        )
        if start_old
        else halt
    )
    gone = back.add(
        Kind.REMOVE_CONTAINER,
        d.name,
        "put back: the failed new container goes",
        [again],
        ref=d.name,
        service=d.service,
    )
    back.add(
        Kind.RENAME_CONTAINER,
        old_name,
        f"put back: the old container takes its name {d.name} back",
        [gone],
        ref=old_id,
        rename_to=d.name,
        service=d.service,
    )
    return tuple(back.ops.values())


def _after_gates(r: Replacement, gate_ids: tuple[str, ...]) -> Replacement:
    steps = tuple(
        replace(op, deps=(*op.deps, *gate_ids)) if op.kind is Kind.START_CONTAINER else op
        for op in r.steps
    )
    return replace(r, steps=steps)
