"""Revisions without a controller: what `dockyard apply` records, and `history` / `rollback`
read from the app's engines (controller/history.py keeps the format, engine/records.py the
place). Imported only by the commands that need it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.apply.converge import AppPlan, Work, build_tags, converge
from dockyard.apply.executor import ApplyResult, Reporter
from dockyard.controller.history import (
    HistoryStore,
    Pin,
    Revision,
    read_newest,
    write_each,
)
from dockyard.controller.revisions import build_tags_of
from dockyard.engine.client import Engine
from dockyard.fleet.converge import Fleet, FleetPlan
from dockyard.plan.converge import plan_converge
from dockyard.plan.desired import DesiredApp, desired_app, fingerprint
from dockyard.spec.load import LoadedApp
from dockyard.spec.models import App

SOURCE = "dockyard apply"


@dataclass
class Found:
    store: HistoryStore
    problems: list[str]  # hosts whose record could not be read

    def empty(self, app: str) -> bool:
        return not self.store.get(app).revisions


def read_history(app: str, engines: Sequence[Engine], state_dir: Path | None) -> Found:
    """The newest history of the app among its engines and the state folder's cache."""
    store = HistoryStore(state_dir)
    store.get(app)  # the cache, if any: a host's newer record replaces it
    record, problems = read_newest(app, engines)
    store.adopt(app, record)
    return Found(store, problems)


def _publish(store: HistoryStore, engines: Sequence[Engine], images: Sequence[str]) -> list[str]:
    problems: list[str] = []

    def send(app: str, record: dict[str, object]) -> None:
        problems.extend(write_each(app, dict(record), engines, images))

    store.on_save = send
    return problems


def record_apply(engine: Engine, plans: Sequence[AppPlan], result: ApplyResult) -> list[str]:
    """After `dockyard apply` changed something: a revision per app (a new one when its
    spec differs from the newest), its outcome, and a pin as the controller would set it
    (a failed revision is not retried by a controller). Returns what could not be recorded."""
    problems: list[str] = []
    for p in plans:
        if not p.plan.errors and not p.plan.empty:
            problems += _record(p.loaded, p.desired, [engine], [result])
    return problems


def record_fleet_apply(
    fleet: Fleet, plans: Sequence[FleetPlan], results: Mapping[str, ApplyResult]
) -> list[str]:
    """The same across DockerHosts: each app's history goes to every reachable host it
    runs on (or ran on: a host it left keeps it too)."""
    problems: list[str] = []
    for fp in plans:
        changed = [hp for hp in fp.hosts if not hp.plan.empty and not hp.plan.errors]
        if fp.placement.errors or not changed:
            continue
        engines = [
            fleet.engines[hp.host]
            for hp in fp.hosts
            if hp.host in fleet.engines and hp.host not in fleet.unreachable
        ]
        desired = desired_app(fp.loaded, build_tags(fp.loaded))
        outcomes = [results[hp.host] for hp in changed if hp.host in results]
        problems += _record(fp.loaded, desired, engines, outcomes)
    return problems


def _record(
    loaded: LoadedApp,
    desired: DesiredApp,
    engines: Sequence[Engine],
    results: Sequence[ApplyResult],
) -> list[str]:
    name = loaded.name
    found = read_history(name, engines, None)
    if found.problems:
        # Writing now would replace a history that could not be read.
        return [f"app {name}: history not read: {x}" for x in found.problems]
    store = found.store
    history = store.get(name)
    fp = fingerprint(desired)
    rev = history.latest()
    if rev is None or rev.fingerprint != fp:
        rev = _add(store, loaded, fp, build_tags_of(desired))
    failed = [r for res in results for r in res.failed + res.skipped if r.op.app == name]
    prefix = f"app {name}: "
    rollout = [m for res in results for m in res.rollout_failures if m.startswith(prefix)]
    if not failed and not rollout:
        rev.outcome, rev.message = "complete", ""
        history.current, history.pin = rev.number, None
    else:
        message = "; ".join(
            rollout or [f"{r.op.describe()}: {r.error or r.status}" for r in failed][:3]
        )
        rolled_back = any("rolled back" in m for m in rollout)
        paused = any("paused" in m for m in rollout)
        rev.outcome = "rolled-back" if rolled_back else "paused" if paused else "failed"
        rev.message = message
        previous = history.previous_good(rev.number) if rolled_back else None
        history.pin = Pin(
            fp, previous.number if previous else 0, f"revision {rev.number} failed: {message}"
        )
        if previous is not None:
            history.current = previous.number
    sent = _publish(store, engines, [c.config.image for c in desired.containers])
    store.save(name)
    return [f"app {name}: history not stored on {x}" for x in sent]


def _add(store: HistoryStore, loaded: LoadedApp, fp: str, tags: dict[str, str]) -> Revision:
    return store.add(
        loaded.name,
        fp,
        SOURCE,
        str(loaded.source),
        loaded.app.model_dump(mode="json", by_alias=True, exclude_none=True),
        {k: [list(pair) for pair in v] for k, v in loaded.env.items()},
        tags,
        str(loaded.base_dir),
    )


class RollbackError(Exception):
    """What the user must do instead (printed as is)."""


def rollback_here(
    app: str,
    to: int | None,
    engine: Engine,
    today: LoadedApp | None,
    state_dir: Path | None,
    reporter: Reporter | None,
    progress: Callable[[str], None] | None,
) -> tuple[str, ApplyResult | None]:
    """`dockyard rollback` with no controller: apply the stored revision's App (with
    today's secrets and files when the manifests are given) on the engine, then record
    where the app stands and pin it there until its spec changes, as the controller does."""
    found = read_history(app, [engine], state_dir)
    if found.problems:
        raise RollbackError(f"app {app}: history not read: {'; '.join(found.problems)}")
    store = found.store
    history = store.get(app)
    if not history.revisions:
        raise RollbackError(
            f"app {app} has no history on engine {engine.name}: nothing to roll back to "
            "(revisions are recorded by `dockyard apply` and `dockyard run`)"
        )
    try:
        target = history.rollback_target(app, to)
    except ValueError as exc:
        raise RollbackError(str(exc)) from None
    loaded = _loaded_from(target, today)
    desired = desired_app(loaded, target.build_tags)
    observed = engine.snapshot()
    plan = plan_converge(desired, observed)
    if plan.errors:
        raise RollbackError(f"app {app}: revision {target.number}: {'; '.join(plan.errors)}")
    result: ApplyResult | None = None
    if not plan.empty:
        said = None if progress is None else _prefixed(progress)
        result = asyncio.run(
            converge(engine, [Work(app, plan, loaded.secrets)], reporter=reporter, progress=said)
        ).result
        if not result.ok:
            return f"app {app}: rollback to revision {target.number} failed", result
    wants = fingerprint(desired_app(today, build_tags(today))) if today else None
    latest = history.latest()
    wants = wants or (latest.fingerprint if latest else target.fingerprint)
    sent = _publish(store, [engine], [c.config.image for c in desired.containers])
    history.current = target.number
    if target.fingerprint == wants:
        history.pin = None
        message = f"app {app}: at revision {target.number}, what its manifests want; pin cleared"
    else:
        reason = f"rollback to revision {target.number} requested"
        history.pin = Pin(wants, target.number, reason)
        message = f"app {app}: rolled back to revision {target.number}"
    store.save(app)
    if sent:
        raise RollbackError(f"{message}, but its history was not stored: {'; '.join(sent)}")
    return message, result


def _loaded_from(rev: Revision, today: LoadedApp | None) -> LoadedApp:
    """The revision's App as a loaded app: its environment, and today's secrets and files
    (a revision keeps none of their content), as the controller's `_wanted_from`."""
    app = App.model_validate(rev.app)
    if today is None and app.spec.secrets:
        names = ", ".join(s.name for s in app.spec.secrets)
        raise RollbackError(
            f"revision {rev.number} of app {app.name} mounts secrets ({names}) and a revision "
            "keeps no secret values: pass -f with the app's manifests to read today's"
        )
    return LoadedApp(
        app=app,
        source=today.source if today else rev.source_revision,
        base_dir=Path(rev.base_dir),
        env={k: tuple((a, b) for a, b in v) for k, v in rev.env.items()},
        secrets=today.secrets if today else {},
        files=today.files if today else {},
        manifest_paths=today.manifest_paths if today else {},
    )


def _prefixed(progress: Callable[[str], None]) -> Callable[[str, str], None]:
    return lambda app, message: progress(f"app {app}: {message}")
