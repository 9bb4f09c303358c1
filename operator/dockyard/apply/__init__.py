"""The one convergence of apps on a host: run their plans, roll out, observe
(docs/architecture.md).

The names below are the package's public surface, loaded on first use (importing a
small part of the package stays cheap: the CLI starts on it).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .converge import AppPlan, Converged, Work, converge, delete_app, plan_apps
    from .executor import ApplyResult, Executor, OpResult, Reporter
    from .rollout import RolloutOutcome

_WHERE = {
    "AppPlan": "converge",
    "Converged": "converge",
    "Work": "converge",
    "converge": "converge",
    "delete_app": "converge",
    "plan_apps": "converge",
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
