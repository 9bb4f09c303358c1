"""Which content of its restart/signal inputs each running container has seen.

A container is created with the inputs' content of the moment; when a secret or a
watched file with `onChange: restart | signal:…` changes later, the planner restarts or
signals it (see plan/planner.py). This record, per app in
`<state-dir>/inputs/<app>.json`, remembers what each container (by id) last got, so a
restart of the controller neither repeats nor forgets a delivery. Only content hashes are
kept, never content.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from dockyard.state.desired import DesiredContainer
from dockyard.state.observed import ObservedState


class InputRecord:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "inputs"
        self._apps: dict[str, dict[str, dict[str, object]]] = {}

    def _load(self, app: str) -> dict[str, dict[str, object]]:
        if app not in self._apps:
            try:
                self._apps[app] = dict(json.loads((self.dir / f"{app}.json").read_text()))
            except (OSError, ValueError):
                self._apps[app] = {}
        return self._apps[app]

    def seen(self, app: str, host: str, observed: ObservedState) -> dict[str, Mapping[str, str]]:
        """container name -> {input id: hash} for containers still the same as recorded."""
        out: dict[str, Mapping[str, str]] = {}
        for key, rec in self._load(app).items():
            h, _, name = key.rpartition("/")
            obs = observed.container_named(name)
            if h == host and obs is not None and obs.id == rec.get("id"):
                inputs = rec.get("inputs")
                if isinstance(inputs, dict):
                    out[name] = inputs
        return out

    def update(
        self,
        app: str,
        host: str,
        desired: Iterable[DesiredContainer],
        observed: ObservedState,
    ) -> None:
        """After a successful reconcile: every running container has what it wants now."""
        records = self._load(app)
        changed = False
        for d in desired:
            if not d.live_inputs:
                continue
            obs = observed.container_named(d.name)
            if obs is None or not obs.running:
                continue
            rec: dict[str, object] = {
                "id": obs.id,
                "inputs": {i: h for i, h, _ in d.live_inputs},
            }
            key = f"{host}/{d.name}"
            if records.get(key) != rec:
                records[key] = rec
                changed = True
        if changed:
            self._save(app)

    def forget(self, app: str) -> None:
        self._apps.pop(app, None)
        with contextlib.suppress(OSError):
            (self.dir / f"{app}.json").unlink()

    def _save(self, app: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{app}.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._apps[app], fh, sort_keys=True)
        os.replace(tmp, path)
