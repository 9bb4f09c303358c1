"""A second, private dockerd for tests that must stop and restart an engine, or that need
several engines (one of them on 127.0.0.1 TCP with mutual TLS)."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

from helpers import BASE_IMAGE


@dataclass(frozen=True)
class ServerTLS:
    """The daemon's side of mutual TLS: it trusts clients signed by `ca`."""

    ca: Path
    cert: Path
    key: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def restore_main_bridge() -> None:
    """Put the main engine's `docker0` back if a private dockerd's start removed it."""
    if Path("/sys/class/net/docker0").exists():
        return
    try:
        client = docker.APIClient(timeout=10)
        net = client.inspect_network("bridge")
        client.close()
    except Exception:
        return  # no main engine, or it has no default bridge: nothing to restore
    if (net.get("Options") or {}).get("com.docker.network.bridge.name") != "docker0":
        return
    config = ((net.get("IPAM") or {}).get("Config") or [{}])[0]
    gateway, subnet = config.get("Gateway"), config.get("Subnet")
    if not gateway or not subnet:
        return
    prefix = subnet.split("/")[1]
    for args in (
        ["link", "add", "docker0", "type", "bridge"],
        ["addr", "add", f"{gateway}/{prefix}", "dev", "docker0"],
        ["link", "set", "docker0", "up"],
    ):
        subprocess.run(["ip", *args], capture_output=True, check=False)


class PrivateEngine:
    """dockerd with its own data root, exec root, pidfile, socket, default bridge and address
    pool; no iptables, so it never disturbs the main engine.

    A dockerd deletes the host's `docker0` (the main engine's default bridge, which every
    build's RUN step there needs) when it starts with `--bridge=none`, and when it restarts
    with any bridge of its own (moby's "clear stale bridge network"). So: its own bridge,
    and `docker0` is put back after every start (`restore_main_bridge`).

    With `tls`, it also listens on `tcp://127.0.0.1:PORT` with `--tlsverify` (clients must
    present a certificate signed by `tls.ca`); `url` stays the unix socket, which the tests
    use to set up and clean up, and `tcp_url` is the TLS endpoint."""

    def __init__(self, tls: ServerTLS | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dy-eng-", dir="/tmp"))
        self.sock = self.dir / "sock"
        self.url = f"unix://{self.sock}"
        self.tls = tls
        self.port = free_port() if tls is not None else None
        self.tcp_url = f"tcp://127.0.0.1:{self.port}" if tls is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.subnet = random.randint(64, 250)
        self.bridge = f"dyb-{self.dir.name[-8:]}"

    def _listen_args(self) -> list[str]:
        args = ["-H", self.url]
        if self.tls is not None:
            args += [
                "-H",
                str(self.tcp_url),
                "--tlsverify",
                "--tlscacert",
                str(self.tls.ca),
                "--tlscert",
                str(self.tls.cert),
                "--tlskey",
                str(self.tls.key),
            ]
        return args

    def _make_bridge(self) -> None:
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(
            ["ip", "addr", "add", f"10.{self.subnet}.255.1/24", "dev", self.bridge], check=True
        )
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    def start(self, timeout: float = 60.0) -> None:
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            self._make_bridge()
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
                *self._listen_args(),
                "--bridge",
                self.bridge,
                "--iptables=false",
                "--ip-masq=false",
                # Its own address pool: the default ones are shared by every engine on the
                # machine and run out when several create networks at once.
                "--default-address-pool",
                f"base=10.{self.subnet}.0.0/16,size=24",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                docker.APIClient(base_url=self.url, timeout=2).ping()
                restore_main_bridge()
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

    def _remove_bridges(self) -> None:
        """Bridges of the daemon's networks still in the host's namespace (it died, or could
        not remove them): their ids are in its network store."""
        store = self.dir / "data" / "network" / "files" / "local-kv.db"
        try:
            raw = store.read_bytes()
        except OSError:
            return
        for net_id in set(re.findall(rb"network/v1\.0/network/([0-9a-f]{64})", raw)):
            subprocess.run(
                ["ip", "link", "delete", f"br-{net_id[:12].decode()}"],
                capture_output=True,
                check=False,
            )

    def destroy(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                client = docker.APIClient(base_url=self.url, timeout=10)
                for c in client.containers(all=True, quiet=True):
                    client.remove_container(c["Id"], force=True, v=True)
                # Its networks' bridges live in the host's namespace and outlive the daemon:
                # left behind, they use up the address pools every engine here draws from.
                for net in client.networks():
                    if net["Name"] not in ("bridge", "host", "none"):
                        client.remove_network(net["Id"])
            except Exception:
                pass
        self.stop()
        self._remove_bridges()
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)
        for mounted in ("exec", "data"):  # a killed daemon leaves its mounts behind
            subprocess.run(
                ["umount", "-R", str(self.dir / mounted)], capture_output=True, check=False
            )
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_engines(*names: str) -> Iterator[dict[str, PrivateEngine]]:
    """Several private engines, each with the base image, destroyed afterwards."""
    started: dict[str, PrivateEngine] = {}
    try:
        for name in names:
            engine = PrivateEngine()
            engine.start()
            engine.load_base_image()
            started[name] = engine
        yield started
    finally:
        for engine in started.values():
            engine.destroy()
