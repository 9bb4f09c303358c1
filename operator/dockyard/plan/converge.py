"""The whole plan that converges one app on one engine: what runs at once, then the
rollout of the services with `update:` that changed (plan/rollout.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace as replace_fields

from dockyard.state.observed import ObservedState

from .builder import Builder
from .desired import DesiredApp
from .operations import Kind, Operation, Plan
from .planner import changed_containers, gates, health_timeout, plan_app
from .rollout import plan_rollout

IMAGE_KINDS = (Kind.BUILD_IMAGE, Kind.PULL_IMAGE, Kind.MISSING_IMAGE)


def rolling_changes(desired: DesiredApp, observed: ObservedState) -> dict[str, str]:
    """The containers a rollout would replace batch by batch: name -> cause."""
    if not desired.updates:
        return {}
    services = {c.name: c.service for c in desired.containers}
    return {
        name: cause
        for name, cause in changed_containers(desired, observed).items()
        if services.get(name) in desired.updates
    }


def plan_converge(
    desired: DesiredApp,
    observed: ObservedState,
    replace: Mapping[str, str] | None = None,
    restart: Mapping[str, str] | None = None,
    hold: Collection[str] = (),
    inputs_applied: Mapping[str, Mapping[str, str]] | None = None,
    roll: bool = True,
) -> Plan:
    """Everything that makes the engine hold what `desired` wants. Containers of services
    with `update:` that changed are replaced by the plan's rollout, batch by batch; the
    images they need are built or pulled first, before any old container is touched.
    `replace`, `restart`, `hold` and `inputs_applied` are as for plan_app; `roll=False`
    (a paused rollout) leaves the rolling containers as they are."""
    rolling = {
        n: c
        for n, c in rolling_changes(desired, observed).items()
        if n not in (replace or {}) and n not in hold
    }
    if not roll:
        hold, rolling = {*hold, *rolling}, {}
    first = plan_app(
        desired,
        observed,
        replace=replace,
        restart=restart,
        hold={*hold, *rolling},
        inputs_applied=inputs_applied,
    )
    if not rolling or first.errors:
        return first
    full = plan_app(desired, observed, replace=replace, restart=restart)
    known = {op.id for op in first.operations}
    images = tuple(
        replace_fields(op, deps=())
        for op in full.operations
        if op.kind in IMAGE_KINDS and op.id not in known
    )
    services = dict.fromkeys(d.service for d in desired.containers if d.name in rolling)
    waits: dict[str, tuple[Operation, ...]] = {}
    for service in services:
        b = Builder(desired.name)
        gates(b, desired, service, observed, {})
        waits[service] = tuple(b.ops.values())
    timeouts = {d.name: health_timeout(d) for d in desired.containers if d.name in rolling}
    rollout = plan_rollout(desired, observed, rolling, timeouts, waits)
    return replace_fields(first, operations=images + first.operations, rollout=rollout)
