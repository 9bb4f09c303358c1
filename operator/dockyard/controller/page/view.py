"""What the status page shows, as JSON: built from what the controller already exposes.

Pure functions over app statuses (`Controller.statuses()`), host facts, live container
counts and the publisher's agents view, so the shapes are tested without a browser. At
fleet scale the devices are aggregated (counts by state) and only the ones that need
attention are listed, a page at a time: the answer stays small with 10,000 agents.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.fleet.agent_state import agent_state

READY, PROGRESSING, DEGRADED = "Ready", "Progressing", "Degraded"
# Worst first: the order apps are listed in.
APP_ORDER = {DEGRADED: 0, PROGRESSING: 1, READY: 2}
# While the controller is replacing containers, a stopped one is part of the plan.
APPLYING = ("RollingUpdate", "Applying")
PAGE_SIZE = 50

# Device states as `dockyard hosts` names them, the worst first; FINE need no attention.
DEVICE_ORDER = ("offline", "rejected", "behind", "waiting", "converging", "no report")
FINE = ("converged",)

_EXIT = re.compile(r"exited \((\d+)\)", re.IGNORECASE)
_WAVE = re.compile(r"wave (\d+)/(\d+): (.*)")
_DONE = re.compile(r"(\d+)/(\d+) done")
_SERVICE = re.compile(r"^service ([\w.-]+):")


@dataclass(frozen=True)
class HostFacts:
    """One engine host as the page shows it."""

    name: str
    reachable: bool
    declared: bool
    labels: Mapping[str, str]
    engine_version: str | None
    containers: int
    down_for: float | None  # seconds since it went dark


@dataclass(frozen=True)
class Live:
    """Containers of one app on one host, counted from the event-fed cache right now."""

    total: int = 0
    running: int = 0
    healthy: int = 0


def conditions_of(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def _exit_code(container: Mapping[str, Any]) -> int | None:
    match = _EXIT.search(str(container.get("status") or ""))
    return int(match.group(1)) if match else None


def failed_containers(status: Mapping[str, Any]) -> list[str]:
    """Containers that stopped with an error, died or fail their healthcheck."""
    found = []
    for svc in status.get("services") or []:
        for c in svc.get("containers") or []:
            where = f" on {c['host']}" if c.get("host") else ""
            code = _exit_code(c)
            if c.get("health") == "unhealthy":
                found.append(f"{c.get('name')}{where} is unhealthy")
            elif c.get("state") == "dead" or (c.get("state") == "exited" and code != 0):
                suffix = f" (exit code {code})" if code is not None else ""
                found.append(f"{c.get('name')}{where} is {c.get('state')}{suffix}")
    return found


def app_state(status: Mapping[str, Any]) -> tuple[str, str, str]:
    """(Ready | Progressing | Degraded, reason, message) of one app.

    Degraded when the controller says so, or when a container has failed (exited with an
    error, dead, unhealthy) and the controller is not in the middle of replacing it: a
    `restart: no` container that was killed stays down, and the page says so."""
    conds = conditions_of(status)
    degraded = conds.get(DEGRADED, {})
    if degraded.get("status") == "True":
        return DEGRADED, str(degraded.get("reason", "")), str(degraded.get("message", ""))
    ready = conds.get(READY, {})
    progressing = conds.get(PROGRESSING, {})
    applying = progressing.get("status") == "True" and progressing.get("reason") in APPLYING
    if ready.get("status") != "True" and not applying:
        failed = failed_containers(status)
        if failed:
            reason = "Unhealthy" if all("unhealthy" in f for f in failed) else "ContainerFailed"
            return DEGRADED, reason, "; ".join(failed[:5])
    if progressing.get("status") == "True" or ready.get("status") != "True":
        cond = progressing if progressing.get("status") == "True" else ready
        return PROGRESSING, str(cond.get("reason", "")), str(cond.get("message", ""))
    return READY, str(ready.get("reason", "")), str(ready.get("message", ""))


def _cells(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per host: containers placed there, how many run and how many are healthy."""
    cells: dict[str, dict[str, Any]] = {
        host: {"desired": len(names), "running": 0, "healthy": 0, "failed": 0}
        for host, names in (status.get("placement") or {}).items()
    }
    for svc in status.get("services") or []:
        for c in svc.get("containers") or []:
            cell = cells.setdefault(
                c.get("host") or "local", {"desired": 0, "running": 0, "healthy": 0, "failed": 0}
            )
            if c.get("state") in ("running", "restarting"):
                cell["running"] += 1
            if c.get("health") == "healthy":
                cell["healthy"] += 1
            code = _exit_code(c)
            if (
                c.get("health") == "unhealthy"
                or c.get("state") == "dead"
                or (c.get("state") == "exited" and code != 0)
            ):
                cell["failed"] += 1
    for cell in cells.values():
        if cell["failed"]:
            cell["state"] = DEGRADED
        elif cell["running"] >= cell["desired"]:
            cell["state"] = READY
        else:
            cell["state"] = PROGRESSING
    return cells


def rollout_of(
    status: Mapping[str, Any], live: Mapping[str, Live] | None = None
) -> dict[str, Any] | None:
    """A rollout's progress: batch done/total, the wave across hosts, healthy counts now.
    None when nothing is rolling out and the last rollout left nothing to say."""
    conds = conditions_of(status)
    progressing = conds.get(PROGRESSING, {})
    rollout = dict(status.get("rollout") or {})
    active = progressing.get("status") == "True" and progressing.get("reason") in APPLYING
    if not active and rollout.get("phase") in (None, "complete"):
        return None
    message = str(progressing.get("message", "")) if active else ""
    info: dict[str, Any] = {
        "active": active,
        "revision": rollout.get("revision"),
        "phase": rollout.get("phase") or ("rolling-out" if active else ""),
        "message": message or str(rollout.get("message", "")),
        "pinnedTo": rollout.get("pinnedTo"),
    }
    if wave := _WAVE.search(message):
        info["wave"] = {
            "number": int(wave.group(1)),
            "of": int(wave.group(2)),
            "hosts": [h.strip() for h in wave.group(3).split(",") if h.strip()],
        }
    if done := _DONE.search(message):
        info["batch"] = {"done": int(done.group(1)), "of": int(done.group(2))}
    if service := _SERVICE.search(message):
        info["service"] = service.group(1)
    services = status.get("services") or []
    desired = sum(int(s.get("desired", 0)) for s in services)
    if live:
        info["running"] = sum(x.running for x in live.values())
        info["healthy"] = sum(x.healthy for x in live.values())
        info["containers"] = sum(x.total for x in live.values())
    else:
        info["running"] = sum(int(s.get("running", 0)) for s in services)
        info["healthy"] = sum(int(s.get("healthy", 0)) for s in services)
        info["containers"] = desired
    info["desired"] = desired
    return info


def app_row(
    name: str, status: Mapping[str, Any], live: Mapping[str, Live] | None = None
) -> dict[str, Any]:
    state, reason, message = app_state(status)
    services = status.get("services") or []
    return {
        "name": name,
        "state": state,
        "reason": reason,
        "message": message,
        "revision": status.get("appRevision"),
        "sourceRevision": status.get("revision", ""),
        "source": status.get("source", ""),
        "desired": sum(int(s.get("desired", 0)) for s in services),
        "running": sum(int(s.get("running", 0)) for s in services),
        "healthy": sum(int(s.get("healthy", 0)) for s in services),
        "restarts": status.get("restarts", 0),
        "hosts": _cells(status),
        "rollout": rollout_of(status, live),
        "lastReconcileTime": status.get("lastReconcileTime", 0.0),
    }


def paged(items: Sequence[Any], page: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    pages = max(1, -(-len(items) // size))
    page = min(max(1, page), pages)
    return {
        "page": page,
        "pages": pages,
        "total": len(items),
        "items": list(items[(page - 1) * size : page * size]),
    }


def apps_view(
    statuses: Mapping[str, Mapping[str, Any]],
    live: Mapping[str, Mapping[str, Live]],
    page: int = 1,
    query: str = "",
) -> dict[str, Any]:
    """Apps worst first, a page of them, with counts by state over all of them."""
    rows = [app_row(name, st, live.get(name)) for name, st in statuses.items()]
    counts = Counter(r["state"] for r in rows)
    rows.sort(key=lambda r: (APP_ORDER.get(r["state"], 9), r["name"]))
    if query:
        rows = [r for r in rows if query.lower() in r["name"].lower()]
    view = paged(rows, page)
    view["counts"] = {s: counts.get(s, 0) for s in APP_ORDER}
    hosts: list[str] = []
    for row in view["items"]:
        hosts.extend(h for h in row["hosts"] if h not in hosts)
    view["hosts"] = sorted(hosts)
    return view


def hosts_view(hosts: Iterable[HostFacts]) -> list[dict[str, Any]]:
    return [
        {
            "name": h.name,
            "reachable": h.reachable,
            "declared": h.declared,
            "labels": dict(h.labels),
            "engineVersion": h.engine_version,
            "containers": h.containers,
            "downFor": round(h.down_for) if h.down_for is not None else None,
        }
        for h in sorted(hosts, key=lambda h: h.name)
    ]


@dataclass(frozen=True)
class Devices:
    """Every device classified once: counts by state, the ones needing attention sorted."""

    total: int
    counts: dict[str, int]
    attention: list[dict[str, Any]]


def classify(agents: Mapping[str, Mapping[str, Any]]) -> Devices:
    order = {s: i for i, s in enumerate((*DEVICE_ORDER, *FINE))}
    counts: Counter[str] = Counter()
    attention: list[dict[str, Any]] = []
    for name, agent in agents.items():
        state, detail = agent_state(agent)
        counts[state] += 1
        if state not in FINE:
            attention.append(
                {
                    "name": name,
                    "state": state,
                    "detail": detail,
                    "revision": agent.get("revision"),
                    "lastReport": agent.get("lastReport"),
                }
            )
    attention.sort(key=lambda d: (order.get(d["state"], 99), d["name"]))
    ordered = dict(sorted(counts.items(), key=lambda c: order.get(c[0], 99)))
    return Devices(len(agents), ordered, attention)


def devices_page(devices: Devices, page: int = 1, query: str = "") -> dict[str, Any]:
    """Counts by state over every device; the ones that need attention, worst first,
    a page at a time (optionally those whose name or state contains `query`)."""
    attention = devices.attention
    if query:
        q = query.lower()
        attention = [d for d in attention if q in d["name"].lower() or q in d["state"]]
    view = paged(attention, page)
    view["counts"] = devices.counts
    view["devices"] = devices.total
    return view


def devices_view(
    agents: Mapping[str, Mapping[str, Any]], page: int = 1, query: str = ""
) -> dict[str, Any]:
    return devices_page(classify(agents), page, query)
