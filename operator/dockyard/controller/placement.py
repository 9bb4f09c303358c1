"""Placement as the controller does it: replicas stick to where they run or were put
last, and a dark host lets its replicas go only after the app's reschedule grace. The
choice itself is fleet.placement's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dockyard.fleet.converge import DEFAULT_HOST
from dockyard.fleet.placement import HostInfo, PlacementResult, place
from dockyard.spec.models import App

from .hosts import Host, mark_dark

Slot = tuple[str, int]  # (service, replica)


def rescheduled(app: App, down_since: float | None, now: float) -> bool:
    """A dark host stops counting for placement once its grace period is over, but
    only for apps that ask to be rescheduled."""
    if down_since is None:
        return False
    placement = app.spec.placement
    if placement is None or not placement.reschedule:
        return False
    return now - down_since >= placement.reschedule_after


def host_infos(app: App, hosts: Sequence[Host], now: float) -> list[HostInfo]:
    """The hosts as placement sees them, by name."""
    return [
        HostInfo(h.name, h.labels, not rescheduled(app, h.down_since, now))
        for h in sorted(hosts, key=lambda h: h.name)
    ]


def running_where(hosts: Sequence[Host], app: str) -> dict[Slot, str]:
    """Where each replica of the app runs now, on the hosts that answer."""
    return {
        (c.service, c.replica): host.name
        for host in hosts
        if host.cache.synced and not host.dark
        for c in host.cache.state.app_containers(app)
        if c.service and c.replica
    }


def place_sticky(
    app: App,
    hosts: Sequence[HostInfo],
    running: Mapping[Slot, str],
    assigned: Mapping[Slot, str],
) -> tuple[PlacementResult, dict[Slot, str]]:
    """Place the app's replicas, each kept where it was assigned last (else where it
    runs) while that host still qualifies; returns the placement and the assignments to
    remember (the old ones when placement failed)."""
    known = {h.name for h in hosts}
    current = dict(running)
    current.update((k, h) for k, h in assigned.items() if h in known)
    result = place(app, hosts, DEFAULT_HOST, current)
    if result.errors:
        return result, dict(assigned)
    return result, {
        (a.service, a.replica): host
        for host, assignments in result.by_host.items()
        for a in assignments
    }


def place_app(
    app: App, hosts: Sequence[Host], assigned: Mapping[Slot, str], now: float
) -> tuple[PlacementResult, dict[Slot, str]]:
    """Place the app on the hosts as they are now (noting which went dark when)."""
    mark_dark(hosts, now)
    running = running_where(hosts, app.name)
    return place_sticky(app, host_infos(app, hosts, now), running, assigned)
