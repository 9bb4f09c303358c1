"""The agent's state on disk: the newest accepted desired state and what it handed to the
controller, so a device restarted without its broker converges from disk.

Both files hold secret values: they are written 0600 in a 0700 folder, atomically.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from dockyard.spec.errors import FieldError

from .payload import AppVersion, DesiredState, PayloadError, decode, decode_app

log = logging.getLogger("dockyard.sources.mqtt.store")


class AgentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.desired_path = root / "desired.json"
        self.applied_path = root / "applied.json"

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def _write(self, path: Path, data: bytes) -> None:
        self.ensure()
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def save_desired(self, data: bytes) -> None:
        self._write(self.desired_path, data)

    def load_desired(self, agent: str, base_dir: Path) -> DesiredState | None:
        try:
            data = self.desired_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return decode(data, agent, base_dir)
        except PayloadError as exc:
            log.error("the desired state on disk (%s) is unusable: %s", self.desired_path, exc)
            return None

    def save_applied(self, apps: Mapping[str, AppVersion], seq: int) -> None:
        body = {"seq": seq, "apps": {name: v.wire() for name, v in sorted(apps.items())}}
        self._write(self.applied_path, json.dumps(body).encode())

    def load_applied(self, base_dir: Path) -> tuple[dict[str, AppVersion], int] | None:
        """What was last handed to the controller (None: nothing yet)."""
        try:
            raw = json.loads(self.applied_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("the applied state on disk (%s) is unusable: %s", self.applied_path, exc)
            return None
        apps: dict[str, AppVersion] = {}
        for name, wire in (raw.get("apps") or {}).items():
            errors: list[FieldError] = []
            version = decode_app(
                wire.get("app", {}),
                wire.get("secrets", {}),
                int(wire.get("revision", 0)),
                base_dir,
                errors,
                f"apps[{name}]",
            )
            if version is None:
                log.error("app %s on disk is unusable: %s", name, "; ".join(map(str, errors)))
                continue
            apps[name] = version
        return apps, int(raw.get("seq", 0))
