"""Which apps this controller owns, kept on disk so a restart can prune what was deleted
while it was down, and never touches apps applied by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path


class Ownership:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "owned.json"
        self.apps: dict[str, str] = {}  # app -> source id
        try:
            self.apps = dict(json.loads(self.path.read_text(encoding="utf-8"))["apps"])
        except (OSError, ValueError, KeyError, TypeError):
            self.apps = {}

    def set(self, app: str, source: str) -> None:
        if self.apps.get(app) != source:
            self.apps[app] = source
            self._save()

    def drop(self, app: str) -> None:
        if self.apps.pop(app, None) is not None:
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"apps": self.apps}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a kill -9 never leaves half a file
