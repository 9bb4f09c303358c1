"""The one convergence of apps on a host: run their plans, roll out, see the result.

`dockyard apply`, `dockyard delete`, `dockyard rollback`, a fleet (once per host),
the controller (and so the operator and the edge agent) all converge through
`converge`: the plans' first operations run as one DAG (an image two apps share is
pulled once), then each app's rollout batch by batch (apply/rollout.py), every step
by the same Executor; the engine is observed afterwards when asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from dockyard.engine.client import Engine
from dockyard.engine.transfer import ImageSources
from dockyard.plan.operations import Plan, merge
from dockyard.plan.planner import plan_delete
from dockyard.state.observed import ObservedState

from .executor import DEFAULT_CONCURRENCY, ApplyResult, Executor, Reporter
from .plans import AppPlan, Work, build_tags, plan_apps
from .rollout import RolloutOutcome, run_rollout

__all__ = ["AppPlan", "Converged", "Work", "build_tags", "converge", "delete_app", "plan_apps"]

Observe = Callable[[], Awaitable[ObservedState]]

FAILURE_ACTIONS = {
    "rollback": "rolled back: the old containers run again",
    "pause": "rollout paused: the batches that passed keep the new version",
}


@dataclass
class Converged:
    """How converging went: per app, and every operation together."""

    apps: dict[str, RolloutOutcome] = field(default_factory=dict)
    result: ApplyResult = field(default_factory=ApplyResult)
    observed: ObservedState | None = None  # the engine afterwards, when asked to look


async def converge(
    engine: Engine,
    work: Sequence[Work],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    reporter: Reporter | None = None,
    progress: Callable[[str, str], None] | None = None,
    image_sources: ImageSources | None = None,
    observe: Observe | None = None,
) -> Converged:
    """Run the plans of `work` on `engine` (a plan with errors is left alone). An image
    the engine lacks and cannot pull is copied from `image_sources` (default: the engine
    of the machine running dockyard). `progress(app, message)` hears how rollouts go;
    `observe` is called once everything ran, its state returned."""
    started = time.monotonic()
    runnable = [w for w in work if not w.plan.errors]
    executor = Executor(
        engine,
        secrets={w.app: w.secrets for w in runnable},
        concurrency=concurrency,
        reporter=reporter,
        image_sources=image_sources,
    )
    done = Converged()
    first = await executor.run(merge(w.plan for w in runnable))
    done.result.results.extend(first.results)
    by_id = {r.op.id: r for r in first.results}
    for w in runnable:
        mine = [by_id[op.id] for op in w.plan.operations if op.id in by_id]
        done.apps[w.app] = RolloutOutcome(results=[ApplyResult(mine, first.seconds)])
    for w in runnable:
        outcome = done.apps[w.app]
        if w.plan.rollout is None or not outcome.applied:
            continue  # a failed build or pull leaves every running container as it is

        def said(message: str, app: str = w.app) -> None:
            if progress is not None:
                progress(app, message)

        await run_rollout(w.plan.rollout, executor.run, outcome, said)
        for applied in outcome.results[1:]:
            done.result.results.extend(applied.results)
        if outcome.failed:
            what = FAILURE_ACTIONS.get(
                outcome.action, "the failed containers were put back; the rest rolled on"
            )
            done.result.rollout_failures.append(f"app {w.app}: {outcome.message()}; {what}")
    if observe is not None:
        done.observed = await observe()
    done.result.seconds = time.monotonic() - started
    return done


def in_thread(engine: Engine) -> Observe:
    """Observe `engine` by a snapshot, off the event loop."""

    async def observe() -> ObservedState:
        return await asyncio.to_thread(engine.snapshot)

    return observe


async def delete_app(
    engine: Engine,
    app: str,
    volumes: bool = False,
    reporter: Reporter | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    project: str | None = None,
) -> tuple[Plan, ApplyResult]:
    plan = plan_delete(app, engine.snapshot(), volumes=volumes, project=project)
    done = await converge(engine, [Work(app, plan)], concurrency=concurrency, reporter=reporter)
    if done.result.ok:
        engine.secrets.forget_app(app)
    return plan, done.result
