"""What each host does this reconcile: one plan per host that answers, made from the
whole desired and observed state with the controller's decisions folded in (containers
changed out of band, unhealthy ones to restart, holds while paused or on a bad image)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.fleet.converge import restrict
from dockyard.fleet.placement import PlacementResult
from dockyard.plan.converge import plan_converge
from dockyard.plan.desired import DesiredApp
from dockyard.plan.operations import Plan
from dockyard.spec import naming
from dockyard.state.observed import ObservedState

from . import crashloop, revisions
from .crashloop import Backoff, CrashLoop
from .history import HistoryStore, Pin
from .hosts import Host
from .image_poll import ImageWatch
from .inputs import InputRecord
from .intake import Wanted
from .status import AppStatus


@dataclass
class AppState:
    """What the controller keeps of one app between reconciles."""

    status: AppStatus
    converged: DesiredApp | None = None  # the desired state last fully applied
    verified: set[str] = field(default_factory=set)  # container ids checked against labels
    crash: dict[str, CrashLoop] = field(default_factory=dict)
    # Where each (service, replica) was placed last: replicas do not move back on their own.
    assigned: dict[tuple[str, int], str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostPlan:
    """What one host does this reconcile."""

    host: Host
    desired: DesiredApp
    plan: Plan  # with the rollout of what changed in services with `update:`


@dataclass(frozen=True)
class Planner:
    """The records planning reads and updates, and the clock it goes by."""

    history: HistoryStore
    images: ImageWatch
    inputs: InputRecord
    backoff: Backoff
    now: float


async def plan_hosts(
    planner: Planner,
    st: AppState,
    wanted: Wanted,
    pin: Pin | None,
    placement: PlacementResult,
    hosts: Sequence[Host],
    local_only: bool,
) -> tuple[list[HostPlan], dict[str, list[str]], float | None]:
    """A plan per host that answers; the containers of the dark ones (host -> names);
    and when to look again for a crash loop (None: no need)."""
    project = wanted.desired.engine_project
    plans: list[HostPlan] = []
    unknown: dict[str, list[str]] = {}
    wait: float | None = None
    for host in hosts:
        assignments = placement.by_host.get(host.name, ())
        if host.dark:
            if assignments:
                unknown[host.name] = [
                    naming.container_name(project, a.service, a.replica) for a in assignments
                ]
            continue
        desired = restrict(wanted.desired, assignments)
        planned, host_wait = await plan_host(planner, st, wanted, pin, host, desired)
        if not local_only:
            planned = dataclasses.replace(planned, plan=planned.plan.on_host(host.name))
        plans.append(planned)
        if host_wait is not None:
            wait = host_wait if wait is None else min(wait, host_wait)
    return plans, unknown, wait


async def plan_host(
    planner: Planner,
    st: AppState,
    wanted: Wanted,
    pin: Pin | None,
    host: Host,
    desired: DesiredApp,
) -> tuple[HostPlan, float | None]:
    name = desired.name
    paused = pin is not None and pin.revision == 0
    secrets = wanted.loaded.secrets
    observed = host.cache.state
    if await planner.images.before_plan(name, host.name, host.engine, desired, secrets, observed):
        await host.cache.relist()  # a tag moved: plan with what it names now
    observed = host.cache.state
    replace = await verify(st.verified, host, desired, observed)
    restart, wait = crashloop.unhealthy(
        st.crash, host.name, desired, observed, planner.now, planner.backoff
    )
    bad = revisions.bad_image_holds(planner.history, name, desired, observed)
    seen = planner.inputs.seen(name, host.name, observed)
    plan = plan_converge(
        desired,
        observed,
        replace=replace,
        restart=restart,
        hold=bad,
        inputs_applied=seen,
        roll=not paused,
    )
    return HostPlan(host, desired, plan), wait


async def verify(
    verified: set[str], host: Host, desired: DesiredApp, observed: ObservedState
) -> dict[str, str]:
    """Containers not created by this controller are checked once against their labels
    (`verified`: the ids checked already)."""
    replace: dict[str, str] = {}
    by_name = {d.name: d for d in desired.containers}
    for c in observed.app_containers(desired.name):
        d = by_name.get(c.name)
        if d is None or c.id in verified or c.config_hash != d.config_hash:
            continue
        drift = await asyncio.to_thread(host.engine.config_drift, c.id, d)
        if drift is None:
            verified.add(c.id)
        else:
            replace[c.name] = f"config changed outside dockyard: {drift}"
    return replace
