"""The controller: a level-based loop that keeps hosts converged to what sources want.

Public surface (loaded on first use, so importing a small part stays cheap):
Controller, Settings, Result, WorkQueue, AppStatus, Wanted, Host, HistoryStore, and the
Source interface every source implements (Source, SourceUpdate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard import lazy

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

__getattr__, __dir__ = lazy.exports(__name__, globals(), _WHERE)
