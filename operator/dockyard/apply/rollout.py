"""Rolling updates: a changed service is replaced batch by batch, each batch gated on health.

How one app converges on one engine when some of its services declare `update:`:

1. Everything that is not a rolling replacement runs first as one plan (new networks,
   new or missing replicas, services without `update:`, repairs).
2. Then each rolling service, `parallelism` containers at a time. The old container is
   renamed `<name>-old` (never removed yet), so its successor can take the name:
   - `stop-first`: the old one is stopped, then the new one created and started;
   - `start-first`: the new one starts while the old one keeps serving; the old one is
     stopped only once the new one passed its monitor window, so healthy replicas never
     drop below the desired count.
   - monitor: a new container must become healthy (when it has a healthcheck) and then
     stay running, not restart and not turn unhealthy for `monitor` seconds. One that
     fails is removed and its old container started again under its own name.
   - `delay` is waited between batches.
3. When the share of failed containers exceeds `maxFailureRatio` the rollout stops with
   the service's `failureAction`: `rollback` puts every old container of this rollout back
   (they were kept for this), `pause` leaves the batches that passed as they are.
   Once the rollout passed, the old containers are removed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import replace as replace_op
from typing import Any

from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.engine.objects import DesiredContainer
from dockyard.engine.observed import ObservedState
from dockyard.engine.transfer import ImageSources
from dockyard.plan.desired import DesiredApp
from dockyard.plan.operations import Kind, Plan
from dockyard.plan.planner import changed_containers, health_timeout, plan_app
from dockyard.spec.load import Secret
from dockyard.spec.models import UpdateStrategy

from .executor import DEFAULT_CONCURRENCY, ApplyResult, Executor, Reporter

OLD_SUFFIX = "-old"
IMAGE_KINDS = (Kind.BUILD_IMAGE, Kind.PULL_IMAGE, Kind.MISSING_IMAGE)
POLL = 0.05

Observe = Callable[[], Awaitable[ObservedState]]


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


def rolling_changes(desired: DesiredApp, observed: ObservedState) -> dict[str, str]:
    """The containers a rollout would replace batch by batch: name -> cause."""
    services = {c.name: c.service for c in desired.containers}
    return {
        name: cause
        for name, cause in changed_containers(desired, observed).items()
        if services.get(name) in desired.updates
    }


class Rollout:
    def __init__(
        self,
        engine: Engine,
        observe: Observe,
        secrets: Mapping[str, Mapping[str, Secret]] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        reporter: Reporter | None = None,
        progress: Callable[[str], None] | None = None,
        image_sources: ImageSources | None = None,
    ) -> None:
        self.engine = engine
        self.image_sources = image_sources
        self.observe = observe
        self.secrets = secrets or {}
        self.concurrency = concurrency
        self.reporter = reporter
        self.progress = progress or (lambda message: None)
        self.causes: dict[str, str] = {}  # container -> why the rollout replaces it
        self.hold: set[str] = set()
        self._stopping: list[asyncio.Task[None]] = []

    async def run(
        self,
        desired: DesiredApp,
        replace: Mapping[str, str] | None = None,
        restart: Mapping[str, str] | None = None,
        observed: ObservedState | None = None,
        hold: Collection[str] = (),
    ) -> RolloutOutcome:
        """`hold` names containers to leave as they are (e.g. whose new image failed)."""
        out = RolloutOutcome()
        observed = observed if observed is not None else await self.observe()
        rolling = {
            n: c
            for n, c in rolling_changes(desired, observed).items()
            if n not in (replace or {}) and n not in hold
        }
        out.causes = dict(rolling)
        first = plan_app(
            desired, observed, replace=replace, restart=restart, hold=set(rolling) | set(hold)
        )
        if rolling:
            # Build or pull what the new containers need before touching any old one: a
            # failed build or pull leaves every running container as it is.
            full = plan_app(desired, observed, replace=replace, restart=restart)
            images = [op for op in full.operations if op.kind in IMAGE_KINDS]
            known = {op.id for op in first.operations}
            extra = tuple(replace_op(op, deps=()) for op in images if op.id not in known)
            first = replace_op(first, operations=extra + first.operations)
        if first.operations:
            result = await self._execute(first)
            out.results.append(result)
            if not result.ok:
                return out
        if not rolling:
            return out
        self.causes = rolling
        self.hold = set(hold)
        out.rolling = len(rolling)
        by_service: dict[str, list[DesiredContainer]] = {}
        for d in desired.containers:
            if d.name in rolling:
                by_service.setdefault(d.service, []).append(d)
        out.services = tuple(by_service)
        # Old containers, renamed `<name>-old`, kept (stopped) until the whole rollout has
        # passed, so a rollback is putting them back: name -> old container id.
        kept: dict[str, str] = {}
        removals: list[asyncio.Task[None]] = []
        remaining = set(rolling)
        try:
            for service, containers in by_service.items():
                strategy = desired.updates[service]
                size = strategy.parallelism or len(containers)
                for start in range(0, len(containers), size):
                    if start and strategy.delay:
                        await asyncio.sleep(strategy.delay)
                    batch = containers[start : start + size]
                    remaining -= {d.name for d in batch}
                    self.progress(
                        f"service {service}: replacing {', '.join(d.name for d in batch)} "
                        f"({strategy.order}, {out.updated + len(out.failed)}/{out.rolling} done)"
                    )
                    bad = await self._batch(desired, batch, strategy, remaining, kept, out)
                    out.failed.update(bad)
                    out.updated += len(batch) - len(bad)
                    too_many = len(out.failed) / out.rolling > strategy.max_failure_ratio
                    if bad and too_many and strategy.failure_action != "continue":
                        out.action = strategy.failure_action
                        if strategy.failure_action == "rollback" and kept:
                            self.progress(f"rolling back the {len(kept)} container(s) replaced")
                            await self._revert(kept)
                            out.reverted = True
                            kept.clear()
                        return out
        finally:
            await self._stopped()
            for old_id in kept.values():
                removals.append(asyncio.create_task(self._remove(old_id)))
            if removals:
                await asyncio.gather(*removals, return_exceptions=True)
        return out

    async def _batch(
        self,
        desired: DesiredApp,
        batch: list[DesiredContainer],
        strategy: UpdateStrategy,
        remaining: set[str],
        kept: dict[str, str],
        out: RolloutOutcome,
    ) -> dict[str, str]:
        observed = await self.observe()
        old: dict[str, str] = {}  # name -> id of the container it replaces
        for d in batch:
            obs = observed.container_named(d.name)
            if obs is None:
                continue
            await asyncio.to_thread(self.engine.rename, obs.id, d.name + OLD_SUFFIX)
            old[d.name] = obs.id
        if strategy.order == "stop-first":
            await asyncio.gather(
                *(
                    asyncio.to_thread(self.engine.stop, old_id, d.config.stop_grace_period)
                    for d in batch
                    if (old_id := old.get(d.name))
                )
            )
        if old:
            observed = await self.observe()
        held = {n + OLD_SUFFIX for n in (*kept, *old)} | self.hold
        plan = _with_causes(plan_app(desired, observed, hold=remaining | held), self.causes)
        result = await self._execute(plan)
        out.results.append(result)
        if result.ok:
            bad = await self._monitor(batch, strategy)
        else:
            why = "; ".join(f"{r.op.describe()}: {r.error}" for r in result.failed[:2])
            bad = {d.name: why or "not applied" for d in batch}
        failed_old = {n: i for n, i in old.items() if n in bad}
        if failed_old:
            await self._revert(failed_old)
            for name, why in bad.items():
                self.progress(f"{name} failed ({why.split(';')[0]}): its old container is back")
        for d in batch:
            old_id = old.get(d.name)
            if old_id is None or d.name in bad:
                continue
            if strategy.order == "start-first":  # in the background: the next batch goes on
                self._stopping.append(
                    asyncio.create_task(
                        asyncio.to_thread(self.engine.stop, old_id, d.config.stop_grace_period)
                    )
                )
            kept[d.name] = old_id
        return bad

    async def _revert(self, old: Mapping[str, str]) -> None:
        """Put old containers back in place of their successors: started first (so the
        service keeps its capacity), then the successor goes and the old one takes its name
        back."""
        await self._stopped()

        def revert(name: str, old_id: str) -> None:
            self.engine.start(old_id)
            self.engine.remove_container(name)
            self.engine.rename(old_id, name)

        results = await asyncio.gather(
            *(asyncio.to_thread(revert, n, i) for n, i in old.items()), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise EngineError(f"rollback could not restore every old container: {errors[0]}")

    async def _stopped(self) -> None:
        """Wait for the old containers being stopped in the background."""
        pending, self._stopping = self._stopping, []
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _remove(self, old_id: str) -> None:
        await asyncio.to_thread(self.engine.remove_container, old_id)

    async def _monitor(
        self, batch: list[DesiredContainer], strategy: UpdateStrategy
    ) -> dict[str, str]:
        results = await asyncio.gather(*(self._watch(d, strategy.monitor) for d in batch))
        return {d.name: why for d, why in zip(batch, results, strict=True) if why}

    async def _watch(self, d: DesiredContainer, monitor: float) -> str | None:
        """None once `d` has been healthy (or running, without a healthcheck) for `monitor`
        seconds; else why it failed."""
        started = time.monotonic()
        deadline = started + health_timeout(d)
        restarts: int | None = None
        good_since: float | None = None
        while True:
            try:
                data = await asyncio.to_thread(self.engine.inspect_container, d.name)
            except EngineError as exc:
                return f"could not be inspected: {exc}"
            now = time.monotonic()
            why = _failure(data, restarts)
            if why:
                logs = await asyncio.to_thread(self.engine.logs_tail, d.name, 3)
                return why + (f"; last log lines: {logs}" if logs else "")
            if restarts is None:
                restarts = int(data.get("RestartCount") or 0)
            health = ((data.get("State") or {}).get("Health") or {}).get("Status")
            if good_since is None:
                if health in (None, "healthy"):
                    good_since = now
                elif now > deadline:
                    return f"did not become healthy within {health_timeout(d):.0f}s"
            if good_since is not None and now - good_since >= monitor:
                return None
            await asyncio.sleep(POLL)

    async def _execute(self, plan: Any) -> ApplyResult:
        executor = Executor(
            self.engine,
            secrets=self.secrets,
            concurrency=self.concurrency,
            reporter=self.reporter,
            image_sources=self.image_sources,
        )
        return await executor.run(plan)


def _with_causes(plan: Plan, causes: Mapping[str, str]) -> Plan:
    """A batch's new containers say why they replace the old ones."""
    ops = tuple(
        replace(op, cause=f"rolling update: {causes[op.target]}")
        if op.kind is Kind.CREATE_CONTAINER and op.target in causes
        else op
        for op in plan.operations
    )
    return replace(plan, operations=ops)


def _failure(data: Mapping[str, Any], restarts: int | None) -> str | None:
    state = data.get("State") or {}
    status = state.get("Status")
    if status in ("exited", "dead"):
        return f"exited with code {state.get('ExitCode')}"
    if status == "restarting" or (
        restarts is not None and int(data.get("RestartCount") or 0) > restarts
    ):
        return "crashed and was restarted"
    health = state.get("Health") or {}
    if health.get("Status") == "unhealthy":
        log = health.get("Log") or []
        last = str(log[-1].get("Output", "")).strip()[:200] if log else ""
        return "became unhealthy" + (f" (last check said: {last})" if last else "")
    return None
