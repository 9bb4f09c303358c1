"""Converging a set of apps on one engine: snapshot, plan each app, run the plans."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.engine.build import build_tag, context_digest
from dockyard.engine.client import Engine
from dockyard.engine.observed import ObservedState
from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Operation, Plan
from dockyard.plan.planner import plan_app, plan_delete
from dockyard.spec.load import LoadedApp

from .executor import DEFAULT_CONCURRENCY, ApplyResult, Executor, Reporter


@dataclass(frozen=True)
class AppPlan:
    loaded: LoadedApp
    desired: DesiredApp
    plan: Plan


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
        plans.append(AppPlan(loaded, desired, plan_app(desired, observed)))
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
) -> ApplyResult:
    """Run the plans of the apps that planned cleanly (an app with errors is left alone)."""
    runnable = [p for p in plans if not p.plan.errors]
    executor = Executor(
        engine,
        secrets={p.loaded.name: p.loaded.secrets for p in runnable},
        concurrency=concurrency,
        reporter=reporter,
    )
    return await executor.run(merge([p.plan for p in runnable]))


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
