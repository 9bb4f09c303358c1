"""Images the controller pulls on its own, so a tag that moved in its registry is seen.

- pullPolicy Always: before an app's new spec is planned on a host (and once after the
  controller starts), its Always images are pulled again there.
- `dockyard run --poll-images INTERVAL`: every INTERVAL, each Always image in use is
  checked against its registry without pulling (the digest the registry serves for the
  tag); a tag that moved is pulled, and the apps that use it are reconciled.

A moved tag then shows in the observed state (the container's image id differs from
the id its tag names now) and the planner replaces the container. A pull that fails
changes nothing that runs: the app is Degraded (ImagePullFailed) with the reason until
a pull succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.engine.registry import pull_auth
from dockyard.plan.desired import DesiredApp
from dockyard.plan.images import always_pulled
from dockyard.state.desired import DesiredContainer, RegistryLogin
from dockyard.state.observed import ObservedState

log = logging.getLogger("dockyard.controller.images")

REASON = "ImagePullFailed"


class _Cache(Protocol):
    @property
    def state(self) -> ObservedState: ...
    @property
    def synced(self) -> bool: ...


class _Host(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def cache(self) -> Any: ...
    @property
    def dark(self) -> bool: ...


@dataclass
class _Use:
    """One image on one host: who uses it and how to pull it."""

    image: str
    host: _Host
    login: RegistryLogin | None = None
    secrets: Mapping[str, Any] = field(default_factory=dict)
    apps: set[str] = field(default_factory=set)
    context: str = ""


class ImageWatch:
    def __init__(
        self,
        enqueue: Callable[[str], None],
        enqueue_after: Callable[[str, float], None],
        retry: float = 30.0,
    ) -> None:
        self.enqueue = enqueue
        self.enqueue_after = enqueue_after
        self.retry = retry
        # app -> (host, image) -> why its last pull or registry check failed
        self.problems: dict[str, dict[tuple[str, str], str]] = {}
        self._pulled: dict[tuple[str, str], tuple[str, ...]] = {}  # (host, app) -> images
        self._retry_at: dict[tuple[str, str], float] = {}
        self.checks = 0  # registry checks made by the poller
        self.pulls = 0  # pulls made by either

    def problem(self, app: str) -> str | None:
        """Why the app's images could not be pulled, or None."""
        found = self.problems.get(app)
        return "; ".join(dict.fromkeys(found.values())) if found else None

    def forget(self, app: str) -> None:
        self.problems.pop(app, None)
        for key in [k for k in self._pulled if k[1] == app]:
            self._pulled.pop(key, None)
            self._retry_at.pop(key, None)

    # ---- pullPolicy Always, before planning ----------------------------------------------

    async def before_plan(
        self,
        app: str,
        host: str,
        engine: Engine,
        desired: DesiredApp,
        secrets: Mapping[str, Any],
        observed: ObservedState,
    ) -> bool:
        """Pull the app's Always images on `host` if this spec has not had them pulled
        there yet (or a failed pull is due again). True when an image there changed: the
        caller relists before planning."""
        images = always_pulled(desired.containers)
        key = (host, app)
        signature = tuple(sorted(f"{i} {login}" for i, (login, _) in images.items()))
        now = time.monotonic()
        due = self._retry_at.get(key)
        if self._pulled.get(key) == signature and (due is None or now < due):
            return False
        self._pulled[key] = signature
        self._retry_at.pop(key, None)
        changed = False
        failed = False
        for image, (login, service) in images.items():
            try:
                auth = pull_auth(login, secrets)
                before, after = await asyncio.to_thread(
                    engine.refresh_image, image, auth, f"app {app}, service {service}"
                )
            except EngineError as exc:
                failed = True
                self._set_problem(app, host, image, str(exc))
                log.warning("app %s: pulling %s on %s failed: %s", app, image, host, exc)
                continue
            self.pulls += 1
            self._clear_problem(app, host, image)
            if before != after:
                changed = True
                log.info(
                    "app %s: %s on %s now names %s (was %s)",
                    app,
                    image,
                    host,
                    (after or "?")[:19],
                    (before or "nothing")[:19],
                )
        for image in [i for (h, i) in self.problems.get(app, {}) if h == host]:
            if image not in images:  # no longer wanted as Always: its problem is gone too
                self._clear_problem(app, host, image)
        if failed:
            self._retry_at[key] = now + self.retry
            self.enqueue_after(app, self.retry)
        return changed

    # ---- --poll-images ------------------------------------------------------------------

    async def poll(
        self,
        interval: float,
        hosts: Callable[[], Iterable[_Host]],
        apps: Callable[[], Mapping[str, tuple[DesiredApp, Mapping[str, Any]]]],
    ) -> None:
        """Forever: every `interval`, check the registries for moved Always tags."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.poll_once(hosts(), apps())
            except asyncio.CancelledError:
                raise
            except Exception:  # the poller never dies
                log.exception("image poll failed")

    async def poll_once(
        self,
        hosts: Iterable[_Host],
        apps: Mapping[str, tuple[DesiredApp, Mapping[str, Any]]],
    ) -> set[str]:
        """One round: the apps enqueued because an image they use moved (or its problem
        changed)."""
        uses = _uses(hosts, apps)
        touched: set[str] = set()
        for use in uses:
            before_problem = {a: self.problem(a) for a in use.apps}
            moved = await self._check(use)
            if moved:
                touched |= use.apps
            touched |= {a for a in use.apps if self.problem(a) != before_problem[a]}
        for app in sorted(touched):
            self.enqueue(app)
        return touched

    async def _check(self, use: _Use) -> bool:
        engine, host = use.host.engine, use.host.name
        try:
            auth = pull_auth(use.login, use.secrets)
            self.checks += 1
            remote = await asyncio.to_thread(engine.remote_digest, use.image, auth)
            local = await asyncio.to_thread(engine.local_digests, use.image)
            if remote and remote in local:
                self._clear(use)
                return False
            before, after = await asyncio.to_thread(
                engine.refresh_image, use.image, auth, use.context
            )
            self.pulls += 1
        except EngineError as exc:
            for app in use.apps:
                self._set_problem(app, host, use.image, str(exc))
            log.warning("checking %s on %s failed: %s", use.image, host, exc)
            return False
        self._clear(use)
        if before != after:
            log.info(
                "%s moved in its registry: pulled on %s (%s, was %s); reconciling %s",
                use.image,
                host,
                (after or "?")[:19],
                (before or "nothing")[:19],
                ", ".join(sorted(use.apps)),
            )
            return True
        return False

    def _clear(self, use: _Use) -> None:
        for app in use.apps:
            self._clear_problem(app, use.host.name, use.image)

    def _set_problem(self, app: str, host: str, image: str, message: str) -> None:
        self.problems.setdefault(app, {})[(host, image)] = message

    def _clear_problem(self, app: str, host: str, image: str) -> None:
        found = self.problems.get(app)
        if found is not None:
            found.pop((host, image), None)
            if not found:
                self.problems.pop(app, None)


def _uses(
    hosts: Iterable[_Host], apps: Mapping[str, tuple[DesiredApp, Mapping[str, Any]]]
) -> list[_Use]:
    """Each Always image that runs on a reachable host, with the apps that use it there."""
    found: dict[tuple[str, str], _Use] = {}
    for host in hosts:
        if host.dark or not host.cache.synced:
            continue
        state: ObservedState = host.cache.state
        for app, (desired, secrets) in sorted(apps.items()):
            here = {c.name for c in state.app_containers(app)}
            on_host: list[DesiredContainer] = [c for c in desired.containers if c.name in here]
            for image, (login, service) in always_pulled(on_host).items():
                use = found.setdefault(
                    (host.name, image),
                    _Use(image, host, login, secrets, context=f"app {app}, service {service}"),
                )
                use.apps.add(app)
    return list(found.values())
