"""A second, private dockerd for tests that must stop and restart an engine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from helpers import BASE_IMAGE


class PrivateEngine:
    """dockerd with its own data root, exec root, pidfile and socket; no bridge, no iptables,
    so it never disturbs the main engine."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dy-eng-", dir="/tmp"))
        self.sock = self.dir / "sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.dir / "log", "ab")  # noqa: SIM115 - kept open for the daemon's life
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                str(self.dir / "data"),
                "--exec-root",
                str(self.dir / "exec"),
                "--pidfile",
                str(self.dir / "pid"),
                "-H",
                self.url,
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                docker.APIClient(base_url=self.url, timeout=2).ping()
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.dir / "log").read_text()[-2000:]) from None
                time.sleep(0.2)
        raise RuntimeError(f"private dockerd did not start; see {self.dir / 'log'}")

    def load_base_image(self) -> None:
        save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "-H", self.url, "load", "-q"],
            stdin=save.stdout,
            check=True,
            capture_output=True,
        )
        save.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def destroy(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                client = docker.APIClient(base_url=self.url, timeout=10)
                for c in client.containers(all=True, quiet=True):
                    client.remove_container(c["Id"], force=True, v=True)
            except Exception:
                pass
        self.stop()
        subprocess.run(["umount", "-R", str(self.dir / "exec")], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
