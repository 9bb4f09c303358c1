"""Source updates -> wanted apps: which source owns which app, and what each app wants."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.apply.converge import build_tags
from dockyard.controller.source import SourceUpdate
from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.spec.load import LoadedApp
from dockyard.spec.models import DockerHost

from .metrics import Metrics
from .ownership import Ownership
from .status import AppStatus

log = logging.getLogger("dockyard.controller")


@dataclass
class Wanted:
    loaded: LoadedApp
    desired: DesiredApp
    source: str
    revision: str


def known_projects(wanted: Mapping[str, Wanted], owned: Iterable[str]) -> dict[str, str]:
    """Every app to watch -> the prefix of its engine names (its project; an app owned but
    no longer wanted: what its objects record is read at its delete, so its name here)."""
    known = {app: app for app in owned}
    known.update({n: w.desired.engine_project for n, w in wanted.items()})
    return known


def claim(
    apps: Iterable[LoadedApp], wanted: Mapping[str, Wanted], source: str
) -> dict[str, LoadedApp]:
    """The apps of `source`'s update it may have: an app another source defines stays
    with that source."""
    new: dict[str, LoadedApp] = {}
    # The prefix of engine names (spec.project, else the name) -> the app that has it.
    projects = {w.loaded.app.project: n for n, w in wanted.items() if w.source != source}
    for loaded in apps:
        owner = wanted.get(loaded.name)
        if owner is not None and owner.source != source:
            log.error(
                "app %s is defined by both %s and %s; keeping %s",
                loaded.name,
                owner.source,
                source,
                owner.source,
            )
            continue
        other = projects.get(loaded.app.project, loaded.name)
        if other != loaded.name:
            log.error(
                "app %s: its engine names (project %s) are app %s's already; give it its own "
                "spec.project",
                loaded.name,
                loaded.app.project,
                other,
            )
            continue
        projects[loaded.app.project] = loaded.name
        new[loaded.name] = loaded
    return new


async def desired_of(loaded: LoadedApp) -> DesiredApp | None:
    """What the app wants, with its build tags (None: its build context cannot be read)."""
    try:
        tags = await asyncio.to_thread(build_tags, loaded)
    except OSError as exc:
        log.error("app %s: cannot read its build context: %s", loaded.name, exc)
        return None
    return desired_app(loaded, tags)


class Intake:
    """What the sources want: each update replaces its source's apps (an invalid one
    keeps the last good state), and the apps whose wish changed are enqueued."""

    def __init__(
        self,
        sources: int,
        ownership: Ownership,
        prune: bool,
        enqueue: Callable[[str], None],
        status_of: Callable[[str], AppStatus],
        forget: Callable[[str], None],
        set_hosts: Callable[[str, Sequence[DockerHost]], Awaitable[None]],
        metrics: Metrics,
        notify: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.sources = sources  # how many there are
        self.ownership = ownership
        self.prune = prune
        self.enqueue, self.status_of, self.forget = enqueue, status_of, forget
        self.set_hosts = set_hosts
        self.metrics = metrics
        self.notify = notify  # an app's status changed outside a reconcile
        self.wanted: dict[str, Wanted] = {}
        self.by_source: dict[str, set[str]] = {}
        self.source_errors: dict[str, str] = {}
        self.sources_ready: set[str] = set()
        # source -> the apps it names whose manifests never loaded: a status, nothing else.
        self.unloaded: dict[str, set[str]] = {}
        self._pruned_orphans = False

    def may_prune(self, name: str, sources: Collection[str]) -> bool:
        """Whether the app's absence from its source means it was deleted."""
        owners = self.ownership.apps
        return may_prune(name, self.prune, owners, sources, self.sources_ready, self.source_errors)

    def images_of(self, name: str) -> list[str]:
        wanted = self.wanted.get(name)
        return [c.config.image for c in wanted.desired.containers] if wanted else []

    async def on_update(self, update: SourceUpdate) -> None:
        source = update.source
        if update.apps is not None:
            await self.set_hosts(source, update.hosts)
        for warning in update.warnings:
            log.warning("%s: %s", source, warning)
        if update.apps is None:
            self._invalid(source, update)
            return
        self.source_errors.pop(source, None)
        new = claim(update.apps, self.wanted, source)
        self._forget_unloaded(source, keep=set(new))
        for name, loaded in new.items():
            desired = await desired_of(loaded)
            if desired is None:
                continue
            previous = self.wanted.get(name)
            self.wanted[name] = Wanted(loaded, desired, source, update.revision)
            status = self.status_of(name)
            status.source, status.revision = source, update.revision
            self.ownership.set(name, source)
            if previous is None or previous.desired != desired:
                log.info("app %s wanted at revision %s", name, update.revision[:12])
                self.enqueue(name)
            elif status.condition("Degraded") and status.lastError:
                self.enqueue(name)
        for name in self.by_source.get(source, set()) - new.keys():
            self.wanted.pop(name, None)
            log.info("app %s is no longer in %s", name, source)
            if self.prune:
                self.enqueue(name)
            else:
                self.ownership.drop(name)
                self.forget(name)
        self.by_source[source] = set(new)
        self.metrics.apps.set(len(self.wanted))
        self._seen(source)

    def view(self, sources: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each source: read yet, why its newest read failed (the errors name the file),
        its apps: where a manifest too broken to name its app still shows."""
        return {
            source: {
                "ready": source in self.sources_ready,
                "error": self.source_errors.get(source),
                "apps": sorted(self.by_source.get(source, set())),
                "notLoaded": sorted(self.unloaded.get(source, set())),
            }
            for source in sources
        }

    def _invalid(self, source: str, update: SourceUpdate) -> None:
        """A source read that failed: its apps keep their last good state, and say why."""
        self.source_errors[source] = update.error or "invalid manifests"
        log.error(
            "source %s revision %s is invalid; keeping the last good state: %s",
            source,
            update.revision[:12],
            update.error,
        )
        for name in self.by_source.get(source, set()):
            status = self.status_of(name)
            status.lastError = update.error or ""
            status.set_condition("Degraded", "True", "InvalidSpec", update.error or "")
        self._never_loaded(source, update)
        self._seen(source)

    def _never_loaded(self, source: str, update: SourceUpdate) -> None:
        """The apps of a failed read that have never run from it get a status all the same:
        not applied, and why (the errors name the file and field, never a value)."""
        names: set[str] = set()
        for name, errors in update.invalid_apps:
            owner = self.wanted.get(name)
            if owner is not None:
                continue  # running from its last good state (above), or another source's
            names.add(name)
            status = self.status_of(name)
            status.source, status.revision = source, update.revision
            message = f"not applied: its manifest does not load: {errors}"
            status.failed("InvalidSpec", message, ready=False)
            status.set_condition("Progressing", "False", "InvalidSpec", "fix the manifest")
            self.notify(name)
        self._forget_unloaded(source, keep=names)
        self.unloaded[source] = names

    def _forget_unloaded(self, source: str, keep: set[str]) -> None:
        """Statuses of never-loaded apps that are no longer named (renamed, deleted)."""
        for name in self.unloaded.pop(source, set()) - keep:
            if name not in self.wanted:
                self.forget(name)
                self.notify(name)

    def _seen(self, source: str) -> None:
        self.sources_ready.add(source)
        if not self._pruned_orphans and len(self.sources_ready) == self.sources:
            # Apps owned before a restart whose manifests vanished meanwhile.
            self._pruned_orphans = True
            for name in set(self.ownership.apps) - set(self.wanted):
                if self.prune and self.ownership.apps[name] not in self.source_errors:
                    self.enqueue(name)


def may_prune(
    name: str,
    prune: bool,
    owners: Mapping[str, str],
    sources: Collection[str],
    sources_ready: Collection[str],
    source_errors: Collection[str],
) -> bool:
    """Whether the app's absence from `owners`' source means it was deleted."""
    if not prune or name not in owners:
        return False
    owner = owners[name]
    if owner not in sources_ready and owner in sources:
        return False  # its source has not been read yet: absence means nothing so far
    return owner not in source_errors  # its source is broken: never prune on a bad read
