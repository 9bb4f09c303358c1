"""The controller: a level-based loop that keeps hosts converged to what sources want.

Public surface (loaded on first use, so importing a small part stays cheap):
Controller, Settings, Result, WorkQueue, AppStatus, Wanted, Host, HistoryStore, and the
Source interface every source implements (Source, SourceUpdate).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .history import HistoryStore
    from .hosts import Host
    from .intake import Wanted
    from .queue import Result, WorkQueue
    from .reconciler import Controller, Settings
    from .source import Source, SourceUpdate
    from .status import AppStatus

_WHERE = {
    "Controller": "reconciler",
    "Settings": "reconciler",
    "Result": "queue",
    "WorkQueue": "queue",
    "AppStatus": "status",
    "Wanted": "intake",
    "Host": "hosts",
    "HistoryStore": "history",
    "Source": "source",
    "SourceUpdate": "source",
}

__all__ = [
    "AppStatus",
    "Controller",
    "HistoryStore",
    "Host",
    "Result",
    "Settings",
    "Source",
    "SourceUpdate",
    "Wanted",
    "WorkQueue",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
