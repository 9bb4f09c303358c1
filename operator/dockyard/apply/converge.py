"""Converging a set of apps on one engine: snapshot, plan each app, run the plans."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.engine.build import build_tag, context_digest
from dockyard.engine.client import Engine
from dockyard.engine.observed import ObservedState
from dockyard.engine.transfer import ImageSources
from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Operation, Plan
from dockyard.plan.planner import plan_app, plan_delete
from dockyard.spec.load import LoadedApp

from .executor import DEFAULT_CONCURRENCY, ApplyResult, Executor, Reporter
from .rollout import Rollout, rolling_changes


@dataclass(frozen=True)
class AppPlan:
    loaded: LoadedApp
    desired: DesiredApp
    plan: Plan
    # Containers of services with `update:` that change: replaced batch by batch.
    rolling: tuple[str, ...] = ()


def build_tags(loaded: LoadedApp) -> dict[str, str]:
    tags: dict[str, str] = {}
    for svc in loaded.app.spec.services:
        if svc.build is not None:
            tags[svc.name] = build_tag(loaded.name, svc.name, svc.image, context_digest(svc.build))
    return tags


def plan_apps(loaded_apps: list[LoadedApp], observed: ObservedState) -> list[AppPlan]:
    plans = []
    for loaded in loaded_apps:
        desired = desired_app(loaded, build_tags(loaded))
        rolling = tuple(rolling_changes(desired, observed)) if desired.updates else ()
        plans.append(AppPlan(loaded, desired, plan_app(desired, observed), rolling))
    return plans


def merge(plans: list[Plan]) -> Plan:
    """One plan for several apps; a shared image is pulled or built once."""
    ops: dict[str, Operation] = {}
    warnings: list[str] = []
    errors: list[str] = []
    for plan in plans:
        for op in plan.operations:
            ops.setdefault(op.id, op)
        warnings.extend(plan.warnings)
        errors.extend(plan.errors)
    return Plan(tuple(ops.values()), tuple(warnings), tuple(errors))


async def apply_plans(
    engine: Engine,
    plans: list[AppPlan],
    reporter: Reporter | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[str], None] | None = None,
    image_sources: ImageSources | None = None,
) -> ApplyResult:
    """Run the plans of the apps that planned cleanly (an app with errors is left alone).
    An image the engine lacks and cannot pull is copied from `image_sources` (default:
    the engine of the machine running dockyard).

    Apps with rolling changes (services with `update:`) roll out batch by batch after the
    others; a failed rollout is listed in `rollout_failures`."""
    started = time.monotonic()
    runnable = [p for p in plans if not p.plan.errors]
    plain = [p for p in runnable if not p.rolling]
    executor = Executor(
        engine,
        secrets={p.loaded.name: p.loaded.secrets for p in plain},
        concurrency=concurrency,
        reporter=reporter,
        image_sources=image_sources,
    )
    result = await executor.run(merge([p.plan for p in plain]))

    async def observe() -> ObservedState:
        return await asyncio.to_thread(engine.snapshot)

    for p in runnable:
        if not p.rolling:
            continue
        rollout = Rollout(
            engine,
            observe,
            secrets={p.loaded.name: p.loaded.secrets},
            concurrency=concurrency,
            reporter=reporter,
            progress=_prefixed(progress, f"app {p.loaded.name}: "),
            image_sources=image_sources,
        )
        outcome = await rollout.run(p.desired)
        for applied in outcome.results:
            result.results.extend(applied.results)
        if outcome.failed:
            what = {
                "rollback": "rolled back: the old containers run again",
                "pause": "rollout paused: the batches that passed keep the new version",
            }.get(outcome.action, "the failed containers were put back; the rest rolled on")
            result.rollout_failures.append(f"app {p.loaded.name}: {outcome.message()}; {what}")
    result.seconds = time.monotonic() - started
    return result


def _prefixed(progress: Callable[[str], None] | None, prefix: str) -> Callable[[str], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda message: report(prefix + message)


async def delete_app(
    engine: Engine,
    app: str,
    volumes: bool = False,
    reporter: Reporter | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> tuple[Plan, ApplyResult]:
    plan = plan_delete(app, engine.snapshot(), volumes=volumes)
    result = await Executor(engine, concurrency=concurrency, reporter=reporter).run(plan)
    if result.ok:
        engine.secrets.forget_app(app)
    return plan, result
