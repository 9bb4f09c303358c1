"""Runs a Plan: operations in dependency order, with bounded concurrency.

A failed operation skips only what depends on it; everything else goes on, so
one broken service never leaves the rest of the app half-applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

from dockyard.engine.build import from_images
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.engine.monitor import monitor
from dockyard.engine.registry import PullError, pull_auth
from dockyard.engine.transfer import ImageSources, ImageUnavailable, deliver_image, local_sources
from dockyard.plan.operations import WAITS, Kind, Operation, Plan
from dockyard.spec.load import Secret
from dockyard.state.desired import BuildSpec, DesiredContainer

Status = Literal["done", "failed", "skipped"]

DEFAULT_CONCURRENCY = 32
COMPLETION_TIMEOUT = 600.0
# Pull failures that another engine's copy of the image can stand in for. A refused login
# is not one of them: it is the user's to fix, not to hide.
COPY_WHEN_PULL = frozenset({"unreachable", "not-found"})


@dataclass(frozen=True)
class OpResult:
    op: Operation
    status: Status
    seconds: float
    error: str | None = None
    note: str | None = None  # what a done operation did beyond its cause (e.g. a copy)


@dataclass
class ApplyResult:
    results: list[OpResult] = field(default_factory=list)
    seconds: float = 0.0
    # Rolling updates whose new containers failed their monitor window (what and why).
    rollout_failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[OpResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def skipped(self) -> list[OpResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.rollout_failures


class Reporter(Protocol):
    def started(self, op: Operation) -> None: ...
    def progress(self, op: Operation, message: str) -> None: ...
    def finished(self, result: OpResult) -> None: ...


class SilentReporter:
    def started(self, op: Operation) -> None:
        pass

    def progress(self, op: Operation, message: str) -> None:
        pass

    def finished(self, result: OpResult) -> None:
        pass


class Executor:
    def __init__(
        self,
        engine: Engine,
        secrets: Mapping[str, Mapping[str, Secret]] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        reporter: Reporter | None = None,
        image_sources: ImageSources | None = None,
    ) -> None:
        """`image_sources`: the engines a host that lacks an image and cannot pull it gets
        a copy from (default: the engine of the machine running dockyard)."""
        self.engine = engine
        self.secrets = secrets or {}
        self.concurrency = max(1, concurrency)
        self.reporter: Reporter = reporter or SilentReporter()
        self.image_sources: ImageSources = image_sources or local_sources
        self._notes: dict[str, str] = {}  # op id -> note, written by the op's own thread
        self._created: dict[str, DesiredContainer] = {}  # the plan's new containers by name

    async def run(self, plan: Plan) -> ApplyResult:
        started_at = time.monotonic()
        ops = {op.id: op for op in plan.operations}
        self._created = {
            op.container.name: op.container
            for op in plan.operations
            if op.kind is Kind.CREATE_CONTAINER and op.container is not None
        }
        dependents: dict[str, list[str]] = {op_id: [] for op_id in ops}
        waiting: dict[str, int] = {}
        for op in ops.values():
            deps = [d for d in op.deps if d in ops]
            waiting[op.id] = len(deps)
            for dep in deps:
                dependents[dep].append(op.id)

        result = ApplyResult()
        loop = asyncio.get_running_loop()
        # Waits hold a thread while polling; give them room beyond the mutation slots.
        pool = ThreadPoolExecutor(max_workers=self.concurrency + 16, thread_name_prefix="engine")
        slots = asyncio.Semaphore(self.concurrency)
        done_events: asyncio.Queue[tuple[str, Status]] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()
        blocked: dict[str, str] = {}

        async def run_one(op: Operation) -> None:
            is_wait = op.kind in WAITS
            t0 = time.monotonic()
            status: Status = "done"
            error: str | None = None
            if not is_wait:
                await slots.acquire()
            try:
                self.reporter.started(op)

                def report(message: str) -> None:
                    loop.call_soon_threadsafe(self.reporter.progress, op, message)

                await loop.run_in_executor(pool, self._call, op, report)
            except EngineError as exc:
                status, error = "failed", str(exc)
            except Exception as exc:  # a bug must not abandon the rest of the plan
                status, error = "failed", f"unexpected error: {type(exc).__name__}: {exc}"
            finally:
                if not is_wait:
                    slots.release()
            note = self._notes.pop(op.id, None)
            outcome = OpResult(op, status, time.monotonic() - t0, error, note)
            result.results.append(outcome)
            self.reporter.finished(outcome)
            await done_events.put((op.id, status))

        def launch(op_id: str) -> None:
            task = asyncio.create_task(run_one(ops[op_id]))
            running.add(task)
            task.add_done_callback(running.discard)

        def skip(op_id: str, reason: str) -> None:
            for child in dependents[op_id]:
                if child in blocked:
                    continue
                blocked[child] = reason
                outcome = OpResult(ops[child], "skipped", 0.0, reason)
                result.results.append(outcome)
                self.reporter.finished(outcome)
                skip(child, reason)

        try:
            for op_id, count in waiting.items():
                if count == 0:
                    launch(op_id)
            remaining = len(ops)
            while remaining:
                op_id, status = await done_events.get()
                remaining -= 1
                if status == "failed":
                    before = len(blocked)
                    skip(op_id, f"skipped because {ops[op_id].describe()} failed")
                    remaining -= len(blocked) - before
                    continue
                for child in dependents[op_id]:
                    waiting[child] -= 1
                    if waiting[child] == 0 and child not in blocked:
                        launch(child)
        finally:
            pool.shutdown(wait=False)
        result.seconds = time.monotonic() - started_at
        return result

    def _call(self, op: Operation, report: Callable[[str], None]) -> None:
        e = self.engine
        k = op.kind
        if k is Kind.CREATE_NETWORK:
            assert op.network is not None
            e.create_network(op.network)
        elif k is Kind.REMOVE_NETWORK:
            e.remove_network(op.ref or op.target)
        elif k is Kind.CREATE_VOLUME:
            assert op.volume is not None
            e.create_volume(op.volume)
        elif k is Kind.REMOVE_VOLUME:
            e.remove_volume(op.ref or op.target)
        elif k is Kind.PULL_IMAGE:
            d = op.container  # whose spec.registries credentials to pull with
            auth = pull_auth(d.registry, self.secrets.get(op.app, {})) if d else None
            context = f"app {op.app}, service {d.service}" if d else f"app {op.app}"
            try:
                e.pull(op.image or op.target, report, auth=auth, context=context)
            except PullError as exc:
                # pullPolicy Always with an image at hand keeps the failure: a copy from
                # elsewhere is no fresher than what the host has.
                if exc.reason not in COPY_WHEN_PULL or e.image_id(op.image or op.target):
                    raise
                report(f"{exc}; looking for the image on the other engines")
                self._deliver(op, report, str(exc), "")
        elif k is Kind.BUILD_IMAGE:
            assert op.build is not None
            self._bases(op, op.build, report)
            e.build(op.app, op.build, report)
        elif k is Kind.MISSING_IMAGE:
            d = op.container
            self._deliver(
                op,
                report,
                f"image {op.target} is not on engine {e.name} and pullPolicy is Never"
                + (f" (app {op.app}, service {d.service})" if d else ""),
                ": build or load it first (docker load / docker build), or allow pulling",
            )
        elif k is Kind.CREATE_CONTAINER:
            assert op.container is not None
            e.create_container(op.container, self.secrets.get(op.app, {}))
        elif k is Kind.CONNECT_NETWORK:
            d = self._created.get(op.ref or "")  # its attachment's static addresses
            nets = d.config.networks if d else ()
            ref = next((n for n in nets if n.name == op.image), None)
            links = d.config.links if d else ()
            aliases = op.aliases
            if d is not None and d.name not in aliases:  # as Compose: its name resolves
                aliases = (*aliases, d.name)
            e.connect(op.ref or "", op.image or "", aliases, ref, links)
        elif k is Kind.START_CONTAINER:
            if op.container is not None:
                e.write_secrets(op.container, self.secrets.get(op.app, {}))
            e.start(op.ref or op.target)
        elif k is Kind.STOP_CONTAINER:
            e.stop(op.ref or op.target, op.timeout)
        elif k is Kind.REMOVE_CONTAINER:
            e.remove_container(op.ref or op.target)
        elif k is Kind.RESTART_CONTAINER:
            if op.container is not None:  # an input changed: its new content first
                e.refresh_inputs(op.ref or op.target, op.container, self.secrets.get(op.app, {}))
            e.restart(op.ref or op.target, op.timeout)
        elif k is Kind.SIGNAL_CONTAINER:
            if op.container is not None:
                e.refresh_inputs(op.ref or op.target, op.container, self.secrets.get(op.app, {}))
            e.kill(op.ref or op.target, op.signal or "SIGHUP")
        elif k is Kind.WAIT_HEALTHY:
            e.wait_healthy(op.ref or op.target, op.timeout or COMPLETION_TIMEOUT)
        elif k is Kind.WAIT_COMPLETED:
            e.wait_completed(op.ref or op.target, op.timeout or COMPLETION_TIMEOUT)
        elif k is Kind.RENAME_CONTAINER:
            e.rename(op.ref or op.target, op.rename_to or op.target)
        elif k is Kind.MONITOR_CONTAINER:
            monitor(e, op.ref or op.target, op.timeout or COMPLETION_TIMEOUT, op.monitor or 0.0)
        else:  # pragma: no cover - every Kind is handled above
            raise EngineError(f"unknown operation {k}")

    def _bases(self, op: Operation, build: BuildSpec, report: Callable[[str], None]) -> None:
        """The images a build starts FROM, copied to the engine first when it lacks them and
        another engine has them: a host without a registry builds from what is here."""
        context = f"app {op.app}, build of {op.target}"
        for base in from_images(build.context, build.dockerfile, dict(build.args)):
            if self.engine.image_id(base) is not None:
                continue
            with contextlib.suppress(ImageUnavailable):  # the build pulls it, or says why not
                deliver_image(self.engine, base, self.image_sources(), report, context)

    def _deliver(self, op: Operation, report: Callable[[str], None], why: str, hint: str) -> None:
        """The image copied from another engine dockyard drives, for a host that lacks it
        and cannot pull it; `why` (and `hint`) make the error when none has it."""
        image = op.image or op.target
        d = op.container
        context = f"app {op.app}, service {d.service}" if d else f"app {op.app}"
        try:
            copied = deliver_image(self.engine, image, self.image_sources(), report, context)
        except ImageUnavailable as exc:
            raise EngineError(f"{why}, and {exc}{hint}") from None
        self._notes[op.id] = (
            f"copied from {copied.source} ({copied.size / 1e6:.0f} MB in {copied.seconds:.1f}s)"
            if copied.size
            else f"already copied from {copied.source} by another operation"
        )
