"""Secret files on the host's tmpfs, bind-mounted read-only into containers.

Values are written only here: never into env, labels, logs or the engine's config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import EngineError

DEFAULT_ROOT = "/run/dockyard/secrets"


class SecretStore:
    def __init__(self, root: str | None = None) -> None:
        self.root = Path(root or os.environ.get("DOCKYARD_SECRETS_DIR", DEFAULT_ROOT))
        self._ready = False

    def _ensure_tmpfs(self) -> None:
        if self._ready:
            return
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _on_tmpfs(self.root):
            result = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "mode=0700,size=16m", "tmpfs", str(self.root)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise EngineError(
                    f"cannot keep secrets in memory: {self.root} is not on tmpfs and mounting "
                    f"one failed ({result.stderr.strip()}); run dockyard as root or set "
                    "DOCKYARD_SECRETS_DIR to a folder on a tmpfs"
                )
        self._ready = True

    def path(self, app: str, service: str, name: str) -> Path:
        return self.root / app / service / name

    def write(
        self,
        app: str,
        service: str,
        name: str,
        data: bytes,
        mode: int,
        uid: int | None,
        gid: int | None,
    ) -> str:
        self._ensure_tmpfs()
        path = self.path(app, service, name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
        for parent in (path.parent, path.parent.parent):
            parent.chmod(0o711)
        # Rewrite in place: a bind-mounted file keeps its inode, so running containers see it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chown(path, uid if uid is not None else 0, gid if gid is not None else 0)
        os.chmod(path, mode)
        return str(path)

    def forget_app(self, app: str) -> None:
        shutil.rmtree(self.root / app, ignore_errors=True)


def _on_tmpfs(path: Path) -> bool:
    best = ""
    fstype = ""
    target = str(path.resolve())
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) < 3:
                continue
            mountpoint = parts[1]
            if (target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")) and len(
                mountpoint
            ) >= len(best):
                best, fstype = mountpoint, parts[2]
    return fstype == "tmpfs"
