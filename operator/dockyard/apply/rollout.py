"""Running a rollout plan (plan/rollout.py): batch by batch, each gated on health.

Every step is an operation of the plan, run by the same Executor as any other; this
module only decides, from how each batch went, which planned steps come next: a
replacement that failed is put back, one that passed keeps its new container (and,
start-first, its old one stops), and when too many failed the service's
failureAction decides (`rollback` puts back every replacement that passed, `pause`
keeps them). Once the rollout is over, the old containers kept for putting back go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from dockyard.engine.errors import EngineError
from dockyard.plan.operations import Kind, Operation, Plan
from dockyard.plan.rollout import Batch, Replacement, RolloutPlan

from .executor import ApplyResult, OpResult

Run = Callable[[Plan], Awaitable[ApplyResult]]


@dataclass
class RolloutOutcome:
    results: list[ApplyResult] = field(default_factory=list)
    # Containers whose new version failed its monitor window: name -> why.
    failed: dict[str, str] = field(default_factory=dict)
    # What the failure policy says to do when the rollout stopped early: "rollback",
    # "pause", or "" (not stopped; with failureAction continue, failures are just counted).
    action: str = ""
    updated: int = 0  # containers now running their new version
    rolling: int = 0  # containers the rollout set out to replace
    services: tuple[str, ...] = ()
    reverted: bool = False  # the replaced containers were put back (failureAction rollback)
    halted: str = ""  # set by the controller when a wave across hosts stopped (why)
    causes: dict[str, str] = field(default_factory=dict)  # container -> why it was rolled

    @property
    def applied(self) -> bool:
        """Every operation of every plan succeeded."""
        return all(r.ok for r in self.results)

    @property
    def ok(self) -> bool:
        return self.applied and not self.failed and not self.action

    def message(self) -> str:
        if not self.failed:
            return ""
        first = "; ".join(f"{n}: {why}" for n, why in list(self.failed.items())[:3])
        return f"{len(self.failed)} of {self.rolling} new container(s) failed: {first}"


async def run_rollout(
    rollout: RolloutPlan,
    run: Run,
    out: RolloutOutcome,
    progress: Callable[[str], None] = lambda message: None,
) -> None:
    """Run `rollout` with `run` (an Executor's run), recording into `out`."""
    out.causes = rollout.causes
    out.rolling = len(rollout.replacements)
    out.services = tuple(rollout.strategies)
    kept: list[Replacement] = []  # passed: their old containers wait to be removed
    stopping: list[asyncio.Future[ApplyResult]] = []  # start-first: old ones stopping

    async def execute(ops: Iterable[Operation]) -> ApplyResult:
        result = await run(Plan(tuple(ops)))
        out.results.append(result)
        return result

    async def stopped() -> None:
        pending, stopping[:] = list(stopping), []
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, ApplyResult):
                out.results.append(result)

    try:
        for number, batch in enumerate(rollout.batches):
            strategy = rollout.strategies[batch.service]
            if number and batch.delay:
                await asyncio.sleep(batch.delay)
            names = ", ".join(r.name for r in batch.replacements)
            done = out.updated + len(out.failed)
            progress(
                f"service {batch.service}: replacing {names} "
                f"({strategy.order}, {done}/{out.rolling} done)"
            )
            bad = _failures(batch, await execute(batch.plan().operations))
            for r in batch.replacements:
                if r.name in bad:
                    continue
                if r.passed:  # in the background: the next batch goes on
                    stopping.append(asyncio.ensure_future(run(Plan(r.passed))))
                kept.append(r)
            if bad:
                await stopped()
                back = [op for r in batch.replacements if r.name in bad for op in r.put_back]
                await _put_back(execute, back)
                for name, why in bad.items():
                    progress(f"{name} failed ({why.split(';')[0]}): its old container is back")
            out.failed.update(bad)
            out.updated += len(batch.replacements) - len(bad)
            too_many = len(out.failed) / out.rolling > strategy.max_failure_ratio
            if bad and too_many and strategy.failure_action != "continue":
                out.action = strategy.failure_action
                if strategy.failure_action == "rollback" and kept:
                    progress(f"rolling back the {len(kept)} container(s) replaced")
                    await stopped()
                    await _put_back(execute, [op for r in kept for op in r.roll_back])
                    out.reverted = True
                    kept.clear()
                return
    finally:
        await stopped()
        retire = [op for r in kept for op in r.retire]
        if retire:
            await execute(retire)


async def _put_back(
    execute: Callable[[Iterable[Operation]], Awaitable[ApplyResult]], ops: list[Operation]
) -> None:
    result = await execute(ops)
    if result.failed:
        first = result.failed[0]
        raise EngineError(
            f"rollback could not restore every old container: {first.op.describe()}: {first.error}"
        )


def _failures(batch: Batch, result: ApplyResult) -> dict[str, str]:
    """The replacements of `batch` that did not pass, and why (their first failure)."""
    by_id: dict[str, OpResult] = {r.op.id: r for r in result.results}
    shared = [by_id[g.id] for g in batch.gates if g.id in by_id and by_id[g.id].status != "done"]
    bad: dict[str, str] = {}
    for r in batch.replacements:
        outcomes = [by_id[op.id] for op in r.steps if op.id in by_id]
        failed = next((o for o in outcomes if o.status == "failed"), None)
        if failed is None and shared:
            failed = shared[0]
        if failed is None:
            failed = next((o for o in outcomes if o.status != "done"), None)
        if failed is None and len(outcomes) < len(r.steps):
            bad[r.name] = "not applied"
            continue
        if failed is not None:
            bad[r.name] = _why(failed)
    return bad


def _why(result: OpResult) -> str:
    if result.op.kind is Kind.MONITOR_CONTAINER and result.status == "failed":
        return result.error or "failed its monitor window"
    return f"{result.op.describe()}: {result.error or result.status}"
