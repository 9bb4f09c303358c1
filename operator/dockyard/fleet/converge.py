"""Converging apps across many hosts: place replicas, then plan and apply per host.

Every host is read and written in parallel; a dark host is reported (its replicas
are unknown) and never slows the others down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from dockyard.apply.converge import Work, build_tags, converge
from dockyard.apply.executor import DEFAULT_CONCURRENCY, ApplyResult, Reporter
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.engine.transfer import local_sources
from dockyard.plan.converge import plan_converge
from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Kind, Plan
from dockyard.spec import naming
from dockyard.spec.load import LoadedApp
from dockyard.spec.models import DockerHost
from dockyard.state.desired import DesiredContainer
from dockyard.state.observed import ObservedState

from .hosts import HostError, engine_for_host
from .placement import Assignment, HostInfo, PlacementResult, place

DEFAULT_HOST = "local"


@dataclass
class HostPlan:
    host: str
    desired: DesiredApp
    plan: Plan  # its rollout replaces containers batch by batch, on this host


@dataclass
class FleetPlan:
    loaded: LoadedApp
    placement: PlacementResult
    hosts: list[HostPlan] = field(default_factory=list)
    unknown: dict[str, list[str]] = field(default_factory=dict)  # dark host -> replicas

    @property
    def errors(self) -> list[str]:
        found = list(self.placement.errors)
        for hp in self.hosts:
            found.extend(f"host {hp.host}: {e}" for e in hp.plan.errors)
        return found


@dataclass
class Fleet:
    engines: dict[str, Engine]
    infos: list[HostInfo]
    observed: dict[str, ObservedState]
    unreachable: dict[str, str]


def connect_fleet(hosts: Sequence[DockerHost], default: Engine, timeout: float = 10.0) -> Fleet:
    """Engines for the inventory (plus the default engine as `local` unless declared),
    each read once, all at the same time."""
    engines: dict[str, Engine] = {}
    unreachable: dict[str, str] = {}
    labels: dict[str, Mapping[str, str]] = {}
    for host in hosts:
        name = host.metadata.name
        labels[name] = host.metadata.labels
        try:
            engines[name] = engine_for_host(host)
        except HostError as exc:
            unreachable[name] = exc.render()
    if DEFAULT_HOST not in labels:
        engines[DEFAULT_HOST] = default
        labels[DEFAULT_HOST] = {}
    observed: dict[str, ObservedState] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(engines))) as pool:
        futures = {name: pool.submit(engine.snapshot) for name, engine in engines.items()}
        for name, future in futures.items():
            try:
                observed[name] = future.result(timeout=timeout + 5)
            except EngineError as exc:
                unreachable[name] = str(exc)
            except TimeoutError:
                unreachable[name] = f"host {name} did not answer within {timeout:.0f}s"
    # A dark host keeps its place: its replicas are unknown, not moved (no reschedule here).
    infos = [HostInfo(name, labels[name]) for name in sorted(labels)]
    return Fleet(engines, infos, observed, unreachable)


def plan_fleet(loaded_apps: Sequence[LoadedApp], fleet: Fleet) -> list[FleetPlan]:
    plans: list[FleetPlan] = []
    for loaded in loaded_apps:
        name = loaded.name
        current = {
            (c.service, c.replica): host
            for host, state in fleet.observed.items()
            for c in state.app_containers(name)
            if c.service and c.replica
        }
        placement = place(loaded.app, fleet.infos, DEFAULT_HOST, current)
        desired = desired_app(loaded, build_tags(loaded))
        result = FleetPlan(loaded, placement)
        for info in fleet.infos:
            host = info.name
            assignments = placement.by_host.get(host, ())
            if host in fleet.unreachable:
                if assignments:
                    result.unknown[host] = [
                        naming.container_name(loaded.app.project, a.service, a.replica)
                        for a in assignments
                    ]
                continue
            observed = fleet.observed[host]
            if (
                not assignments
                and not observed.app_containers(name)
                and not any(n.app == name for n in observed.networks)
            ):
                continue  # the app has never been and is not wanted on this host
            on_host = restrict(desired, assignments)
            plan = plan_converge(on_host, observed).on_host(host)
            plan = note_copies(plan, host, [DEFAULT_HOST, *placement.by_host], fleet.observed)
            result.hosts.append(HostPlan(host, on_host, plan))
        plans.append(result)
    return plans


def note_copies(
    plan: Plan, host: str, sources: Sequence[str], observed: Mapping[str, ObservedState]
) -> Plan:
    """A missing image (pullPolicy Never) that another engine of the fleet holds is copied
    from it at apply: say so in the plan's cause, so `dockyard diff` shows it."""
    ops = []
    for op in plan.operations:
        if op.kind is Kind.MISSING_IMAGE:
            image = op.image or op.target
            source = next(
                (
                    name
                    for name in dict.fromkeys(sources)
                    if name != host and name in observed and observed[name].has_image(image)
                ),
                None,
            )
            if source is not None:
                op = replace(op, cause=f"{op.cause}: copy it from {source}")
        ops.append(op)
    return replace(plan, operations=tuple(ops))


def restrict(desired: DesiredApp, assignments: Sequence[Assignment]) -> DesiredApp:
    """The part of an app one host runs: its assigned replicas, and the networks and
    volumes they need (none when it runs nothing, so leftovers are removed)."""
    templates: dict[str, DesiredContainer] = {}
    for c in desired.containers:
        templates.setdefault(c.service, c)
    # The desired names are kept (a service's `containerName`), else <project>-<service>-<n>.
    names = {(c.service, c.replica): c.name for c in desired.containers}
    containers = tuple(
        replace(
            templates[a.service],
            replica=a.replica,
            name=names.get((a.service, a.replica))
            or naming.container_name(desired.engine_project, a.service, a.replica),
        )
        for a in assignments
        if a.service in templates
    )
    if not containers:
        return DesiredApp(desired.name, (), (), (), desired.depends_on, project=desired.project)
    return replace(desired, containers=containers)


async def apply_fleet(
    plans: Sequence[FleetPlan],
    fleet: Fleet,
    reporter: Reporter | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> dict[str, ApplyResult]:
    """Run every host's plans at once; one slow or failing host does not hold the others."""
    by_host: dict[str, list[tuple[FleetPlan, HostPlan]]] = {}
    for fp in plans:
        if fp.placement.errors:
            continue  # nothing of an app that cannot be placed is applied
        for hp in fp.hosts:
            if not hp.plan.errors and not hp.plan.empty:
                by_host.setdefault(hp.host, []).append((fp, hp))

    async def run(host: str, items: list[tuple[FleetPlan, HostPlan]]) -> ApplyResult:
        # Each host converges like `dockyard apply` on one engine: services with `update:`
        # roll out batch by batch there (waves across hosts are the controller's).
        work = [Work(fp.loaded.name, hp.plan, fp.loaded.secrets) for fp, hp in items]
        others = {h.host for fp, _ in items for h in fp.hosts} - {host}

        def sources() -> list[Engine]:
            # A host that lacks an image and cannot pull it gets it from this machine's
            # engine, else from another host of the same app.
            live = [
                fleet.engines[o]
                for o in sorted(others)
                if o in fleet.engines and o not in fleet.unreachable
            ]
            return [*local_sources(), *live]

        done = await converge(
            fleet.engines[host],
            work,
            concurrency=concurrency,
            reporter=reporter,
            image_sources=sources,
        )
        return done.result

    hosts = list(by_host)
    results = await asyncio.gather(*(run(h, by_host[h]) for h in hosts))
    return dict(zip(hosts, results, strict=True))
