"""`dockyard run` as a child process for the benchmarks: start it on a free loopback port,
ask its HTTP endpoints, stop it as an operator would (SIGTERM)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SERVING = re.compile(r"serving .* on (http://127\.0\.0\.1:\d+)")


def dockyard_cli() -> str:
    """The `dockyard` of this virtualenv, else the one on PATH."""
    found = Path(sys.executable).parent / "dockyard"
    return str(found) if found.exists() else shutil.which("dockyard") or "dockyard"


class ControllerProcess:
    def __init__(
        self,
        folder: Path,
        state_dir: Path,
        log_path: Path,
        interval: str | None = None,
        say: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
    ) -> None:
        self.folder, self.state_dir, self.log_path = folder, state_dir, log_path
        self.interval = interval
        self.say = say
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0, wait_ready: bool = True) -> None:
        """Start it and wait until it listens (and, with `wait_ready`, answers /readyz)."""
        cmd = [dockyard_cli(), "run", str(self.folder), "--listen", "127.0.0.1:0"]
        cmd += ["--state-dir", str(self.state_dir), "--resync", "60s"]
        if self.interval is not None:
            cmd += ["--interval", self.interval]
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.url:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyard run exited {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockyard run did not start listening:\n{self.tail()}")
            if m := _SERVING.search(self.log_path.read_text(errors="replace")):
                self.url = m.group(1)
            else:
                time.sleep(0.05)
        while wait_ready and self.get("/readyz") is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockyard run never became ready:\n{self.tail()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def get(self, path: str) -> bytes | None:
        request = urllib.request.Request(self.url + path)
        with contextlib.suppress(OSError):  # the bearer token `dockyard run` writes at start
            token = (self.state_dir / "control.token").read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return bytes(response.read())
        except (urllib.error.URLError, OSError):
            return None

    def status(self, app: str) -> dict[str, Any] | None:
        raw = self.get(f"/status/{app}")
        return json.loads(raw) if raw else None

    def ready(self, app: str) -> bool:
        st = self.status(app) or {}
        return any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions", [])
        )

    def metrics(self) -> dict[str, float]:
        """Prometheus text -> {metric name: sum over its label sets}."""
        out: dict[str, float] = {}
        for line in (self.get("/metrics") or b"").decode().splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                name = key.split("{", 1)[0]
                out[name] = out.get(name, 0.0) + float(value)
        return out

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, as an operator would; SIGKILL only if it does not exit in `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.say(f"dockyard run ignored SIGTERM for {timeout:.0f} s: killing it")
            self.proc.kill()
            return self.proc.wait(10)
