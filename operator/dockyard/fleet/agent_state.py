"""One edge device's state in a word, from the report its agent publishes (as the MQTT
publisher's view holds it): what `dockyard hosts` and the status page show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def agent_state(agent: Mapping[str, Any]) -> tuple[str, str]:
    """(state, detail): offline, rejected, no report, waiting, behind, converged or
    converging, with what explains it."""
    if agent.get("online") is False:
        return "offline", f"last report {agent.get('lastReport') or 'never'}"
    rejected = agent.get("rejected")
    if rejected:
        return "rejected", f"revision {rejected.get('revision')}: {rejected.get('error')}"
    if agent.get("revision") is None:
        return "no report", "online, nothing reported yet" if agent.get("online") else ""
    pending = agent.get("pending") or {}
    if pending:
        return "waiting", "; ".join(f"{app}: {why}" for app, why in sorted(pending.items()))
    published = agent.get("published")
    if published and published != agent.get("revision"):
        return "behind", f"runs revision {agent.get('revision')}, published {published}"
    if agent.get("converged"):
        return "converged", ""
    apps = agent.get("apps") or {}
    slow = sorted(name for name, st in apps.items() if not st.get("converged"))
    errors = [st["lastError"] for st in apps.values() if st.get("lastError")]
    return "converging", ", ".join(slow) + (f" ({errors[0]})" if errors else "")
