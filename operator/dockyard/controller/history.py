"""Revision history per app: what was rolled out, when, by whom, what changed, and how
it ended.

The history lives with the app: a record on every engine the app runs on
(engine/records.py), written by `dockyard apply` and by the controller alike, so any
machine that reaches those engines reads the same revisions and pins. The state folder
keeps a copy (`<state-dir>/history/<app>.json`, mode 0600) as a cache: read when no host
answers; the newer of the two (by `updated`) wins. The last KEEP revisions are kept.
Each revision stores the App as the user wrote it (secrets by reference only, never
their values), the resolved environment and the content-hash tags of its builds:
enough to roll back to it without the source having it any more.

A *pin* says "while the source still wants fingerprint F, run revision N instead":
set by an automatic rollback (the bad revision is not retried until the spec changes
again) or by `dockyard rollback`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.engine.errors import EngineError
from dockyard.engine.records import read_record, write_record

if TYPE_CHECKING:
    from dockyard.engine.client import Engine

KEEP = 20
FORMAT = "dockyard.dev/history/v1"

# complete: converged and healthy; rolling-out: in progress (or interrupted);
# rolled-back: failed and replaced by an earlier revision; paused: failed, left as is;
# halted: a wave across hosts stopped (see update.hosts); failed: failed with
# failureAction continue or could not be applied.
OUTCOMES = ("rolling-out", "complete", "rolled-back", "paused", "halted", "failed")


@dataclass
class Revision:
    number: int
    fingerprint: str
    created: float
    source: str
    source_revision: str
    changes: list[str]
    outcome: str = "rolling-out"
    message: str = ""
    app: dict[str, Any] = field(default_factory=dict)
    env: dict[str, list[list[str]]] = field(default_factory=dict)
    build_tags: dict[str, str] = field(default_factory=dict)
    base_dir: str = ""
    by: str = ""  # who applied it: `user@machine` of `dockyard apply`, or the controller's

    def summary(self) -> dict[str, Any]:
        """What `dockyard history` shows (no manifest body)."""
        return {
            "revision": self.number,
            "created": self.created,
            "source": self.source,
            "by": self.by,
            "sourceRevision": self.source_revision,
            "changes": self.changes,
            "outcome": self.outcome,
            "message": self.message,
        }


@dataclass
class Pin:
    for_fingerprint: str  # while the source wants this…
    revision: int  # …run this revision instead
    reason: str


@dataclass
class AppHistory:
    revisions: list[Revision] = field(default_factory=list)
    current: int | None = None  # the revision running now
    pin: Pin | None = None
    # A tag that moved to an image whose rollout failed: image -> {"id", "reason"}. Its
    # containers keep their old image until the tag moves again.
    bad_images: dict[str, dict[str, str]] = field(default_factory=dict)
    updated: float = 0.0  # when it was last saved (the newest copy wins)

    def latest(self) -> Revision | None:
        return self.revisions[-1] if self.revisions else None

    def get(self, number: int) -> Revision | None:
        return next((r for r in self.revisions if r.number == number), None)

    def by_fingerprint(self, fingerprint: str) -> Revision | None:
        return next((r for r in reversed(self.revisions) if r.fingerprint == fingerprint), None)

    def previous_good(self, before: int) -> Revision | None:
        """The newest revision older than `before` that completed."""
        for r in reversed(self.revisions):
            if r.number < before and r.outcome == "complete":
                return r
        return None

    def rollback_target(self, app: str, to: int | None) -> Revision:
        """The revision a rollback goes to: `to`, else the newest completed one before the
        current. ValueError with what to do when there is none."""
        if to is None:
            current = self.current or 0
            target = self.previous_good(current)
            if target is None:
                raise ValueError(
                    f"app {app} has no completed revision before {current}: "
                    "see `dockyard history` and pass --to"
                )
            return target
        found = self.get(to)
        if found is None:
            known = ", ".join(str(r.number) for r in self.revisions) or "none"
            raise ValueError(f"app {app} has no revision {to} (known: {known})")
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "pin": asdict(self.pin) if self.pin else None,
            "badImages": self.bad_images,
            "updated": self.updated,
            "revisions": [r.summary() for r in self.revisions],
        }


def _record_of(app: str, history: AppHistory) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "app": app,
        "updated": history.updated,
        "current": history.current,
        "pin": asdict(history.pin) if history.pin else None,
        "bad_images": history.bad_images,
        "revisions": [asdict(r) for r in history.revisions],
    }


def _history_of(raw: dict[str, Any]) -> AppHistory:
    known = {f.name for f in fields(Revision)}  # a newer writer's extra keys are dropped
    pin = raw.get("pin")
    return AppHistory(
        revisions=[
            Revision(**{k: v for k, v in r.items() if k in known}) for r in raw["revisions"]
        ],
        current=raw.get("current"),
        pin=Pin(**pin) if pin else None,
        bad_images=dict(raw.get("bad_images") or {}),
        updated=float(raw.get("updated") or 0.0),
    )


def valid_name(app: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", app):
        raise ValueError(f"not an app name: {app!r}")
    return app


class HistoryStore:
    """Each app's history in memory, mirrored to the state folder's cache (if any) and,
    through `on_save`, to the app's engines."""

    def __init__(self, state_dir: Path | None) -> None:
        self.dir = state_dir / "history" if state_dir is not None else None
        self._cache: dict[str, AppHistory] = {}
        self._saved: dict[str, str] = {}
        # Called with the app and its record after every save: where it goes to the hosts.
        self.on_save: Callable[[str, dict[str, Any]], None] | None = None

    def _path(self, app: str) -> Path | None:
        valid_name(app)
        return self.dir / f"{app}.json" if self.dir is not None else None

    def get(self, app: str) -> AppHistory:
        if app not in self._cache:
            self._cache[app] = self._read(app)
            self._saved[app] = self._content(app)
        return self._cache[app]

    def _content(self, app: str) -> str:
        """What a save would store, but its time: a save that changes nothing is skipped."""
        record = self.record(app)
        record.pop("updated", None)
        return json.dumps(record, sort_keys=True)

    def _read(self, app: str) -> AppHistory:
        path = self._path(app)
        if path is None:
            return AppHistory()
        try:
            return _history_of(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return AppHistory()

    def record(self, app: str) -> dict[str, Any]:
        """The app's history as stored on its hosts (and in the cache)."""
        return _record_of(app, self.get(app))

    def adopt(self, app: str, record: dict[str, Any] | None) -> bool:
        """Take a record read from a host when it is newer than what is known here (the
        cache is then rewritten; nothing is sent back). Returns whether it was taken."""
        if not record or record.get("app") != app:
            return False
        try:
            found = _history_of(record)
        except (KeyError, TypeError, ValueError):
            return False
        if found.updated <= self.get(app).updated:
            return False
        self._cache[app] = found
        self._saved[app] = self._content(app)
        with contextlib.suppress(OSError):  # a reader may not write the cache: no matter
            self._write_cache(app)
        return True

    def save(self, app: str) -> None:
        history = self.get(app)
        history.revisions = history.revisions[-KEEP:]
        content = self._content(app)
        if content == self._saved.get(app):
            return  # e.g. a repair that re-applied the running revision: nothing to send
        self._saved[app] = content
        history.updated = max(time.time(), history.updated + 1e-6)
        self._write_cache(app)
        if self.on_save is not None:
            self.on_save(app, self.record(app))

    def _write_cache(self, app: str) -> None:
        path = self._path(app)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(self.record(app), fh, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except OSError:
            if self.on_save is None:
                raise  # the state folder is the only copy

    def add(
        self,
        app: str,
        fingerprint: str,
        source: str,
        source_revision: str,
        manifest: dict[str, Any],
        env: dict[str, list[list[str]]],
        build_tags: dict[str, str],
        base_dir: str,
        by: str = "",
    ) -> Revision:
        history = self.get(app)
        last = history.latest()
        rev = Revision(
            number=(last.number + 1) if last else 1,
            fingerprint=fingerprint,
            created=time.time(),
            source=source,
            source_revision=source_revision,
            changes=describe_changes(last.app if last else None, manifest),
            app=manifest,
            env=env,
            build_tags=build_tags,
            base_dir=base_dir,
            by=by or who(),
        )
        history.revisions.append(rev)
        self.save(app)
        return rev

    def forget(self, app: str) -> None:
        self._cache.pop(app, None)
        self._saved.pop(app, None)
        path = self._path(app)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()


def who() -> str:
    """`user@machine` of this process: who applied a revision."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def read_newest(app: str, engines: Sequence[Engine]) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest record of the app among these engines, and what could not be read."""
    newest: dict[str, Any] | None = None
    problems: list[str] = []
    for engine in engines:
        try:
            record = read_record(engine, app)
        except EngineError as exc:
            problems.append(f"host {engine.name}: {exc}")
            continue
        if record and float(record.get("updated") or 0) > float((newest or {}).get("updated") or 0):
            newest = record
    return newest, problems


def write_each(
    app: str, record: dict[str, Any], engines: Sequence[Engine], images: Sequence[str] = ()
) -> list[str]:
    """Store the record on each engine; returns what failed (one line per host)."""
    problems: list[str] = []
    for engine in engines:
        try:
            write_record(engine, app, record, images)
        except EngineError as exc:
            problems.append(f"host {engine.name}: {exc}")
    return problems


def describe_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What changed between two App manifests, one line per service (or app-level key)."""
    if old is None:
        return ["first revision"]
    lines: list[str] = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_svcs = {s["name"]: s for s in old_spec.get("services") or []}
    new_svcs = {s["name"]: s for s in new_spec.get("services") or []}
    for name in new_svcs.keys() - old_svcs.keys():
        lines.append(f"service {name} added")
    for name in old_svcs.keys() - new_svcs.keys():
        lines.append(f"service {name} removed")
    for name in sorted(new_svcs.keys() & old_svcs.keys()):
        a, b = old_svcs[name], new_svcs[name]
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if not keys:
            continue
        parts = []
        for key in keys:
            if key == "image":
                parts.append(f"image {a.get(key)} -> {b.get(key)}")
            elif key == "replicas":
                parts.append(f"replicas {a.get(key, 1)} -> {b.get(key, 1)}")
            else:
                parts.append(key)
        lines.append(f"service {name}: {', '.join(parts)}")
    for key in sorted(k for k in old_spec.keys() | new_spec.keys() if k != "services"):
        if old_spec.get(key) != new_spec.get(key):
            lines.append(f"{key} changed")
    return lines or ["no change to the manifest (inputs such as env files or builds changed)"]
