"""Many hosts: the DockerHost inventory, how each engine is reached, placement, and
converging a fleet by converging each host.

The names below are the package's public surface, loaded on first use (importing a
small part of the package stays cheap: the CLI starts on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard import lazy

if TYPE_CHECKING:
    from .converge import DEFAULT_HOST, Fleet, FleetPlan, apply_fleet, connect_fleet, plan_fleet
    from .hosts import HostError, engine_for_host
    from .placement import Assignment, HostInfo, PlacementResult, place

_WHERE = {
    "DEFAULT_HOST": "converge",
    "Fleet": "converge",
    "FleetPlan": "converge",
    "apply_fleet": "converge",
    "connect_fleet": "converge",
    "plan_fleet": "converge",
    "HostError": "hosts",
    "engine_for_host": "hosts",
    "Assignment": "placement",
    "HostInfo": "placement",
    "PlacementResult": "placement",
    "place": "placement",
}

__all__ = [
    "DEFAULT_HOST",
    "Assignment",
    "Fleet",
    "FleetPlan",
    "HostError",
    "HostInfo",
    "PlacementResult",
    "apply_fleet",
    "connect_fleet",
    "engine_for_host",
    "place",
    "plan_fleet",
]

__getattr__, __dir__ = lazy.exports(__name__, globals(), _WHERE)
