"""The controller: keeps the engine converged to what the sources want, forever.

Level-based, as controller-runtime: every trigger (a source update, an engine
event, the periodic resync) only enqueues an app name; a worker then reconciles
that app from the whole desired and observed state and applies the Result it
returns to the queue (the one place requeues and backoff are decided). Reads come
from the event-fed cache, so a reconcile with nothing to do makes no engine call.
The parts are modules of their own: hosts, intake, placement, crashloop,
revisions, waves, status, execute, prune, history_sync.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.apply.executor import DEFAULT_CONCURRENCY, ApplyResult
from dockyard.apply.rollout import RolloutOutcome, rolling_changes
from dockyard.engine.cache import EngineCache
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.engine.observed import ObservedState
from dockyard.engine.transfer import ImageSources
from dockyard.fleet.converge import DEFAULT_HOST, restrict
from dockyard.fleet.placement import PlacementResult
from dockyard.plan.desired import DesiredApp
from dockyard.plan.operations import Kind, Operation, Plan
from dockyard.plan.planner import plan_app
from dockyard.sources.base import Source, SourceUpdate
from dockyard.spec import naming
from dockyard.spec.models import DockerHost

from . import crashloop, execute, revisions, waves
from .crashloop import Backoff, CrashLoop
from .execute import Roll
from .history import HistoryStore, Pin, Revision
from .history_sync import HISTORY_WAIT, HistorySync
from .hosts import Host, app_hosts, declared_hosts, mark_dark, set_hosts
from .image_poll import ImageWatch
from .inputs import InputRecord
from .intake import Wanted, claim, desired_of
from .metrics import Metrics
from .ownership import Ownership
from .placement import host_infos, place_sticky, running_where
from .prune import may_prune, remove_everywhere
from .queue import Result, WorkQueue
from .revisions import build_tags_of
from .status import AppStatus, update_status
from .triggers import apps_changed, interesting

__all__ = [
    "HISTORY_WAIT",
    "Controller",
    "CrashLoop",
    "Result",
    "Roll",
    "Settings",
    "Wanted",
    "build_tags_of",
]

log = logging.getLogger("dockyard.controller")

_Host = Host  # the name it had here before

REPAIR_KINDS = {Kind.CREATE_CONTAINER, Kind.CREATE_NETWORK, Kind.CREATE_VOLUME}


def _is_repair(op: Operation) -> bool:
    """An operation that restores something, as opposed to rolling out a change."""
    if op.kind == Kind.START_CONTAINER:
        return op.cause != "new container"  # a stopped container started again
    return op.kind in REPAIR_KINDS


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


@dataclass
class _AppState:
    status: AppStatus
    converged: DesiredApp | None = None  # the desired state last fully applied
    verified: set[str] = field(default_factory=set)  # container ids checked against labels
    crash: dict[str, CrashLoop] = field(default_factory=dict)
    # Where each (service, replica) was placed last: replicas do not move back on their own.
    assigned: dict[tuple[str, int], str] = field(default_factory=dict)


@dataclass(frozen=True)
class _HostPlan:
    """What one host does this reconcile."""

    host: Host
    desired: DesiredApp
    plan: Plan
    roll: Roll


class Controller:
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
        self.hosts: dict[str, Host] = {
            DEFAULT_HOST: Host(DEFAULT_HOST, engine, self._new_cache(engine))
        }
        self._host_sources: dict[str, dict[str, DockerHost]] = {}
        self.wanted: dict[str, Wanted] = {}
        self.by_source: dict[str, set[str]] = {}
        self.source_errors: dict[str, str] = {}
        self.sources_ready: set[str] = set()
        self.ownership = Ownership(self.settings.state_dir)
        self.history = HistoryStore(self.settings.state_dir)
        self.history_sync = HistorySync(self.history, lambda: self.hosts, self._images_of)
        self.inputs = InputRecord(self.settings.state_dir)
        self.apps: dict[str, _AppState] = {}
        self._stopping = asyncio.Event()
        self._reconciling = 0
        self._pruned_orphans = False
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

    def _new_cache(self, engine: Engine) -> EngineCache:
        return EngineCache(engine, self._on_engine_change, interesting=self._interesting)

    def _images_of(self, name: str) -> list[str]:
        wanted = self.wanted.get(name)
        return [c.config.image for c in wanted.desired.containers] if wanted else []

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.cache.synced and len(self.sources_ready) == len(self.sources)

    async def run(self) -> None:
        """Run until stop() is called; never exits on a failed reconcile."""
        await self.cache.start()
        await self._initial_sync()
        tasks = [asyncio.create_task(self._worker(i)) for i in range(self.settings.workers)]
        tasks += [asyncio.create_task(self._run_source(s)) for s in self.sources]
        tasks.append(asyncio.create_task(self._resync_loop()))
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

    async def _initial_sync(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self.cache.relist()
                return
            except EngineError as exc:
                log.warning("engine not reachable yet: %s (retrying in %.0fs)", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync)
            for host in list(self.hosts.values()):
                try:
                    await host.cache.relist()
                except EngineError as exc:
                    log.warning("resync of host %s: %s", host.name, exc)
            for name in self._known_apps():
                self.queue.add(name)

    def _interesting(self, event: dict[str, Any]) -> bool:
        """Called on the event thread: does this event concern an app of ours?"""
        try:
            known = self._known_apps()
        except RuntimeError:  # changed while we looked: be safe
            return True
        return interesting(event, known)

    def _known_apps(self) -> set[str]:
        return set(self.wanted) | set(self.ownership.apps)

    def _on_engine_change(self, apps: set[str] | None) -> None:
        if apps is None:  # reconnected: anything may have happened
            asyncio.get_running_loop().create_task(self._relist_all())
            return
        for name in apps_changed(apps, self._known_apps()):
            self.queue.add(name)
        self.metrics.queue_depth.set(len(self.queue))

    async def _relist_all(self) -> None:
        try:
            await self.cache.relist()
        except EngineError as exc:
            log.warning("relist after reconnect: %s", exc)
        for name in self._known_apps():
            self.queue.add(name)

    # ---- sources -----------------------------------------------------------------------

    async def _run_source(self, source: Source) -> None:
        delay = 1.0
        while True:
            try:
                await source.run(self.on_source_update)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken source must not take the controller down
                log.exception("source %s failed; restarting it in %.0fs", source.id, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _set_hosts(self, source: str, hosts: Sequence[DockerHost]) -> None:
        """Hosts declared by a source: connect new ones, forget removed ones."""
        self._host_sources[source] = {h.metadata.name: h for h in hosts}
        declared = declared_hosts(self._host_sources)
        await set_hosts(self.hosts, declared, self._new_cache, self._host_added)

    async def _host_added(self, host: Host) -> None:
        asyncio.get_running_loop().create_task(self._first_relist(host))

    async def _first_relist(self, host: Host) -> None:
        try:
            await host.cache.relist()
        except EngineError as exc:
            log.warning("host %s is not reachable yet: %s", host.name, exc)
        for name in self._known_apps():
            self.queue.add(name)

    async def on_source_update(self, update: SourceUpdate) -> None:
        source = update.source
        if update.apps is not None:
            await self._set_hosts(source, update.hosts)
        for warning in update.warnings:
            log.warning("%s: %s", source, warning)
        if update.apps is None:
            self._source_invalid(source, update)
            return
        self.source_errors.pop(source, None)
        new = claim(update.apps, self.wanted, source)
        for name, loaded in new.items():
            desired = await desired_of(loaded)
            if desired is None:
                continue
            previous = self.wanted.get(name)
            self.wanted[name] = Wanted(loaded, desired, source, update.revision)
            st = self._state(name)
            st.status.source, st.status.revision = source, update.revision
            self.ownership.set(name, source)
            if previous is None or previous.desired != desired:
                log.info("app %s wanted at revision %s", name, update.revision[:12])
                self.queue.add(name)
            elif st.status.condition("Degraded") and st.status.lastError:
                self.queue.add(name)
        for name in self.by_source.get(source, set()) - new.keys():
            self.wanted.pop(name, None)
            log.info("app %s is no longer in %s", name, source)
            if self.settings.prune:
                self.queue.add(name)
            else:
                self.ownership.drop(name)
                self.apps.pop(name, None)
        self.by_source[source] = set(new)
        self.metrics.apps.set(len(self.wanted))
        self._source_seen(source)

    def _source_invalid(self, source: str, update: SourceUpdate) -> None:
        """A source read that failed: its apps keep their last good state, and say why."""
        self.source_errors[source] = update.error or "invalid manifests"
        log.error(
            "source %s revision %s is invalid; keeping the last good state: %s",
            source,
            update.revision[:12],
            update.error,
        )
        for name in self.by_source.get(source, set()):
            st = self._state(name)
            st.status.lastError = update.error or ""
            st.status.set_condition("Degraded", "True", "InvalidSpec", update.error or "")
        self._source_seen(source)

    def _source_seen(self, source: str) -> None:
        self.sources_ready.add(source)
        if not self._pruned_orphans and len(self.sources_ready) == len(self.sources):
            # Apps owned before a restart whose manifests vanished meanwhile.
            self._pruned_orphans = True
            for name in set(self.ownership.apps) - set(self.wanted):
                if self.settings.prune and self.ownership.apps[name] not in self.source_errors:
                    self.queue.add(name)

    # ---- reconcile ---------------------------------------------------------------------

    def _state(self, name: str) -> _AppState:
        if name not in self.apps:
            self.apps[name] = _AppState(AppStatus(name))
        return self.apps[name]

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
            st = self._state(name)
            st.status.lastError = str(exc)
            st.status.set_condition("Degraded", "True", "ReconcileError", str(exc))
            self._notify(name)
            if isinstance(exc, EngineError):
                return Result.retry(f"reconcile {name}: {exc}"), None
            return Result.retry(f"reconcile {name} failed", logging.ERROR), exc
        self.metrics.reconciles.labels(name, "ok").inc()
        return result, None

    async def reconcile(self, name: str) -> Result:
        """Converge one app on its hosts from the whole desired and observed state; what
        the queue does next is the Result."""
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
        hosts = app_hosts(list(self.hosts.values()), placement.by_host, name)
        self.history_sync.app_hosts[name] = [h.name for h in hosts]
        local_only = [h.name for h in hosts] == [DEFAULT_HOST]
        if local_only and self.cache.down:
            raise EngineError(f"engine {self.engine.name} is not reachable")
        plans, unknown, wait = await self._plan(st, wanted, pin, placement, hosts, local_only)
        st.status.reconciles += 1
        st.status.lastReconcileTime = time.time()
        errors = [
            e if local_only else f"host {p.host.name}: {e}" for p in plans for e in p.plan.errors
        ]
        if errors:
            return self._fail_plan(st, name, "PlanError", "; ".join(errors))
        revision, outcomes = await self._apply(st, wanted, pin, plans)
        results = [r for o in outcomes for r in o.results]
        if all(o.applied for o in outcomes):
            for p in plans:
                self.inputs.update(name, p.host.name, p.desired.containers, p.host.cache.state)
        update_status(
            st.status,
            st.crash,
            [(p.host.name, p.desired, p.host.cache.state) for p in plans],
            results,
            unknown,
            wanted.revision,
            self.images.problem(name),
            self.source_errors.get(wanted.source),
        )
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

    async def _plan(
        self,
        st: _AppState,
        wanted: Wanted,
        pin: Pin | None,
        placement: PlacementResult,
        hosts: Sequence[Host],
        local_only: bool,
    ) -> tuple[list[_HostPlan], dict[str, list[str]], float | None]:
        """A plan per host that answers; the containers of dark hosts (unknown); and when
        to look again for a crash loop."""
        name = wanted.desired.name
        plans: list[_HostPlan] = []
        unknown: dict[str, list[str]] = {}
        wait: float | None = None
        for host in hosts:
            assignments = placement.by_host.get(host.name, ())
            if host.dark:
                if assignments:
                    unknown[host.name] = [
                        naming.container_name(name, a.service, a.replica) for a in assignments
                    ]
                continue
            desired = restrict(wanted.desired, assignments)
            planned, host_wait = await self._plan_host(st, wanted, pin, host, desired)
            if not local_only:
                operations = tuple(
                    dataclasses.replace(op, host=host.name) for op in planned.plan.operations
                )
                planned = dataclasses.replace(
                    planned, plan=dataclasses.replace(planned.plan, operations=operations)
                )
            plans.append(planned)
            if host_wait is not None:
                wait = host_wait if wait is None else min(wait, host_wait)
        return plans, unknown, wait

    async def _plan_host(
        self, st: _AppState, wanted: Wanted, pin: Pin | None, host: Host, desired: DesiredApp
    ) -> tuple[_HostPlan, float | None]:
        name = desired.name
        paused = pin is not None and pin.revision == 0
        secrets = wanted.loaded.secrets
        observed = host.cache.state
        if await self.images.before_plan(name, host.name, host.engine, desired, secrets, observed):
            await host.cache.relist()  # a tag moved: plan with what it names now
        observed = host.cache.state
        replace = await self._verify(st, host, desired, observed)
        restart, wait = crashloop.unhealthy(
            st.crash, host.name, desired, observed, time.monotonic(), self.settings.crash_backoff
        )
        bad = revisions.bad_image_holds(self.history, name, desired, observed)
        rolling = rolling_changes(desired, observed) if desired.updates else {}
        rolling = {n: c for n, c in rolling.items() if n not in bad}
        hold = (set(rolling) if paused else set()) | bad
        seen = self.inputs.seen(name, host.name, observed)
        plan = plan_app(
            desired, observed, replace=replace, restart=restart, hold=hold, inputs_applied=seen
        )
        roll = Roll(replace, restart, bool(rolling) and not paused, bad)
        return _HostPlan(host, desired, plan, roll), wait

    async def _apply(
        self, st: _AppState, wanted: Wanted, pin: Pin | None, plans: list[_HostPlan]
    ) -> tuple[Revision | None, list[RolloutOutcome]]:
        """Run the plans that have work (in waves when asked): the revision they apply
        and each host's outcome."""
        name = wanted.desired.name
        todo = {p.host.name: p for p in plans if p.plan.operations}
        if not todo:
            return None, []
        revision = revisions.revision_for(self.history, name, wanted, pin)
        total = sum(len(p.plan.operations) for p in todo.values())
        rolling = [h for h, p in todo.items() if p.roll.rolling]
        reason = "RollingUpdate" if rolling else "Applying"
        st.status.set_condition("Progressing", "True", reason, f"{total} operation(s)")
        if revision is not None:
            st.status.rollout = {"revision": revision.number, "phase": "rolling-out"}
        self._notify(name)

        def on_wave(message: str) -> None:
            st.status.set_condition("Progressing", "True", "RollingUpdate", message)
            self._notify(name)

        host_waves = next((u.hosts for u in wanted.desired.updates.values() if u.hosts), None)
        outcomes = await waves.converge_waves(
            name,
            list(todo),
            rolling,
            host_waves,
            lambda h: self._converge_host(wanted, st, todo[h]),
            on_wave,
        )
        for p, outcome in zip(todo.values(), outcomes, strict=True):
            observed = await p.host.cache.relist()  # see our own changes first
            st.verified |= {c.id for c in observed.app_containers(name)}
            for result in outcome.results:
                self._count(st, wanted, result)
        if all(o.ok for o in outcomes):
            st.converged = wanted.desired
        return revision, outcomes

    def _converge_host(
        self, wanted: Wanted, st: _AppState, p: _HostPlan
    ) -> Awaitable[RolloutOutcome]:
        name = wanted.desired.name

        def note_bad_images(outcome: RolloutOutcome) -> None:
            revisions.note_bad_images(self.history, name, p.desired, p.host.cache.state, outcome)

        return execute.converge_host(
            wanted,
            st.status,
            p.host,
            p.desired,
            p.plan,
            p.roll,
            concurrency=self.settings.concurrency,
            metrics=self.metrics,
            notify=self._notify,
            image_sources=self._image_sources(name, p.host),
            failed_rollout=note_bad_images,
        )

    def _image_sources(self, name: str, host: Host) -> ImageSources:
        def placed() -> set[str]:
            st = self.apps.get(name)
            return set(st.assigned.values()) if st is not None else set()

        return execute.image_sources(host, lambda: list(self.hosts.values()), placed)

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

    def _fail_plan(self, st: _AppState, name: str, reason: str, message: str) -> Result:
        st.status.lastError = message
        st.status.set_condition("Degraded", "True", reason, message)
        st.status.set_condition("Ready", "False", reason, message)
        self._notify(name)
        return Result.retry(f"app {name} cannot be planned: {message}", logging.ERROR)

    def _notify(self, name: str) -> None:
        st = self.apps.get(name)
        for listener in list(self.status_listeners):
            try:
                listener(name, st.status if st else None)
            except Exception:  # a broken listener must not break reconciling
                log.exception("status listener failed for app %s", name)

    def _place(self, wanted: Wanted, st: _AppState) -> PlacementResult:
        now = time.monotonic()
        hosts = list(self.hosts.values())
        mark_dark(hosts, now)
        app = wanted.loaded.app
        running = running_where(hosts, wanted.desired.name)
        result, st.assigned = place_sticky(app, host_infos(app, hosts, now), running, st.assigned)
        return result

    def _count(self, st: _AppState, wanted: Wanted, result: ApplyResult) -> None:
        name = wanted.desired.name
        if st.converged == wanted.desired:
            # Nothing in the spec changed since the last convergence: this was drift.
            repairs = sum(1 for r in result.results if r.status == "done" and _is_repair(r.op))
            if repairs:
                st.status.driftRepairs += repairs
                self.metrics.drift_repairs.labels(name).inc(repairs)
        restarts = sum(
            1 for r in result.results if r.status == "done" and r.op.kind == Kind.RESTART_CONTAINER
        )
        if restarts:
            st.status.restarts += restarts
            self.metrics.restarts.labels(name).inc(restarts)

    async def _verify(
        self, st: _AppState, host: Host, desired: DesiredApp, observed: ObservedState
    ) -> dict[str, str]:
        """Containers not created by this controller are checked once against their labels."""
        replace: dict[str, str] = {}
        by_name = {d.name: d for d in desired.containers}
        for c in observed.app_containers(desired.name):
            d = by_name.get(c.name)
            if d is None or c.id in st.verified or c.config_hash != d.config_hash:
                continue
            drift = await asyncio.to_thread(host.engine.config_drift, c.id, d)
            if drift is None:
                st.verified.add(c.id)
            else:
                replace[c.name] = f"config changed outside dockyard: {drift}"
        return replace

    async def _prune(self, name: str) -> Result:
        s = self.settings
        owners = self.ownership.apps
        ids = {src.id for src in self.sources}
        if not may_prune(name, s.prune, owners, ids, self.sources_ready, self.source_errors):
            return Result.untouched()
        if not await remove_everywhere(name, list(self.hosts.values()), s.concurrency):
            return Result.retry(f"prune {name} incomplete")
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

    def statuses(self) -> dict[str, dict[str, object]]:
        return {name: st.status.to_json() for name, st in sorted(self.apps.items())}
