"""Recent events for the status page: what changed state, kept in memory, newest last.

Fed by the controller's status listeners (every reconcile tells it an app's status) and by
the page's look at the hosts; only changes are kept (an app turning Degraded, a rollout
starting or ending, a host going dark), so a quiet fleet keeps a short, readable list.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .view import DEGRADED, READY, app_state

KEEP = 200


@dataclass(frozen=True)
class Event:
    time: float
    type: str  # Normal | Warning
    object: str  # "app web", "host edge-1"
    reason: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "type": self.type,
            "object": self.object,
            "reason": self.reason,
            "message": self.message,
        }


class EventLog:
    def __init__(self, keep: int = KEEP) -> None:
        self.events: deque[Event] = deque(maxlen=keep)
        self._apps: dict[str, tuple[str, str]] = {}  # app -> (state, reason)
        self._rollouts: dict[str, tuple[Any, Any]] = {}  # app -> (revision, phase)
        self._hosts: dict[str, bool] = {}

    def add(self, type_: str, obj: str, reason: str, message: str) -> None:
        self.events.append(Event(time.time(), type_, obj, reason, message))

    def on_status(self, name: str, status: Any) -> None:
        """A controller status listener: `status` is an AppStatus, or None once gone."""
        if status is None:
            if self._apps.pop(name, None) is not None:
                self.add("Normal", f"app {name}", "Removed", "no source wants it any more")
            self._rollouts.pop(name, None)
            return
        self.app_seen(name, status.to_json())

    def app_seen(self, name: str, status: dict[str, Any]) -> None:
        state, reason, message = app_state(status)
        before = self._apps.get(name)
        changed = before is None or before[0] != state or (state != READY and before[1] != reason)
        if changed:
            kind = "Warning" if state == DEGRADED else "Normal"
            text = message or {READY: "all containers ready"}.get(state, "")
            self.add(kind, f"app {name}", reason or state, f"{state}: {text}" if text else state)
        self._apps[name] = (state, reason)
        rollout = status.get("rollout") or {}
        key = (rollout.get("revision"), rollout.get("phase"))
        if rollout.get("revision") is not None and self._rollouts.get(name) != key:
            phase = rollout.get("phase") or ""
            kind = "Normal" if phase in ("rolling-out", "complete") else "Warning"
            detail = f": {rollout['message']}" if rollout.get("message") else ""
            self.add(kind, f"app {name}", "Rollout", f"revision {key[0]} {phase}{detail}")
        self._rollouts[name] = key

    def host_seen(self, name: str, reachable: bool) -> None:
        before = self._hosts.get(name)
        self._hosts[name] = reachable
        if before is None or before == reachable:
            return
        if reachable:
            self.add("Normal", f"host {name}", "Reachable", "the engine answers again")
        else:
            self.add("Warning", f"host {name}", "Unreachable", "the engine stopped answering")

    def recent(self, count: int = 50) -> list[dict[str, Any]]:
        """The newest `count`, newest first."""
        return [e.to_json() for e in list(self.events)[-count:][::-1]]
