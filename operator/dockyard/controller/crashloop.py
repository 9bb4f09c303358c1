"""restartWhenUnhealthy with CrashLoopBackOff: which unhealthy containers to restart now,
and when to look again; pure over CrashLoop records, the observed state and a clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.fleet.converge import DEFAULT_HOST
from dockyard.plan.desired import DesiredApp
from dockyard.retry import ceiling
from dockyard.state.observed import ObservedState


@dataclass
class CrashLoop:
    restarts: int = 0
    next_allowed: float = 0.0
    healthy_since: float | None = None


@dataclass(frozen=True)
class Backoff:
    """First restart at once, then `base` doubling to `max`; reset after `reset` healthy."""

    base: float = 10.0
    max: float = 300.0
    reset: float = 600.0


def crash_key(host: str, container: str) -> str:
    return container if host == DEFAULT_HOST else f"{host}/{container}"


def _sooner(wait: float | None, other: float) -> float:
    return other if wait is None else min(wait, other)


def unhealthy(
    crash: dict[str, CrashLoop],
    host: str,
    desired: DesiredApp,
    observed: ObservedState,
    now: float,
    backoff: Backoff,
) -> tuple[dict[str, str], float | None]:
    """Containers to restart now (name -> cause) and the seconds until a record next
    changes (None: nothing to wait for). Updates the records in `crash`."""
    restart: dict[str, str] = {}
    wait: float | None = None
    for d in desired.containers:
        if not d.restart_when_unhealthy:
            continue
        obs = observed.container_named(d.name)
        loop = crash.setdefault(crash_key(host, d.name), CrashLoop())
        if obs is None or not obs.running:
            continue
        if obs.health == "healthy":
            if loop.healthy_since is None:
                loop.healthy_since = now
            healthy_for = now - loop.healthy_since
            if loop.restarts and healthy_for >= backoff.reset:
                loop.restarts, loop.next_allowed = 0, 0.0
            elif loop.restarts:
                wait = _sooner(wait, backoff.reset - healthy_for)
            continue
        loop.healthy_since = None
        if obs.health != "unhealthy":
            continue
        if now >= loop.next_allowed:
            delay = ceiling(backoff.base, backoff.max, loop.restarts)
            loop.restarts += 1
            loop.next_allowed = now + delay
            restart[d.name] = (
                f"unhealthy; restart {loop.restarts} (next no sooner than {delay:.0f}s)"
            )
            wait = _sooner(wait, delay)
        else:
            wait = _sooner(wait, loop.next_allowed - now)
    return restart, wait


def crash_looping(crash: Mapping[str, CrashLoop]) -> list[str]:
    """Keys restarted more than once and not healthy since: CrashLoopBackOff."""
    return [key for key, c in crash.items() if c.restarts > 1 and c.healthy_since is None]


def restarts_on(crash: Mapping[str, CrashLoop], host: str, desired: DesiredApp) -> dict[str, int]:
    """container -> restarts counted on `host`."""
    return {
        d.name: crash[crash_key(host, d.name)].restarts
        for d in desired.containers
        if crash_key(host, d.name) in crash
    }
