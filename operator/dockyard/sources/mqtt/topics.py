"""The topic tree, one branch per agent (see docs/edge.md).

    {prefix}/agents/{id}/desired   retained, QoS 1: what the agent should run (publisher → agent)
    {prefix}/agents/{id}/status    retained, QoS 1: what it runs, republished as a heartbeat
    {prefix}/agents/{id}/online    retained, QoS 1: "online", or "offline" (also the last will)

An agent id is the MQTT username of the agent, so one pattern ACL line per topic
(`%u`) lets every agent read only its own desired state and write only its own status.
"""

from __future__ import annotations

import re

DEFAULT_PREFIX = "dockyard"
ONLINE = b"online"
OFFLINE = b"offline"

_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def check_agent_id(agent_id: str) -> str:
    """An agent id is one topic level: letters, digits, `-`, `_`, `.`; no `/`, `+`, `#`."""
    if not _AGENT_ID.match(agent_id):
        raise ValueError(
            f"agent id {agent_id!r} is not valid: use 1-63 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (it becomes an MQTT topic level)"
        )
    return agent_id


def desired(agent_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/agents/{agent_id}/desired"


def status(agent_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/agents/{agent_id}/status"


def online(agent_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/agents/{agent_id}/online"


def all_of(kind: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The wildcard over every agent's `kind` topic (desired, status, online)."""
    return f"{prefix}/agents/+/{kind}"


def parse(topic: str, prefix: str = DEFAULT_PREFIX) -> tuple[str, str] | None:
    """(agent id, kind) of a topic in the tree, None for any other topic."""
    parts = topic.split("/")
    head = prefix.split("/")
    if len(parts) != len(head) + 3 or parts[: len(head)] != head or parts[len(head)] != "agents":
        return None
    return parts[-2], parts[-1]
