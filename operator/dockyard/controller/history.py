"""Revision history per app: what was rolled out, when, what changed, and how it ended.

Kept as one small JSON file per app in the controller's state directory
(`<state-dir>/history/<app>.json`, mode 0600), so it survives a controller restart.
Each revision stores the App as the user wrote it (secrets by reference only, never
their values), the resolved environment and the content-hash tags of its builds:
enough to roll back to it without the source having it any more.

A *pin* says "while the source still wants fingerprint F, run revision N instead":
set by an automatic rollback (the bad revision is not retried until the spec changes
again) or by `dockyard rollback`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KEEP = 20

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

    def summary(self) -> dict[str, Any]:
        """What `dockyard history` shows (no manifest body)."""
        return {
            "revision": self.number,
            "created": self.created,
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

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "pin": asdict(self.pin) if self.pin else None,
            "badImages": self.bad_images,
            "revisions": [r.summary() for r in self.revisions],
        }


class HistoryStore:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "history"
        self._cache: dict[str, AppHistory] = {}

    def _path(self, app: str) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", app):
            raise ValueError(f"not an app name: {app!r}")
        return self.dir / f"{app}.json"

    def get(self, app: str) -> AppHistory:
        if app not in self._cache:
            self._cache[app] = self._read(app)
        return self._cache[app]

    def _read(self, app: str) -> AppHistory:
        try:
            raw = json.loads(self._path(app).read_text())
        except (OSError, ValueError):
            return AppHistory()
        pin = raw.get("pin")
        return AppHistory(
            revisions=[Revision(**r) for r in raw.get("revisions", [])],
            current=raw.get("current"),
            pin=Pin(**pin) if pin else None,
            bad_images=dict(raw.get("bad_images") or {}),
        )

    def save(self, app: str) -> None:
        history = self.get(app)
        history.revisions = history.revisions[-KEEP:]
        data = {
            "current": history.current,
            "pin": asdict(history.pin) if history.pin else None,
            "bad_images": history.bad_images,
            "revisions": [asdict(r) for r in history.revisions],
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(app)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)

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
        )
        history.revisions.append(rev)
        self.save(app)
        return rev

    def forget(self, app: str) -> None:
        self._cache.pop(app, None)
        with contextlib.suppress(OSError):
            self._path(app).unlink()


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
