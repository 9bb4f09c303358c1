"""Running a reconcile's plan on one host, and removing a pruned app: through
apply.converge, the one convergence `dockyard apply` uses too. The one place the
controller drives an engine with a plan."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from dockyard.apply.converge import Work, converge
from dockyard.apply.executor import ApplyResult
from dockyard.apply.rollout import RolloutOutcome
from dockyard.engine.client import Engine
from dockyard.engine.transfer import ImageSources, local_sources
from dockyard.plan.operations import Plan

from .hosts import Host
from .intake import Wanted
from .metrics import Metrics
from .status import AppStatus

log = logging.getLogger("dockyard.controller")


async def converge_host(
    wanted: Wanted,
    status: AppStatus,
    host: Host,
    plan: Plan,
    *,
    concurrency: int,
    metrics: Metrics,
    notify: Callable[[str], None],
    image_sources: ImageSources,
    failed_rollout: Callable[[RolloutOutcome], None],
) -> RolloutOutcome:
    """Converge the app on `host` by its plan (apply.converge, as `dockyard apply` does);
    `failed_rollout` hears the outcome of a rollout (to note images that failed)."""
    name = wanted.desired.name
    log.info(
        "app %s: applying %d operation(s): %s",
        name,
        plan.size,
        "; ".join(f"{op.describe()} ({op.cause})" for op in plan.operations[:8])
        + (" …" if len(plan.operations) > 8 else "")
        + (f"; then a rollout of {len(plan.rollout.replacements)}" if plan.rollout else ""),
    )

    def progress(app: str, message: str) -> None:
        log.info("app %s on %s: %s", app, host.name, message)
        status.set_condition("Progressing", "True", "RollingUpdate", message)
        notify(app)

    done = await converge(
        host.engine,
        [Work(name, plan, wanted.loaded.secrets)],
        concurrency=concurrency,
        progress=progress,
        image_sources=image_sources,
    )
    outcome = done.apps[name]
    if plan.rollout is not None:
        failed_rollout(outcome)
    result = done.result
    log.info(
        "app %s: %d done, %d failed, %d skipped in %.2fs",
        name,
        sum(1 for r in result.results if r.status == "done"),
        len(result.failed),
        len(result.skipped),
        result.seconds,
    )
    for r in result.results:
        if r.status == "done":
            metrics.operations.labels(r.op.kind.value).inc()
        elif r.status == "failed":
            log.warning("app %s: %s failed: %s", name, r.op.describe(), r.error)
    if outcome.failed:
        log.warning("app %s on %s: %s", name, host.name, outcome.message())
    return outcome


def image_sources(
    host: Host, hosts: Callable[[], Iterable[Host]], placed: Callable[[], set[str]]
) -> ImageSources:
    """Where `host` gets an image it lacks and cannot pull: the engine of the machine
    dockyard runs on, then the other hosts the app was placed on (`placed`: their names)."""

    def sources() -> list[Engine]:
        on = placed()
        others = [h.engine for h in hosts() if h.name in on and h is not host and not h.dark]
        return [*local_sources(), *others]

    return sources


async def delete(host: Host, app: str, plan: Plan, *, concurrency: int) -> ApplyResult:
    """Run a plan that removes a pruned app's objects from `host`."""
    done = await converge(host.engine, [Work(app, plan)], concurrency=concurrency)
    return done.result
