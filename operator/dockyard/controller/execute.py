"""Running a reconcile's plan on one host: a plain plan through the Executor, a rolling
change through a Rollout; and removing a pruned app. The one place the controller drives
an engine with a plan."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard.apply.executor import ApplyResult, Executor
from dockyard.apply.rollout import Rollout, RolloutOutcome
from dockyard.engine.client import Engine
from dockyard.engine.transfer import ImageSources, local_sources
from dockyard.plan.desired import DesiredApp
from dockyard.plan.operations import Plan

from .hosts import Host
from .intake import Wanted
from .metrics import Metrics
from .status import AppStatus

log = logging.getLogger("dockyard.controller")


@dataclass(frozen=True)
class Roll:
    """How one host converges an app this reconcile."""

    replace: dict[str, str]  # containers changed out of band -> cause
    restart: dict[str, str]  # unhealthy containers to restart -> cause
    rolling: bool  # some containers roll out batch by batch
    hold: set[str]  # containers left as they are (their new image failed before)


async def converge_host(
    wanted: Wanted,
    status: AppStatus,
    host: Host,
    desired: DesiredApp,
    plan: Plan,
    roll: Roll,
    *,
    concurrency: int,
    metrics: Metrics,
    notify: Callable[[str], None],
    image_sources: ImageSources,
    failed_rollout: Callable[[RolloutOutcome], None],
) -> RolloutOutcome:
    """`failed_rollout` hears every rollout's outcome (to note images that failed)."""
    replace, restart, rolling = roll.replace, roll.restart, roll.rolling
    if not rolling:
        return RolloutOutcome(
            results=[
                await execute(
                    wanted,
                    host,
                    plan,
                    concurrency=concurrency,
                    metrics=metrics,
                    image_sources=image_sources,
                )
            ]
        )
    name = wanted.desired.name

    def progress(message: str) -> None:
        log.info("app %s on %s: %s", name, host.name, message)
        status.set_condition("Progressing", "True", "RollingUpdate", message)
        notify(name)

    rollout = Rollout(
        host.engine,
        host.cache.relist,
        secrets={name: wanted.loaded.secrets},
        concurrency=concurrency,
        progress=progress,
        image_sources=image_sources,
    )
    outcome = await rollout.run(desired, replace=replace, restart=restart, hold=roll.hold)
    failed_rollout(outcome)
    for result in outcome.results:
        for r in result.results:
            if r.status == "done":
                metrics.operations.labels(r.op.kind.value).inc()
            elif r.status == "failed":
                log.warning("app %s: %s failed: %s", name, r.op.describe(), r.error)
    if outcome.failed:
        log.warning("app %s on %s: %s", name, host.name, outcome.message())
    return outcome


async def execute(
    wanted: Wanted,
    host: Host,
    plan: Plan,
    *,
    concurrency: int,
    metrics: Metrics,
    image_sources: ImageSources,
) -> ApplyResult:
    log.info(
        "app %s: applying %d operation(s): %s",
        wanted.desired.name,
        len(plan.operations),
        "; ".join(f"{op.describe()} ({op.cause})" for op in plan.operations[:8])
        + (" …" if len(plan.operations) > 8 else ""),
    )
    executor = Executor(
        host.engine,
        secrets={wanted.desired.name: wanted.loaded.secrets},
        concurrency=concurrency,
        image_sources=image_sources,
    )
    result = await executor.run(plan)
    log.info(
        "app %s: %d done, %d failed, %d skipped in %.2fs",
        wanted.desired.name,
        sum(1 for r in result.results if r.status == "done"),
        len(result.failed),
        len(result.skipped),
        result.seconds,
    )
    for r in result.results:
        if r.status == "done":
            metrics.operations.labels(r.op.kind.value).inc()
        elif r.status == "failed":
            log.warning("app %s: %s failed: %s", wanted.desired.name, r.op.describe(), r.error)
    return result


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


async def delete(host: Host, plan: Plan, *, concurrency: int) -> ApplyResult:
    """Run a plan that removes a pruned app's objects from `host`."""
    return await Executor(host.engine, concurrency=concurrency).run(plan)
