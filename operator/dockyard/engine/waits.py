"""Waiting on a container: until healthy, or until it completed with exit code 0."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .errors import EngineError, EngineUnavailable

if TYPE_CHECKING:
    from .client import Engine


def wait_healthy(engine: Engine, ref: str, timeout: float, poll: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = engine.inspect_state(ref)
        health = (state.get("Health") or {}).get("Status")
        if health is None:
            raise EngineError(
                f"{ref} has no healthcheck, so it can never become healthy: add a "
                "healthcheck to its service or depend on it with condition: started"
            )
        if health == "healthy":
            return
        if state.get("Status") in ("exited", "dead"):
            raise EngineError(
                f"{ref} exited with code {state.get('ExitCode')} before it became healthy"
                + _exit_hint(engine, ref)
            )
        if time.monotonic() > deadline:
            log = (state.get("Health") or {}).get("Log") or []
            last = log[-1].get("Output", "").strip() if log else ""
            raise EngineError(
                f"{ref} did not become healthy within {timeout:.0f}s (status {health})"
                + (f"; last check said: {last[:200]}" if last else "")
            )
        time.sleep(poll)


def wait_completed(engine: Engine, ref: str, timeout: float, poll: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = engine.inspect_state(ref)
        if state.get("Status") in ("exited", "dead"):
            code = state.get("ExitCode")
            if code == 0:
                return
            raise EngineError(f"{ref} exited with code {code}, not 0" + _exit_hint(engine, ref))
        if time.monotonic() > deadline:
            raise EngineError(f"{ref} did not complete within {timeout:.0f}s")
        time.sleep(poll)


def _exit_hint(engine: Engine, ref: str) -> str:
    """The last log lines of an exited container; EngineUnavailable when the engine went
    away (stopping its containers as it went: that, not their exit, is the news)."""
    try:
        raw = engine._call(f"logs {ref}", lambda: engine.api.logs(ref, tail=5))
    except EngineUnavailable:
        raise
    except EngineError:
        return ""
    return _logs_hint(bytes(raw).decode(errors="replace").strip())


def _logs_hint(logs: str) -> str:
    return f"; its last log lines:\n{logs}" if logs else ""
