"""Planning, pure: (desired, observed) -> Plan, a DAG of operations with causes, and the
rollout of services with `update:` (docs/architecture.md).

The names below are the package's public surface, loaded on first use (importing a
small part of the package stays cheap: the CLI starts on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard import lazy

if TYPE_CHECKING:
    from .converge import plan_converge, rolling_changes
    from .desired import DesiredApp, desired_app, fingerprint
    from .operations import Kind, Operation, Plan, merge
    from .planner import plan_app, plan_delete
    from .rollout import Batch, Replacement, RolloutPlan

_WHERE = {
    "plan_converge": "converge",
    "rolling_changes": "converge",
    "plan_app": "planner",
    "plan_delete": "planner",
    "Kind": "operations",
    "Operation": "operations",
    "Plan": "operations",
    "merge": "operations",
    "Batch": "rollout",
    "Replacement": "rollout",
    "RolloutPlan": "rollout",
    "DesiredApp": "desired",
    "desired_app": "desired",
    "fingerprint": "desired",
}

__all__ = [
    "Batch",
    "DesiredApp",
    "Kind",
    "Operation",
    "Plan",
    "Replacement",
    "RolloutPlan",
    "desired_app",
    "fingerprint",
    "merge",
    "plan_app",
    "plan_converge",
    "plan_delete",
    "rolling_changes",
]

__getattr__, __dir__ = lazy.exports(__name__, globals(), _WHERE)
