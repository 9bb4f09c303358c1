"""The controller: keeps the engine converged to what the sources want, forever.

Level-based, as controller-runtime: every trigger (a source update, an engine
event, the periodic resync) only enqueues an app name; a worker then reconciles
that app from the whole desired and observed state and applies the Result it
returns to the queue (the one place requeues and backoff are decided). Reads come
from the event-fed cache, so a reconcile with nothing to do makes no engine call.
The parts are modules of their own: hosts (engines, caches, relists), triggers,
intake (sources -> wanted apps), placement, planning (a plan per host), crashloop,
revisions (pins, rollout outcomes), waves, execute, status, prune, history_sync.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import retry
from dockyard.apply.executor import DEFAULT_CONCURRENCY, ApplyResult
from dockyard.apply.rollout import RolloutOutcome
from dockyard.controller.source import Source, SourceUpdate
from dockyard.engine.cache import EngineCache
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.fleet.converge import DEFAULT_HOST
from dockyard.fleet.placement import PlacementResult

from . import execute, revisions, waves
from .crashloop import Backoff, CrashLoop
from .history import HistoryStore, Pin, Revision
from .history_sync import HISTORY_WAIT, HistorySync
from .hosts import Host, Hosts, app_hosts, first_read, resync_loop
from .image_poll import ImageWatch
from .inputs import InputRecord
from .intake import Intake, Wanted, known_projects
from .metrics import Metrics
from .ownership import Ownership
from .placement import place_app
from .planning import AppState, HostPlan, Planner, plan_hosts
from .prune import remove_everywhere
from .queue import Result, WorkQueue
from .revisions import build_tags_of
from .status import AppStatus, repairs_and_restarts, update_status

__all__ = [
    "HISTORY_WAIT",
    "Controller",
    "CrashLoop",
    "Result",
    "Settings",
    "Wanted",
    "build_tags_of",
]

log = logging.getLogger("dockyard.controller")


@dataclass
class Settings:
    resync: float = 60.0
    prune: bool = True
    workers: int = 4
    concurrency: int = DEFAULT_CONCURRENCY
    state_dir: Path = Path("/var/lib/dockyard/controller")
    # restartWhenUnhealthy: first restart at once, then base doubling to max; reset after
    # `backoff_reset` healthy.
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    backoff_reset: float = 600.0
    # Failed reconciles are retried per app with this backoff.
    retry_base: float = 1.0
    retry_max: float = 300.0
    # --poll-images: how often registries are asked whether an Always tag moved (None: never).
    poll_images: float | None = None

    @property
    def crash_backoff(self) -> Backoff:
        return Backoff(self.backoff_base, self.backoff_max, self.backoff_reset)


class Controller:
    """The loop: triggers enqueue app names; workers reconcile them one at a time each."""

    def __init__(
        self,
        engine: Engine,
        sources: Sequence[Source],
        settings: Settings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.sources = list(sources)
        self.settings = settings or Settings()
        self.metrics = metrics or Metrics()
        self.queue = WorkQueue(self.settings.retry_base, self.settings.retry_max)
        self.host_set = Hosts(engine, self._known_apps, self.queue.add, self._queue_changed)
        self.hosts = self.host_set.by_name
        self.ownership = Ownership(self.settings.state_dir)
        self.intake = Intake(
            len(self.sources),
            self.ownership,
            self.settings.prune,
            self.queue.add,
            lambda name: self._state(name).status,
            self._drop_state,
            self.host_set.declare,
            self.metrics,
            self._notify,
        )
        self.wanted = self.intake.wanted
        self.by_source = self.intake.by_source
        self.source_errors = self.intake.source_errors
        self.sources_ready = self.intake.sources_ready
        self.history = HistoryStore(self.settings.state_dir)
        self.history_sync = HistorySync(self.history, lambda: self.hosts, self.intake.images_of)
        self.inputs = InputRecord(self.settings.state_dir)
        self.apps: dict[str, AppState] = {}
        self._stopping = asyncio.Event()
        self._reconciling = 0
        self.unread: str | None = None  # the engine's first read failed: why
        # Deletions asked for by name (the operator's App finalizer): name -> whether its
        # named volumes go too, and the future done once everything is removed.
        self.deletions: dict[str, tuple[bool, asyncio.Future[None]]] = {}
        # Called (on the event loop) with an app's name and its status after every
        # reconcile, or None once the app is gone: where status flows back to sources.
        self.status_listeners: list[Callable[[str, AppStatus | None], None]] = []
        # pullPolicy Always: pulled before planning a new spec; --poll-images (image_poll.py).
        self.images = ImageWatch(self.queue.add, self.queue.add_after)

    @property
    def engine(self) -> Engine:
        """The default engine (host `local`)."""
        return self.hosts[DEFAULT_HOST].engine

    @property
    def cache(self) -> EngineCache:
        return self.hosts[DEFAULT_HOST].cache

    @property
    def _busy(self) -> int:
        """Reconciles in flight, and history writes still talking to the engines."""
        return self._reconciling + len(self.history_sync.writers)

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.cache.synced and len(self.sources_ready) == len(self.sources)

    async def run(self) -> None:
        """Run until stop() is called; never exits on a failed reconcile."""
        await self.cache.start()
        # Workers and sources start at once: until the engine answers, reconciles say so.
        enqueue = self._enqueue_known
        first = first_read(self.cache, self._stopping, enqueue, self._unread)
        tasks = [asyncio.create_task(first)]
        tasks += [asyncio.create_task(self._worker(i)) for i in range(self.settings.workers)]
        tasks += [asyncio.create_task(self._run_source(s)) for s in self.sources]
        resync = resync_loop(self.settings.resync, lambda: list(self.hosts.values()), enqueue)
        tasks.append(asyncio.create_task(resync))
        if self.settings.poll_images:
            poll = self.images.poll(
                self.settings.poll_images,
                lambda: list(self.hosts.values()),
                lambda: {n: (w.desired, w.loaded.secrets) for n, w in self.wanted.items()},
            )
            tasks.append(asyncio.create_task(poll))
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # What was recorded reaches the hosts before the controller goes.
            await self.history_sync.flush()
            for host in self.hosts.values():
                await host.cache.stop()

    async def stop(self, grace: float = 60.0) -> None:
        """Stop taking work; let in-flight reconciles finish (containers keep running)."""
        log.info("stopping: %d reconcile(s) in flight; containers keep running", self._busy)
        self.queue.shutdown()
        deadline = time.monotonic() + grace
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._stopping.set()

    def _known_apps(self) -> dict[str, str]:
        return known_projects(self.wanted, self.ownership.apps)

    def _unread(self, error: str) -> None:
        self.unread = error  # why the engine could not be read yet

    def _enqueue_known(self) -> None:
        for name in self._known_apps():
            self.queue.add(name)

    def _queue_changed(self) -> None:
        self.metrics.queue_depth.set(len(self.queue))

    # ---- sources -----------------------------------------------------------------------

    async def _run_source(self, source: Source) -> None:
        backoff = retry.Backoff(1.0, 60.0)
        while True:
            try:
                await source.run(self.on_source_update)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken source must not take the controller down
                delay = backoff.next()
                log.exception("source %s failed; restarting it in %.1fs", source.id, delay)
                await asyncio.sleep(delay)

    async def on_source_update(self, update: SourceUpdate) -> None:
        await self.intake.on_update(update)

    # ---- reconcile ---------------------------------------------------------------------

    def _state(self, name: str) -> AppState:
        if name not in self.apps:
            self.apps[name] = AppState(AppStatus(name))
        return self.apps[name]

    def _drop_state(self, name: str) -> None:
        self.apps.pop(name, None)

    async def _worker(self, index: int) -> None:
        while True:
            name = await self.queue.get()
            self.metrics.queue_depth.set(len(self.queue))
            self._reconciling += 1
            started = time.monotonic()
            try:
                result, error = await self._reconcile_guarded(name)
                delay = self.queue.apply(name, result)
                if delay is not None and result.why:
                    log.log(result.level, "%s (retry in %.0fs)", result.why, delay, exc_info=error)
            finally:
                self._reconciling -= 1
                self.queue.done(name)
                self.metrics.duration.observe(time.monotonic() - started)
                self.metrics.engine_up.set(1 if self.cache.connected else 0)
                self.metrics.engine_requests.set(self.engine.requests)

    async def _reconcile_guarded(self, name: str) -> tuple[Result, BaseException | None]:
        """reconcile, where an exception is a failed reconcile: the loop never dies."""
        try:
            result = await self.reconcile(name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # log, back off, retry
            self.metrics.reconciles.labels(name, "error").inc()
            self.metrics.errors.labels(name).inc()
            self._state(name).status.failed("ReconcileError", str(exc))
            self._notify(name)
            if isinstance(exc, EngineError):
                return Result.retry(f"reconcile {name}: {exc}"), None
            return Result.retry(f"reconcile {name} failed", logging.ERROR), exc
        self.metrics.reconciles.labels(name, "ok").inc()
        return result, None

    async def reconcile(self, name: str) -> Result:
        """Converge one app on its hosts from the whole desired and observed state; what
        the queue does next is the Result."""
        if not self.cache.synced:  # never plan (nor prune) on a state never read
            if self.unread is None:
                return Result.wait(0.2)  # the first read is under way
            raise EngineError(f"engine {self.engine.name} is not reachable: {self.unread}")
        source_wanted = self.wanted.get(name)
        if source_wanted is None:
            return await self._prune(name)
        st = self._state(name)
        if not await self.history_sync.read(name):
            return Result.wait(0.2)  # a host is still connecting: its history first
        wanted, pin = revisions.target(self.history, name, source_wanted)
        placement = self._place(wanted, st)
        if placement.errors:
            return self._fail_plan(st, name, "PlacementError", "; ".join(placement.errors))
        hosts, local_only = self._hosts_for(name, placement)
        plans, unknown, wait = await plan_hosts(
            self._planner(), st, wanted, pin, placement, hosts, local_only
        )
        st.status.reconciles += 1
        st.status.lastReconcileTime = time.time()
        errors = [
            e if local_only else f"host {p.host.name}: {e}" for p in plans for e in p.plan.errors
        ]
        if errors:
            return self._fail_plan(st, name, "PlanError", "; ".join(errors))
        revision, outcomes = await self._apply(st, wanted, pin, plans)
        results = [r for o in outcomes for r in o.results]
        self._record(st, wanted, plans, outcomes, unknown)
        again = revisions.after_rollout(
            self.history, name, st.status, source_wanted, wanted, pin, revision, outcomes
        )
        self._notify(name)
        failed = sum(len(r.failed) for r in results)
        if failed:
            return Result.retry(f"app {name}: {failed} operation(s) failed").and_now(again)
        if unknown:
            # Look again soon: the host may return, or its grace may run out.
            wait = min(wait or 5.0, 5.0)
        return Result.after(wait).and_now(again)

    def _hosts_for(self, name: str, placement: PlacementResult) -> tuple[list[Host], bool]:
        """The hosts the app is reconciled on, and whether that is the local engine alone."""
        hosts = app_hosts(list(self.hosts.values()), placement.by_host, name)
        self.history_sync.app_hosts[name] = [h.name for h in hosts]
        local_only = [h.name for h in hosts] == [DEFAULT_HOST]
        if local_only and self.cache.down:
            raise EngineError(f"engine {self.engine.name} is not reachable")
        return hosts, local_only

    def _planner(self) -> Planner:
        s = self.settings
        return Planner(self.history, self.images, self.inputs, s.crash_backoff, time.monotonic())

    def _record(
        self,
        st: AppState,
        wanted: Wanted,
        plans: list[HostPlan],
        outcomes: list[RolloutOutcome],
        unknown: dict[str, list[str]],
    ) -> None:
        """What the hosts run now: inputs applied, and the app's status."""
        name = wanted.desired.name
        if all(o.applied for o in outcomes):
            for p in plans:
                self.inputs.update(name, p.host.name, p.desired.containers, p.host.cache.state)
        update_status(
            st.status,
            st.crash,
            [(p.host.name, p.desired, p.host.cache.state) for p in plans],
            [r for o in outcomes for r in o.results],
            unknown,
            wanted.revision,
            self.images.problem(name),
            self.source_errors.get(wanted.source),
        )

    async def _apply(
        self, st: AppState, wanted: Wanted, pin: Pin | None, plans: list[HostPlan]
    ) -> tuple[Revision | None, list[RolloutOutcome]]:
        """Run the plans that have work: the revision they apply and each host's outcome."""
        name = wanted.desired.name
        todo = [p for p in plans if not p.plan.empty]
        if not todo:
            return None, []
        revision = revisions.revision_for(self.history, name, wanted, pin)
        number = revision.number if revision is not None else None
        converge = functools.partial(self._converge_host, wanted, st)
        outcomes = await waves.run_plans(
            st.status, wanted.desired, todo, number, converge, self._notify
        )
        for p, outcome in zip(todo, outcomes, strict=True):
            observed = await p.host.cache.relist()  # see our own changes first
            st.verified |= {c.id for c in observed.app_containers(name)}
            for result in outcome.results:
                self._count(st, wanted, result)
        if all(o.ok for o in outcomes):
            st.converged = wanted.desired
        return revision, outcomes

    def _converge_host(
        self, wanted: Wanted, st: AppState, p: HostPlan
    ) -> Awaitable[RolloutOutcome]:
        name = wanted.desired.name

        def note_bad_images(outcome: RolloutOutcome) -> None:
            revisions.note_bad_images(self.history, name, p.desired, p.host.cache.state, outcome)

        return execute.converge_host(
            wanted,
            st.status,
            p.host,
            p.plan,
            concurrency=self.settings.concurrency,
            metrics=self.metrics,
            notify=self._notify,
            image_sources=execute.image_sources(
                p.host, lambda: list(self.hosts.values()), lambda: self._placed(name)
            ),
            failed_rollout=note_bad_images,
        )

    def _placed(self, name: str) -> set[str]:
        """The hosts the app was placed on."""
        st = self.apps.get(name)
        return set(st.assigned.values()) if st is not None else set()

    # ---- revisions ------------------------------------------------------------------------

    def rollback(self, name: str, to: int | None = None) -> str:
        """Pin the app to an earlier revision until its spec changes. Returns what was done;
        raises ValueError with what to do instead."""
        wanted = self.wanted.get(name)
        if wanted is None:
            raise ValueError(f"the controller has no app named {name}")
        message = revisions.rollback(self.history, name, wanted, to)
        self.queue.add(name)
        log.info("%s", message)
        return message

    # ---- the parts of a reconcile ---------------------------------------------------------

    def _fail_plan(self, st: AppState, name: str, reason: str, message: str) -> Result:
        st.status.failed(reason, message, ready=False)
        self._notify(name)
        return Result.retry(f"app {name} cannot be planned: {message}", logging.ERROR)

    def _notify(self, name: str) -> None:
        st = self.apps.get(name)
        for listener in list(self.status_listeners):
            try:
                listener(name, st.status if st else None)
            except Exception:  # a broken listener must not break reconciling
                log.exception("status listener failed for app %s", name)

    def _place(self, wanted: Wanted, st: AppState) -> PlacementResult:
        hosts = list(self.hosts.values())
        result, st.assigned = place_app(wanted.loaded.app, hosts, st.assigned, time.monotonic())
        return result

    def _count(self, st: AppState, wanted: Wanted, result: ApplyResult) -> None:
        name = wanted.desired.name
        repairs, restarts = repairs_and_restarts(result)
        if repairs and st.converged == wanted.desired:
            # Nothing in the spec changed since the last convergence: this was drift.
            st.status.driftRepairs += repairs
            self.metrics.drift_repairs.labels(name).inc(repairs)
        if restarts:
            st.status.restarts += restarts
            self.metrics.restarts.labels(name).inc(restarts)

    def delete(self, name: str, volumes: bool = False) -> asyncio.Future[None]:
        """Remove the app from every host once no source wants it (its named volumes too
        with `volumes`), through the work queue like every change: the future is done when
        everything is removed. An app this controller never owned is removed as well."""
        asked = self.deletions.get(name)
        if asked is None or asked[1].done():
            asked = (volumes, asyncio.get_running_loop().create_future())
        self.deletions[name] = (volumes or asked[0], asked[1])
        self.queue.add(name)
        return asked[1]

    async def _prune(self, name: str) -> Result:
        asked = self.deletions.get(name)
        if asked is None and not self.intake.may_prune(name, {src.id for src in self.sources}):
            return Result.untouched()
        hosts = list(self.hosts.values())
        volumes = asked is not None and asked[0]
        if not await remove_everywhere(name, hosts, self.settings.concurrency, volumes):
            return Result.retry(f"prune {name} incomplete")
        if asked is not None:
            self.deletions.pop(name, None)
            if not asked[1].done():
                asked[1].set_result(None)
        for host in self.hosts.values():
            host.engine.secrets.forget_app(name)
        self.inputs.forget(name)
        self.ownership.drop(name)
        self.images.forget(name)
        self.apps.pop(name, None)
        self._notify(name)
        return Result.done()

    def history_of(self, name: str) -> dict[str, Any] | None:
        if name not in self.wanted and name not in self.apps:
            return None
        return self.history.get(name).to_json()

    def sources_view(self) -> dict[str, dict[str, Any]]:
        return self.intake.view([src.id for src in self.sources])

    def statuses(self) -> dict[str, dict[str, object]]:
        return {name: st.status.to_json() for name, st in sorted(self.apps.items())}
