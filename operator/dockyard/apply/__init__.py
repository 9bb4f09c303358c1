"""The one convergence of apps on a host: run their plans, roll out, observe
(docs/architecture.md).

The names below are the package's public surface, loaded on first use (importing a
small part of the package stays cheap: the CLI starts on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard import lazy

if TYPE_CHECKING:
    from .converge import Converged, converge, delete_app
    from .executor import ApplyResult, Executor, OpResult, Reporter
    from .plans import AppPlan, Work, plan_apps
    from .rollout import RolloutOutcome

_WHERE = {
    "AppPlan": "plans",
    "Converged": "converge",
    "Work": "plans",
    "converge": "converge",
    "delete_app": "converge",
    "plan_apps": "plans",
    "ApplyResult": "executor",
    "Executor": "executor",
    "OpResult": "executor",
    "Reporter": "executor",
    "RolloutOutcome": "rollout",
}

__all__ = [
    "AppPlan",
    "ApplyResult",
    "Converged",
    "Executor",
    "OpResult",
    "Reporter",
    "RolloutOutcome",
    "Work",
    "converge",
    "delete_app",
    "plan_apps",
]

__getattr__, __dir__ = lazy.exports(__name__, globals(), _WHERE)
