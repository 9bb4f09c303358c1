"""Watching a new container through a rollout's monitor window."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from .errors import EngineError

POLL = 0.05


class Inspects(Protocol):
    def inspect_container(self, ref: str) -> Mapping[str, Any]: ...
    def logs_tail(self, ref: str, lines: int = 5) -> str: ...


def monitor(engine: Inspects, ref: str, health_timeout: float, seconds: float) -> None:
    """Return once `ref` has been healthy (or running, without a healthcheck) for
    `seconds`; raise EngineError saying why it failed: it exited, crashed and was
    restarted, turned unhealthy, or did not become healthy within `health_timeout`."""
    deadline = time.monotonic() + health_timeout
    restarts: int | None = None
    good_since: float | None = None
    while True:
        try:
            data = engine.inspect_container(ref)
        except EngineError as exc:
            raise EngineError(f"could not be inspected: {exc}") from None
        now = time.monotonic()
        why = failure(data, restarts)
        if why:
            logs = engine.logs_tail(ref, 3)
            raise EngineError(why + (f"; last log lines: {logs}" if logs else ""))
        if restarts is None:
            restarts = int(data.get("RestartCount") or 0)
        health = ((data.get("State") or {}).get("Health") or {}).get("Status")
        if good_since is None:
            if health in (None, "healthy"):
                good_since = now
            elif now > deadline:
                raise EngineError(f"did not become healthy within {health_timeout:.0f}s")
        if good_since is not None and now - good_since >= seconds:
            return
        time.sleep(POLL)


def failure(data: Mapping[str, Any], restarts: int | None) -> str | None:
    """Why a container watched since it had `restarts` restarts has failed, if it has."""
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
