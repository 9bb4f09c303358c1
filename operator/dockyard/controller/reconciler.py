"""The controller: keeps the engine converged to what the sources want, forever.

Level-based, as controller-runtime: every trigger (a source update, an engine
event, the periodic resync) only enqueues an app name; a worker then reconciles
that app from the whole desired and observed state. Reads come from the event-fed
cache, so a reconcile with nothing to do makes no engine call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.apply.converge import build_tags
from dockyard.apply.executor import DEFAULT_CONCURRENCY, ApplyResult, Executor
from dockyard.apply.rollout import Rollout, RolloutOutcome, rolling_changes
from dockyard.engine.cache import EngineCache
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.engine.observed import ObservedState
from dockyard.engine.transfer import ImageSources, local_sources
from dockyard.fleet.converge import DEFAULT_HOST, restrict
from dockyard.fleet.hosts import HostError, engine_for_host
from dockyard.fleet.placement import HostInfo, PlacementResult, place
from dockyard.plan.desired import DesiredApp, desired_app, fingerprint
from dockyard.plan.images import image_moved
from dockyard.plan.operations import Kind, Operation, Plan
from dockyard.plan.planner import plan_app, plan_delete
from dockyard.sources.base import Source, SourceUpdate
from dockyard.spec import naming
from dockyard.spec.load import LoadedApp
from dockyard.spec.models import App, DockerHost

from .history import HistoryStore, Pin, Revision, read_newest, write_each
from .image_poll import REASON as IMAGE_PULL_FAILED
from .image_poll import ImageWatch
from .inputs import InputRecord
from .metrics import Metrics
from .ownership import Ownership
from .queue import WorkQueue
from .status import AppStatus, ServiceStatus, replica_counts

log = logging.getLogger("dockyard.controller")

# How long after start an app waits for a connecting host's history before reconciling.
HISTORY_WAIT = 30.0

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


@dataclass
class Wanted:
    loaded: LoadedApp
    desired: DesiredApp
    source: str
    revision: str


@dataclass(frozen=True)
class Roll:
    """How one host converges an app this reconcile."""

    replace: dict[str, str]  # containers changed out of band -> cause
    restart: dict[str, str]  # unhealthy containers to restart -> cause
    rolling: bool  # some containers roll out batch by batch
    hold: set[str]  # containers left as they are (their new image failed before)


@dataclass
class CrashLoop:
    restarts: int = 0
    next_allowed: float = 0.0
    healthy_since: float | None = None


@dataclass
class _Host:
    """One engine the controller reconciles, with its own event-fed cache."""

    name: str
    engine: Engine
    cache: EngineCache
    labels: dict[str, str] = field(default_factory=dict)
    declared: bool = False  # from a DockerHost manifest (else: the default engine)
    down_since: float | None = None  # monotonic time it went dark

    @property
    def dark(self) -> bool:
        return self.cache.down or (self.declared and not self.cache.connected)


@dataclass
class _AppState:
    status: AppStatus
    converged: DesiredApp | None = None  # the desired state last fully applied
    verified: set[str] = field(default_factory=set)  # container ids checked against labels
    crash: dict[str, CrashLoop] = field(default_factory=dict)
    # Where each (service, replica) was placed last: replicas do not move back on their own.
    assigned: dict[tuple[str, int], str] = field(default_factory=dict)


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
        self.hosts: dict[str, _Host] = {
            DEFAULT_HOST: _Host(DEFAULT_HOST, engine, self._new_cache(engine))
        }
        self._host_sources: dict[str, dict[str, DockerHost]] = {}
        self.wanted: dict[str, Wanted] = {}
        self.by_source: dict[str, set[str]] = {}
        self.source_errors: dict[str, str] = {}
        self.sources_ready: set[str] = set()
        self.ownership = Ownership(self.settings.state_dir)
        self.history = HistoryStore(self.settings.state_dir)
        # The history lives on the app's hosts (docs/rollouts.md): read once per app before
        # its first reconcile, written back after each save (one writer per app at a time).
        self.history.on_save = self._history_saved
        self._history_read: set[tuple[str, str]] = set()  # (app, host) read once
        self._history_unsent: dict[str, dict[str, Any]] = {}
        self._history_writers: dict[str, asyncio.Task[None]] = {}
        self._app_hosts: dict[str, list[str]] = {}
        self._history_wait_until = time.monotonic() + HISTORY_WAIT
        self.inputs = InputRecord(self.settings.state_dir)
        self.apps: dict[str, _AppState] = {}
        self._stopping = asyncio.Event()
        self._busy = 0
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

    def _new_cache(self, engine: Engine) -> EngineCache:
        return EngineCache(engine, self._on_engine_change, interesting=self._interesting)

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
            await asyncio.gather(*self._history_writers.values(), return_exceptions=True)
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
        actor = event.get("Actor") or {}
        attrs = actor.get("Attributes") or {}
        if attrs.get(naming.MANAGED_BY) == naming.MANAGED_BY_VALUE or event.get("Type") == "image":
            return True
        name = str(attrs.get("name") or actor.get("ID") or "")
        try:
            known = self._known_apps()
        except RuntimeError:  # changed while we looked: be safe
            return True
        # Unlabelled objects matter only when they take (or free) one of our names.
        return any(name.startswith((f"{app}-", f"{app}_")) for app in known)

    def _known_apps(self) -> set[str]:
        return set(self.wanted) | set(self.ownership.apps)

    def _on_engine_change(self, apps: set[str] | None) -> None:
        if apps is None:  # reconnected: anything may have happened
            asyncio.get_running_loop().create_task(self._relist_all())
            return
        known = self._known_apps()
        for name in apps:
            if name == "*images*":
                for other in known:
                    self.queue.add(other)
                continue
            base = name.lstrip("?")
            if base in known:
                self.queue.add(base)
            elif name.startswith("?"):
                # An unlabelled object named `<app>-…`/`<app>_…` may squat a name of that app.
                for other in known:
                    if base.startswith((f"{other}-", f"{other}_")):
                        self.queue.add(other)
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
        declared: dict[str, DockerHost] = {}
        for per_source in self._host_sources.values():
            declared.update(per_source)
        for name, spec in declared.items():
            if spec.spec.agent is not None:
                continue  # an edge agent: its state goes over MQTT (dockyard.mqtt.publisher)
            current = self.hosts.get(name)
            if current is not None:
                current.labels = dict(spec.metadata.labels)
                continue
            try:
                engine = engine_for_host(spec)
            except HostError as exc:
                log.error("%s", exc.render())
                continue
            host = _Host(name, engine, self._new_cache(engine), dict(spec.metadata.labels), True)
            self.hosts[name] = host
            await host.cache.start()
            asyncio.get_running_loop().create_task(self._first_relist(host))
            log.info("host %s added (%s)", name, spec.spec.url)
        for name in [n for n, h in self.hosts.items() if h.declared and n not in declared]:
            host = self.hosts.pop(name)
            await host.cache.stop()
            log.info("host %s is no longer declared; its containers are left as they are", name)

    async def _first_relist(self, host: _Host) -> None:
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
            return
        self.source_errors.pop(source, None)
        new: dict[str, LoadedApp] = {}
        for loaded in update.apps:
            owner = self.wanted.get(loaded.name)
            if owner is not None and owner.source != source:
                log.error(
                    "app %s is defined by both %s and %s; keeping %s",
                    loaded.name,
                    owner.source,
                    source,
                    owner.source,
                )
                continue
            new[loaded.name] = loaded
        for name, loaded in new.items():
            try:
                tags = await asyncio.to_thread(build_tags, loaded)
            except OSError as exc:
                log.error("app %s: cannot read its build context: %s", name, exc)
                continue
            desired = desired_app(loaded, tags)
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
            self._busy += 1
            started = time.monotonic()
            try:
                await self.reconcile(name)
                self.metrics.reconciles.labels(name, "ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop never dies: log, back off, retry
                self.metrics.reconciles.labels(name, "error").inc()
                self.metrics.errors.labels(name).inc()
                delay = self.queue.add_rate_limited(name)
                if isinstance(exc, EngineError):
                    log.warning("reconcile %s: %s (retry in %.0fs)", name, exc, delay)
                else:
                    log.exception("reconcile %s failed (retry in %.0fs)", name, delay)
                st = self._state(name)
                st.status.lastError = str(exc)
                st.status.set_condition("Degraded", "True", "ReconcileError", str(exc))
                self._notify(name)
            finally:
                self._busy -= 1
                self.queue.done(name)
                self.metrics.duration.observe(time.monotonic() - started)
                self.metrics.engine_up.set(1 if self.cache.connected else 0)
                self.metrics.engine_requests.set(self.engine.requests)

    async def reconcile(self, name: str) -> None:
        source_wanted = self.wanted.get(name)
        if source_wanted is None:
            await self._prune(name)
            return
        st = self._state(name)
        if not await self._read_history(name):
            self.queue.add_after(name, 0.2)  # a host is still connecting: its history first
            return
        wanted, pin = self._target(name, source_wanted)
        paused = pin is not None and pin.revision == 0
        placement = self._place(wanted, st)
        if placement.errors:
            self._fail_plan(st, name, "PlacementError", "; ".join(placement.errors))
            return
        hosts = [
            h
            for h in self.hosts.values()
            if placement.by_host.get(h.name)
            or (h.cache.synced and _has_objects(h.cache.state, name))
        ]
        local_only = [h.name for h in hosts] == [DEFAULT_HOST]
        self._app_hosts[name] = [h.name for h in hosts]
        if local_only and self.cache.down:
            raise EngineError(f"engine {self.engine.name} is not reachable")
        unknown: dict[str, list[str]] = {}
        plans: list[tuple[_Host, DesiredApp, Plan, dict[str, str]]] = []
        rolls: dict[str, Roll] = {}
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
            secrets = wanted.loaded.secrets
            if await self.images.before_plan(
                name, host.name, host.engine, desired, secrets, host.cache.state
            ):
                await host.cache.relist()  # a tag moved: plan with what it names now
            observed = host.cache.state
            replace = await self._verify(st, host, desired, observed)
            restart, host_wait = self._unhealthy(st, host.name, desired, observed)
            if host_wait is not None:
                wait = host_wait if wait is None else min(wait, host_wait)
            bad = self._bad_image_holds(name, desired, observed)
            rolling = rolling_changes(desired, observed) if desired.updates else {}
            rolling = {n: c for n, c in rolling.items() if n not in bad}
            hold = (set(rolling) if paused else set()) | bad
            seen = self.inputs.seen(name, host.name, observed)
            plan = plan_app(
                desired,
                observed,
                replace=replace,
                restart=restart,
                hold=hold,
                inputs_applied=seen,
            )
            rolls[host.name] = Roll(replace, restart, bool(rolling) and not paused, bad)
            if not local_only:
                plan = dataclasses.replace(
                    plan,
                    operations=tuple(
                        dataclasses.replace(op, host=host.name) for op in plan.operations
                    ),
                )
            plans.append((host, desired, plan, restart))
        st.status.reconciles += 1
        st.status.lastReconcileTime = time.time()
        errors = [
            e if local_only else f"host {h.name}: {e}" for h, _, p, _ in plans for e in p.errors
        ]
        if errors:
            self._fail_plan(st, name, "PlanError", "; ".join(errors))
            return
        results: list[ApplyResult] = []
        outcomes: list[RolloutOutcome] = []
        todo = [(h, d, p) for h, d, p, _ in plans if p.operations]
        revision = self._revision_for(name, wanted, pin) if todo else None
        if todo:
            total = sum(len(p.operations) for _, _, p in todo)
            reason = (
                "RollingUpdate" if any(rolls[h.name].rolling for h, _, _ in todo) else "Applying"
            )
            st.status.set_condition("Progressing", "True", reason, f"{total} operation(s)")
            if revision is not None:
                st.status.rollout = {"revision": revision.number, "phase": "rolling-out"}
            self._notify(name)
            outcomes = await self._converge_waves(wanted, st, todo, rolls)
            for (host, _, plan), outcome in zip(todo, outcomes, strict=True):
                observed = await host.cache.relist()  # see our own changes first
                st.verified |= {c.id for c in observed.app_containers(name)}
                for result in outcome.results:
                    self._count(st, wanted, plan, result)
                results.extend(outcome.results)
            if all(o.ok for o in outcomes):
                st.converged = wanted.desired
        for host, desired, plan, _ in plans:
            if not plan.errors and all(o.applied for o in outcomes):
                self.inputs.update(name, host.name, desired.containers, host.cache.state)
        self._update_status(st, wanted, [(h, d) for h, d, _, _ in plans], results, unknown)
        self._after_rollout(name, st, source_wanted, wanted, pin, revision, outcomes)
        self._notify(name)
        failed = [r for r in results if not r.ok]
        if failed:
            delay = self.queue.add_rate_limited(name)
            log.warning(
                "app %s: %d operation(s) failed (retry in %.0fs)",
                name,
                sum(len(r.failed) for r in failed),
                delay,
            )
            return
        self.queue.forget(name)
        if unknown:
            # Look again soon: the host may return, or its grace may run out.
            wait = min(wait or 5.0, 5.0)
        if wait is not None:
            self.queue.add_after(name, wait)

    # ---- revisions and rollouts ------------------------------------------------------------

    async def _read_history(self, name: str) -> bool:
        """Each host once per app, as soon as it answers: take the newest history they
        hold (another machine's `dockyard apply`, or this controller before a restart with
        another state folder). A host is written only once read, so a host that answers
        late never has its history replaced by one that did not know it. False while a
        host that is not dark has not been read yet (for HISTORY_WAIT after start): the
        app waits, so nothing is recorded that does not continue that host's history."""
        waiting = False
        for host in list(self.hosts.values()):
            if (name, host.name) in self._history_read or host.dark:
                continue
            if not host.cache.synced:
                waiting = waiting or time.monotonic() < self._history_wait_until
                continue
            record, problems = await asyncio.to_thread(read_newest, name, [host.engine])
            for problem in problems:
                log.warning("app %s: history not read from %s", name, problem)
            if problems:
                continue
            self._history_read.add((name, host.name))
            if self.history.adopt(name, record):
                log.info("app %s: history read from host %s", name, host.name)
        return not waiting

    def _history_saved(self, name: str, record: dict[str, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not running (a test or a tool): the state folder has it
        self._history_unsent[name] = record
        if name not in self._history_writers:
            self._busy += 1  # settles count it: it talks to the engines
            self._history_writers[name] = loop.create_task(self._write_history(name))

    async def _write_history(self, name: str) -> None:
        try:
            while name in self._history_unsent:
                record = self._history_unsent.pop(name)
                read = {h for a, h in self._history_read if a == name}
                hosts = [
                    self.hosts[h]
                    for h in self._app_hosts.get(name, [DEFAULT_HOST])
                    if h in self.hosts and h in read and not self.hosts[h].dark
                ]
                wanted = self.wanted.get(name)
                images = [c.config.image for c in wanted.desired.containers] if wanted else []
                problems = await asyncio.to_thread(
                    write_each, name, record, [h.engine for h in hosts], images
                )
                for problem in problems:
                    log.warning("app %s: history not stored on %s", name, problem)
        finally:
            self._history_writers.pop(name, None)
            self._busy -= 1

    def _target(self, name: str, wanted: Wanted) -> tuple[Wanted, Pin | None]:
        """What to run: what the source wants, unless a rollback pinned another revision
        for exactly this spec (revision 0 = paused: keep what runs, roll no further)."""
        history = self.history.get(name)
        pin = history.pin
        if pin is None:
            return wanted, None
        if pin.for_fingerprint != fingerprint(wanted.desired):
            log.info(
                "app %s: the spec changed; the pin to revision %s is dropped", name, pin.revision
            )
            history.pin = None
            self.history.save(name)
            return wanted, None
        if pin.revision == 0:
            return wanted, pin
        rev = history.get(pin.revision)
        if rev is None:
            history.pin = None
            self.history.save(name)
            return wanted, None
        try:
            return self._wanted_from(wanted, rev), pin
        except Exception as exc:  # a stored revision that no longer loads: say so, run the spec
            log.error("app %s: revision %d cannot be restored: %s", name, rev.number, exc)
            history.pin = None
            self.history.save(name)
            return wanted, None

    def _wanted_from(self, wanted: Wanted, rev: Revision) -> Wanted:
        app = App.model_validate(rev.app)
        loaded = LoadedApp(
            app=app,
            source=wanted.loaded.source,
            base_dir=Path(rev.base_dir),
            env={k: tuple((a, b) for a, b in v) for k, v in rev.env.items()},
            # A revision keeps no content: its secrets and watched files are today's.
            secrets=wanted.loaded.secrets,
            files=wanted.loaded.files,
            manifest_paths=wanted.loaded.manifest_paths,
        )
        return Wanted(loaded, desired_app(loaded, rev.build_tags), wanted.source, wanted.revision)

    def _revision_for(self, name: str, wanted: Wanted, pin: Pin | None) -> Revision | None:
        """The history entry of what is being applied now (added when new)."""
        history = self.history.get(name)
        if pin is not None:
            return history.get(pin.revision) if pin.revision else history.latest()
        fp = fingerprint(wanted.desired)
        latest = history.latest()
        if latest is not None and latest.fingerprint == fp:
            return latest
        loaded = wanted.loaded
        return self.history.add(
            name,
            fp,
            wanted.source,
            wanted.revision,
            loaded.app.model_dump(mode="json", by_alias=True, exclude_none=True),
            {k: [list(p) for p in v] for k, v in loaded.env.items()},
            dict(build_tags_of(wanted.desired)),
            str(loaded.base_dir),
        )

    def _after_rollout(
        self,
        name: str,
        st: _AppState,
        source_wanted: Wanted,
        wanted: Wanted,
        pin: Pin | None,
        revision: Revision | None,
        outcomes: list[RolloutOutcome],
    ) -> None:
        history = self.history.get(name)
        failed = [o for o in outcomes if o.failed]
        halted = next((o.halted for o in outcomes if o.halted), "")
        stopped = "halt" if halted else next((o.action for o in outcomes if o.action), "")
        applied = all(o.applied for o in outcomes)
        if revision is None and not outcomes and pin is None:
            # Nothing to do: what runs is what the source wants. Adopt it as a revision
            # once, so a later bad rollout has something to go back to.
            ready = st.status.condition("Ready")
            if ready is not None and ready.status == "True":
                fp = fingerprint(wanted.desired)
                current = history.get(history.current) if history.current else None
                if current is None or current.fingerprint != fp:
                    rev = self._revision_for(name, wanted, None)
                    if rev is not None:
                        rev.outcome = "complete"
                        history.current = rev.number
                        self.history.save(name)
            self._rollout_status(st, history, pin)
            return
        if revision is None:
            self._rollout_status(st, history, pin)
            return
        message = halted or "; ".join(o.message() for o in failed if o.message())
        if not failed and not stopped:
            if applied:
                if pin is None or pin.revision == 0:
                    revision.outcome = "complete" if pin is None else revision.outcome
                    revision.message = ""
                history.current = (
                    revision.number if pin is None else (pin.revision or history.current)
                )
                self.history.save(name)
            self._rollout_status(st, history, pin)
            return
        if failed and not halted and all(_image_only(o) for o in failed):
            # Only a moved tag failed: the spec's revision is fine and its old containers
            # run again; _note_bad_images keeps them until the tag moves again.
            self._rollout_status(st, history, pin)
            return
        if stopped and pin is None:
            # Never retried while the spec stays the same: pinned to the previous good
            # revision (rollback), or to what runs now (revision 0: pause, or nothing older).
            previous = history.previous_good(revision.number) if stopped == "rollback" else None
            reverted = any(o.reverted for o in outcomes)
            revision.outcome = {
                "rollback": "rolled-back",
                "pause": "paused",
                "halt": "halted",
            }.get(stopped, "failed")
            if stopped == "rollback" and not reverted and previous is None:
                revision.outcome = "failed"
            revision.message = message
            reason = f"revision {revision.number} failed: {message}"
            history.pin = Pin(
                fingerprint(source_wanted.desired), previous.number if previous else 0, reason
            )
            self.history.save(name)
            log.warning(
                "app %s: rollout of revision %d stopped (%s): %s",
                name,
                revision.number,
                revision.outcome,
                message,
            )
            if previous is not None:
                self.queue.add(name)  # converge to the previous revision (if not already there)
        elif failed and pin is None:
            revision.outcome = "failed"
            revision.message = message
            history.pin = Pin(
                fingerprint(source_wanted.desired),
                0,
                f"revision {revision.number} failed: {message}",
            )
            self.history.save(name)
            log.warning("app %s: %s", name, message)
        self._rollout_status(st, history, history.pin)

    def _bad_image_holds(self, name: str, desired: DesiredApp, observed: ObservedState) -> set[str]:
        """Containers whose tag moved to an image that already failed its rollout: held on
        their old image until the tag moves again (then the entry is forgotten)."""
        history = self.history.get(name)
        if not history.bad_images:
            return set()
        held: set[str] = set()
        for d in desired.containers:
            bad = history.bad_images.get(d.config.image)
            obs = observed.container_named(d.name)
            if bad is None or obs is None:
                continue
            if observed.image_id(d.config.image) == bad["id"] and image_moved(d, obs, observed):
                held.add(d.name)
        wanted = {d.config.image for d in desired.containers}
        for image, bad in list(history.bad_images.items()):
            current = observed.image_id(image)
            if image not in wanted or (current is not None and current != bad["id"]):
                log.info("app %s: image %s moved again; it may roll out", name, image)
                del history.bad_images[image]
                self.history.save(name)
        return held

    def _note_bad_images(
        self, name: str, desired: DesiredApp, host: _Host, outcome: RolloutOutcome
    ) -> None:
        """A rollout that failed because a tag moved to a bad image: remember the image, so
        its containers keep their old one instead of being rolled again and again."""
        if not outcome.failed or not outcome.action:
            return
        by_name = {d.name: d for d in desired.containers}
        if not _image_only(outcome):
            return
        history = self.history.get(name)
        state = host.cache.state
        for container, why in outcome.failed.items():
            image = by_name[container].config.image
            image_id = state.image_id(image)
            if image_id:
                history.bad_images[image] = {"id": image_id, "reason": f"{container}: {why}"}
        self.history.save(name)

    def _rollout_status(self, st: _AppState, history: Any, pin: Pin | None) -> None:
        status = st.status
        status.appRevision = history.current
        latest = history.latest()
        info: dict[str, Any] = {}
        if latest is not None:
            info = {"revision": latest.number, "phase": latest.outcome}
            if latest.message:
                info["message"] = latest.message
        if pin is not None:
            info["message"] = pin.reason
            if pin.revision:
                info["pinnedTo"] = pin.revision
            outcome = latest.outcome if latest is not None else ""
            reason = {
                "rolled-back": "RolledBack",
                "paused": "RolloutPaused",
                "halted": "WaveHalted",
                "failed": "RolloutFailed",
            }.get(outcome)
            if reason is not None:
                where = f"revision {pin.revision}" if pin.revision else "the containers that ran"
                status.set_condition(
                    "Degraded",
                    "True",
                    reason,
                    f"{pin.reason}; running {where} until the spec changes",
                )
        if history.bad_images:
            image, bad = next(iter(history.bad_images.items()))
            status.set_condition(
                "Degraded",
                "True",
                "ImageRolledBack",
                f"image {image} moved to {bad['id'][:19]}, whose rollout failed "
                f"({bad['reason']}); the old containers keep running until the tag moves again",
            )
            info["badImages"] = dict(history.bad_images)
        status.rollout = info

    def rollback(self, name: str, to: int | None = None) -> str:
        """Pin the app to an earlier revision until its spec changes. Returns what was done;
        raises ValueError with what to do instead."""
        wanted = self.wanted.get(name)
        if wanted is None:
            raise ValueError(f"the controller has no app named {name}")
        history = self.history.get(name)
        target = history.rollback_target(name, to)
        fp = fingerprint(wanted.desired)
        if target.fingerprint == fp:
            history.pin = None
            message = f"app {name}: revision {target.number} is what the source wants; pin cleared"
        else:
            history.pin = Pin(fp, target.number, f"rollback to revision {target.number} requested")
            message = f"app {name}: rolling back to revision {target.number}"
        self.history.save(name)
        self.queue.add(name)
        log.info("%s", message)
        return message

    def _fail_plan(self, st: _AppState, name: str, reason: str, message: str) -> None:
        st.status.lastError = message
        st.status.set_condition("Degraded", "True", reason, message)
        st.status.set_condition("Ready", "False", reason, message)
        delay = self.queue.add_rate_limited(name)
        log.error("app %s cannot be planned (retry in %.0fs): %s", name, delay, message)
        self._notify(name)

    def _notify(self, name: str) -> None:
        st = self.apps.get(name)
        for listener in list(self.status_listeners):
            try:
                listener(name, st.status if st else None)
            except Exception:  # a broken listener must not break reconciling
                log.exception("status listener failed for app %s", name)

    def _place(self, wanted: Wanted, st: _AppState) -> PlacementResult:
        now = time.monotonic()
        infos = []
        for host in sorted(self.hosts.values(), key=lambda h: h.name):
            if host.dark and host.down_since is None:
                host.down_since = now
            elif not host.dark:
                host.down_since = None
            infos.append(HostInfo(host.name, host.labels, not self._rescheduled(wanted, host)))
        current = {
            (c.service, c.replica): host.name
            for host in self.hosts.values()
            if host.cache.synced and not host.dark
            for c in host.cache.state.app_containers(wanted.desired.name)
            if c.service and c.replica
        }
        current.update((k, h) for k, h in st.assigned.items() if h in self.hosts)
        result = place(wanted.loaded.app, infos, DEFAULT_HOST, current)
        if not result.errors:
            st.assigned = {
                (a.service, a.replica): host
                for host, assignments in result.by_host.items()
                for a in assignments
            }
        return result

    def _rescheduled(self, wanted: Wanted, host: _Host) -> bool:
        """A dark host stops counting for placement once its grace period is over, but
        only for apps that ask to be rescheduled."""
        if host.down_since is None:
            return False
        placement = wanted.loaded.app.spec.placement
        if placement is None or not placement.reschedule:
            return False
        return time.monotonic() - host.down_since >= placement.reschedule_after

    async def _converge_waves(
        self,
        wanted: Wanted,
        st: _AppState,
        todo: list[tuple[_Host, DesiredApp, Plan]],
        rolls: dict[str, Roll],
    ) -> list[RolloutOutcome]:
        """Converge the hosts: all at once, or — for a rolling change with `update.hosts` —
        canaries first, then `parallelism` hosts at a time, halting when too many failed."""
        waves = next((u.hosts for u in wanted.desired.updates.values() if u.hosts), None)
        rolling = [x for x in todo if rolls[x[0].name].rolling]
        if waves is None or len(rolling) < 2:
            return list(
                await asyncio.gather(
                    *(self._converge_host(wanted, st, h, d, p, rolls[h.name]) for h, d, p in todo)
                )
            )
        outcomes: dict[str, RolloutOutcome] = {}
        others = [x for x in todo if not rolls[x[0].name].rolling]
        canary = [x for name in waves.canary for x in rolling if x[0].name == name]
        rest = sorted((x for x in rolling if x not in canary), key=lambda x: x[0].name)
        size = waves.parallelism or len(rest) or 1
        groups = [canary] if canary else []
        groups += [rest[i : i + size] for i in range(0, len(rest), size)]
        groups[0] = [*others, *groups[0]]
        failed: list[str] = []
        for number, group in enumerate(groups):
            hosts = ", ".join(h.name for h, _, _ in group if rolls[h.name].rolling)
            st.status.set_condition(
                "Progressing", "True", "RollingUpdate", f"wave {number + 1}/{len(groups)}: {hosts}"
            )
            self._notify(wanted.desired.name)
            done = await asyncio.gather(
                *(self._converge_host(wanted, st, h, d, p, rolls[h.name]) for h, d, p in group)
            )
            for (host, _, _), outcome in zip(group, done, strict=True):
                outcomes[host.name] = outcome
                if rolls[host.name].rolling and (
                    outcome.failed or outcome.action or not outcome.applied
                ):
                    failed.append(f"{host.name}: {outcome.message() or 'not applied'}")
            if failed and len(failed) / len(rolling) > waves.max_failure_ratio:
                left = [h.name for g in groups[number + 1 :] for h, _, _ in g]
                message = (
                    f"rollout wave halted after {len(failed)} of {len(rolling)} host(s) failed "
                    f"({'; '.join(failed)})"
                    + (f"; {', '.join(left)} keep(s) the old revision" if left else "")
                )
                log.warning("app %s: %s", wanted.desired.name, message)
                for g in groups[number + 1 :]:
                    for h, _, _ in g:
                        outcomes[h.name] = RolloutOutcome(action="halt", halted=message)
                for outcome in outcomes.values():
                    outcome.halted = message
                break
        return [outcomes[h.name] for h, _, _ in todo]

    async def _converge_host(
        self,
        wanted: Wanted,
        st: _AppState,
        host: _Host,
        desired: DesiredApp,
        plan: Plan,
        roll: Roll,
    ) -> RolloutOutcome:
        replace, restart, rolling = roll.replace, roll.restart, roll.rolling
        if not rolling:
            return RolloutOutcome(results=[await self._execute(wanted, host, plan)])
        name = wanted.desired.name

        def progress(message: str) -> None:
            log.info("app %s on %s: %s", name, host.name, message)
            st.status.set_condition("Progressing", "True", "RollingUpdate", message)
            self._notify(name)

        rollout = Rollout(
            host.engine,
            host.cache.relist,
            secrets={name: wanted.loaded.secrets},
            concurrency=self.settings.concurrency,
            progress=progress,
            image_sources=self._image_sources(name, host),
        )
        outcome = await rollout.run(desired, replace=replace, restart=restart, hold=roll.hold)
        self._note_bad_images(name, desired, host, outcome)
        for result in outcome.results:
            for r in result.results:
                if r.status == "done":
                    self.metrics.operations.labels(r.op.kind.value).inc()
                elif r.status == "failed":
                    log.warning("app %s: %s failed: %s", name, r.op.describe(), r.error)
        if outcome.failed:
            log.warning("app %s on %s: %s", name, host.name, outcome.message())
        return outcome

    async def _execute(self, wanted: Wanted, host: _Host, plan: Plan) -> ApplyResult:
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
            concurrency=self.settings.concurrency,
            image_sources=self._image_sources(wanted.desired.name, host),
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
                self.metrics.operations.labels(r.op.kind.value).inc()
            elif r.status == "failed":
                log.warning("app %s: %s failed: %s", wanted.desired.name, r.op.describe(), r.error)
        return result

    def _image_sources(self, name: str, host: _Host) -> ImageSources:
        """Where `host` gets an image it lacks and cannot pull: the engine of the machine
        dockyard runs on, then the other hosts the app was placed on."""

        def sources() -> list[Engine]:
            st = self.apps.get(name)
            placed = set(st.assigned.values()) if st is not None else set()
            others = [
                h.engine
                for h in self.hosts.values()
                if h.name in placed and h is not host and not h.dark
            ]
            return [*local_sources(), *others]

        return sources

    def _count(self, st: _AppState, wanted: Wanted, plan: Plan, result: ApplyResult) -> None:
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
        self, st: _AppState, host: _Host, desired: DesiredApp, observed: ObservedState
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

    def _unhealthy(
        self, st: _AppState, host: str, desired: DesiredApp, observed: ObservedState
    ) -> tuple[dict[str, str], float | None]:
        """restartWhenUnhealthy, with CrashLoopBackOff: which to restart now, when to look again."""
        now = time.monotonic()
        restart: dict[str, str] = {}
        wait: float | None = None
        s = self.settings
        for d in desired.containers:
            if not d.restart_when_unhealthy:
                continue
            obs = observed.container_named(d.name)
            loop = st.crash.setdefault(_crash_key(host, d.name), CrashLoop())
            if obs is None or not obs.running:
                continue
            if obs.health == "healthy":
                if loop.healthy_since is None:
                    loop.healthy_since = now
                healthy_for = now - loop.healthy_since
                if loop.restarts and healthy_for >= s.backoff_reset:
                    loop.restarts, loop.next_allowed = 0, 0.0
                elif loop.restarts:
                    remaining = s.backoff_reset - healthy_for
                    wait = remaining if wait is None else min(wait, remaining)
                continue
            loop.healthy_since = None
            if obs.health != "unhealthy":
                continue
            if now >= loop.next_allowed:
                delay = min(s.backoff_base * 2**loop.restarts, s.backoff_max)
                loop.restarts += 1
                loop.next_allowed = now + delay
                restart[d.name] = (
                    f"unhealthy; restart {loop.restarts} (next no sooner than {delay:.0f}s)"
                )
                wait = delay if wait is None else min(wait, delay)
            else:
                remaining = loop.next_allowed - now
                wait = remaining if wait is None else min(wait, remaining)
        return restart, wait

    async def _prune(self, name: str) -> None:
        if not self.settings.prune or name not in self.ownership.apps:
            return
        owner = self.ownership.apps[name]
        if owner not in self.sources_ready and owner in {src.id for src in self.sources}:
            return  # its source has not been read yet: absence means nothing so far
        if owner in self.source_errors:
            return  # its source is broken: never prune on a bad read
        incomplete = False
        for host in list(self.hosts.values()):
            if host.dark:
                incomplete = incomplete or host.declared
                continue
            plan = plan_delete(name, host.cache.state, volumes=False)
            if not plan.operations:
                continue
            log.info(
                "app %s was removed from its source: removing its containers on %s", name, host.name
            )
            result = await Executor(host.engine, concurrency=self.settings.concurrency).run(plan)
            await host.cache.relist()
            incomplete = incomplete or not result.ok
        if incomplete:
            delay = self.queue.add_rate_limited(name)
            log.warning("prune %s incomplete (retry in %.0fs)", name, delay)
            return
        for host in self.hosts.values():
            host.engine.secrets.forget_app(name)
        self.inputs.forget(name)
        self.ownership.drop(name)
        self.images.forget(name)
        self.apps.pop(name, None)
        self.queue.forget(name)
        self._notify(name)

    def _update_status(
        self,
        st: _AppState,
        wanted: Wanted,
        per_host: list[tuple[_Host, DesiredApp]],
        results: list[ApplyResult],
        unknown: dict[str, list[str]],
    ) -> None:
        status = st.status
        services: dict[str, ServiceStatus] = {}
        not_ready: list[str] = []
        exited: list[str] = []  # one-shot containers that failed: no waiting fixes them
        status.placement = {}
        for host, desired in per_host:
            restarts = {
                d.name: st.crash[_crash_key(host.name, d.name)].restarts
                for d in desired.containers
                if _crash_key(host.name, d.name) in st.crash
            }
            counted, missing, dead = replica_counts(desired, host.cache.state, restarts)
            not_ready.extend(missing)
            exited.extend(dead)
            for svc in counted:
                total = services.setdefault(svc.name, ServiceStatus(svc.name, 0))
                total.desired += svc.desired
                total.running += svc.running
                total.healthy += svc.healthy
                total.restarts += svc.restarts
                for c in svc.containers:
                    total.containers.append({**c, "host": host.name})
            for d in desired.containers:
                status.placement.setdefault(host.name, []).append(d.name)
        for host_name, names in unknown.items():
            status.placement.setdefault(host_name, []).extend(names)
            not_ready.extend(f"{n} is unknown (host {host_name} is unreachable)" for n in names)
        status.services = list(services.values())
        status.revision = wanted.revision
        failed = [f for r in results for f in r.failed]
        crashloop = [
            key for key, c in st.crash.items() if c.restarts > 1 and c.healthy_since is None
        ]
        source_error = self.source_errors.get(wanted.source)
        if failed:
            message = "; ".join(f"{r.op.describe()}: {r.error}" for r in failed)
            status.lastError = message
            status.set_condition("Degraded", "True", "OperationFailed", message)
        elif unknown:
            message = "; ".join(
                f"host {h} is unreachable: {len(n)} replica(s) unknown" for h, n in unknown.items()
            )
            status.set_condition("Degraded", "True", "HostUnreachable", message)
        elif crashloop:
            message = ", ".join(f"{n} restarted {st.crash[n].restarts} times" for n in crashloop)
            status.set_condition("Degraded", "True", "CrashLoopBackOff", message)
        elif exited:
            status.set_condition("Degraded", "True", "ContainerFailed", "; ".join(exited[:5]))
        elif pull_problem := self.images.problem(wanted.desired.name):
            status.set_condition("Degraded", "True", IMAGE_PULL_FAILED, pull_problem)
        elif source_error:
            status.set_condition("Degraded", "True", "InvalidSpec", source_error)
        else:
            status.set_condition("Degraded", "False", "AsExpected", "")
            status.lastError = ""
        if not_ready:
            status.set_condition("Ready", "False", "NotReady", "; ".join(not_ready[:5]))
            status.set_condition("Progressing", "True", "Converging", "; ".join(not_ready[:5]))
        else:
            status.set_condition("Ready", "True", "Converged", "")
            status.set_condition("Progressing", "False", "Converged", "")
            if not failed:
                status.observedGeneration = wanted.revision

    def history_of(self, name: str) -> dict[str, Any] | None:
        if name not in self.wanted and name not in self.apps:
            return None
        return self.history.get(name).to_json()

    def statuses(self) -> dict[str, dict[str, object]]:
        return {name: st.status.to_json() for name, st in sorted(self.apps.items())}


def _image_only(outcome: RolloutOutcome) -> bool:
    """Every container that failed was being rolled only because its image tag moved."""
    moved = {n for n, c in outcome.causes.items() if c.startswith("image ") and " moved to " in c}
    return bool(outcome.failed) and set(outcome.failed) <= moved


def build_tags_of(desired: DesiredApp) -> dict[str, str]:
    """service -> the content-hash tag its build produced (to run it again on rollback)."""
    return {c.service: c.build.tag for c in desired.containers if c.build is not None}


def _crash_key(host: str, container: str) -> str:
    return container if host == DEFAULT_HOST else f"{host}/{container}"


def _has_objects(state: ObservedState, app: str) -> bool:
    return bool(state.app_containers(app)) or any(n.app == app for n in state.networks)
