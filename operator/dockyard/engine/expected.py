"""What a container event says the engine's next list must show (pure).

The engine sends an event before its list view has caught up: a `die` arrives while
`GET /containers/json` still says `running` for a moment, longer on a busy machine. A
cache that relists once per event burst would then keep the old state until some later
event or the periodic resync. So each container event leaves an expectation, and a
relist that does not meet it is followed by another one shortly after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.state.observed import ObservedState

# How a container's state must read after the event (None: the container is gone).
_STATE_AFTER = {
    "start": "running",
    "unpause": "running",
    "pause": "paused",
    "die": "stopped",
    "destroy": None,
}


@dataclass(frozen=True)
class Expected:
    """After an event about container `id`: what its listing must show."""

    id: str
    action: str
    state: str | None = ""  # running | paused | stopped; None: gone; "": not asked
    name: str = ""  # create and rename: the name it must be listed under
    health: str = ""  # health_status: healthy | unhealthy | starting

    def met(self, observed: ObservedState) -> bool:
        found = next((c for c in observed.containers if c.id == self.id), None)
        if self.state is None:
            return found is None
        if found is None:
            return False
        if self.name and found.name != self.name:
            return False
        if self.health and found.health != self.health:
            return False
        if self.state == "stopped":
            return found.state != "running"
        return not self.state or found.state == self.state


def expected(event: Mapping[str, Any]) -> Expected | None:
    """What the next list must show after `event` (None: nothing to check)."""
    if event.get("Type") != "container":
        return None
    actor = event.get("Actor") or {}
    cid = str(actor.get("ID") or event.get("id") or "")
    action = str(event.get("Action") or event.get("status") or "")
    if not cid or not action:
        return None
    name = str((actor.get("Attributes") or {}).get("name") or "")
    if action in _STATE_AFTER:
        return Expected(cid, action, _STATE_AFTER[action])
    if action in ("create", "rename") and name:
        return Expected(cid, action, name=name)
    if action.startswith("health_status:"):
        return Expected(cid, "health_status", health=action.split(":", 1)[1].strip())
    return None
