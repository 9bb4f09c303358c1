"""What every source gives the controller: snapshots of the apps it wants, with a revision."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.spec.load import LoadedApp
from dockyard.spec.models import DockerHost


@dataclass(frozen=True)
class SourceUpdate:
    """The whole desired state of one source at one revision.

    `apps` is None when the newest content is invalid: the controller then keeps
    the last good apps of this source running and reports `error` on them.
    """

    source: str  # stable id, e.g. "dir:/srv/apps" or "git:https://…#main:apps"
    revision: str  # folder: hash of the manifests' contents; git: commit sha
    apps: tuple[LoadedApp, ...] | None
    error: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # DockerHost objects declared beside the apps: where placement may put replicas.
    hosts: tuple[DockerHost, ...] = field(default_factory=tuple)
    # With `apps` None: the apps whose own manifests are invalid, by the name their
    # metadata gives, each with its errors (file, line, field, what to do), so an app that
    # never loaded still has a status that says why.
    invalid_apps: tuple[tuple[str, str], ...] = field(default_factory=tuple)


Emit = Callable[[SourceUpdate], Awaitable[None]]


class Source(Protocol):
    """A long-running producer of SourceUpdates; emits only when something changed."""

    @property
    def id(self) -> str: ...

    async def run(self, emit: Emit) -> None:
        """Emit the first snapshot as soon as possible, then one per change, until cancelled."""
        ...
