"""The four list calls a snapshot is made of, and a fingerprint of their answers.

Standard library only: the no-op memo (cli/noop_memo.py) reads these lists in a process
that loads nothing else of dockyard, and must see what `snapshot()` would see.

The fingerprint keeps every field the engine returns except the running time in a
container's `Status` ("Up 5 minutes"): of that text a snapshot reads only the health
and the exit code (engine/snapshot.py), which the fingerprint keeps. So two answers
with the same fingerprint make the same ObservedState, and the same plan.
"""

from __future__ import annotations

import json
from typing import Any

# (what, url): the query strings are what the Docker SDK's calls send.
CONTAINERS = ("list containers", "/containers/json?limit=-1&all=1&size=0&trunc_cmd=0")
NETWORKS = ("list networks", "/networks")
VOLUMES = ("list volumes", "/volumes")
IMAGES = ("list images", "/images/json?only_ids=0&all=0")
LISTS = (CONTAINERS, NETWORKS, VOLUMES, IMAGES)

_HEALTH = ("(healthy)", "(unhealthy)", "(health: starting)")


def status_read(status: str) -> str:
    """What a snapshot takes from a container's Status: its health and its exit code."""
    health = next((h for h in _HEALTH if h in status), "")
    start = status.find("Exited (")
    end = status.find(")", start) if start >= 0 else -1
    exited = status[start : end + 1] if end >= 0 else ""
    return f"{health}|{exited}"


def read_lists(socket: str, timeout: float = 30) -> dict[str, Any]:
    """The four lists' answers (keyed by url) from the engine on unix socket `socket`."""
    from .unix_http import UnixReader

    reader = UnixReader(socket, timeout)
    return {url: reader.get(url) for _, url in LISTS}


def fingerprint(answers: dict[str, Any]) -> str:
    """A digest of the four lists' answers (keyed by url), in an order of its own."""
    import hashlib

    containers = [
        {**c, "Status": status_read(str(c.get("Status", "")))} for c in answers[CONTAINERS[1]] or []
    ]
    volumes = answers[VOLUMES[1]] or {}
    doc = [
        sorted(containers, key=lambda c: str(c.get("Id"))),
        sorted(answers[NETWORKS[1]] or [], key=lambda n: str(n.get("Id"))),
        sorted(volumes.get("Volumes") or [], key=lambda v: str(v.get("Name"))),
        sorted(answers[IMAGES[1]] or [], key=lambda i: str(i.get("Id"))),
    ]
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
