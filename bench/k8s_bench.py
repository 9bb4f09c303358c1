"""The Kubernetes operator: an App of N services to status Ready, against `dockyard apply`
of the same spec; and the operator's idle CPU and RSS with M Apps.

Run by hand (not part of pytest); see bench/README.md. It starts the test API server
(k8sx-apiserver from ../shared/k8s on Debian's etcd, as tests/k8s_fixtures.py does), the
CRDs from crds/, and one real `dockyard operator` subprocess (no leader election) watching
a namespace of its own:

  1. apply -> Ready: an App of N single-container services created through the API (what
     `kubectl apply -f app.yaml` sends), timed until its .status says Ready with
     observedGeneration 1; then the App is deleted (its containers removed through the
     finalizer) and `dockyard apply -f app.yaml` of the same spec (a subprocess, as a user
     runs it) is timed to exit; then `dockyard delete`. Alternated, --repeat times each.
  2. idle: M Apps of one service each, all Ready; then the operator process's CPU% and RSS
     over --idle seconds (psutil), and how many status writes it made meanwhile.

Everything it creates carries the label dev.dockyard.bench=1 (not dev.dockyard.test, which
a test session sweeps when it ends) and is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import lzma
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DOCKYARD_K8SX_DIR", REPO.parent / "shared" / "k8s"))
DOCKYARD = Path(sys.executable).parent / "dockyard"
BENCH_LABEL = "dev.dockyard.bench"
GROUP, VERSION = "dockyard.dev", "v1alpha1"
IMAGE = "dockyard.local/busybox:latest"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + 10))
            except OSError:
                continue
        return port


def wait_for(what: str, check: Callable[[], Any], timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


@contextlib.contextmanager
def api_server(state: Path) -> Iterator[Path]:
    binary = REPO / ".cache" / "k8sx-apiserver"
    if not binary.exists():
        binary.parent.mkdir(exist_ok=True)
        with lzma.open(SHARED / "k8sx-apiserver.xz") as src, binary.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        binary.chmod(0o755)
    env = {
        **os.environ,
        "K8SX_APISERVER": str(binary),
        "K8SX_PORT": str(free_port()),
        "K8SX_ETCD_PORT": str(free_port()),
    }
    subprocess.run(
        ["bash", str(SHARED / "k8sx-up"), str(state)], env=env, check=True, capture_output=True
    )
    try:
        yield state / "kubeconfig"
    finally:
        subprocess.run(["bash", str(SHARED / "k8sx-down"), str(state)], check=False)


def service(name: str, network_none: bool) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "pullPolicy": "Never",
        "command": ["sleep", "86400"],
        "init": True,
        "labels": {BENCH_LABEL: "1"},
    }
    if network_none:
        svc["networkMode"] = "none"
    return svc


def app(name: str, services: int, network_none: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {"services": [service(f"s{i:02d}", network_none) for i in range(services)]},
    }


class Bench:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        from kubernetes import client, config

        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.apiext = client.ApiextensionsV1Api(self.api)
        self.ns = namespace

    def install(self) -> None:
        for file in sorted((REPO / "crds").glob("*.yaml")):
            self.apiext.create_custom_resource_definition(yaml.safe_load(file.read_text()))
        time.sleep(2)
        self.core.create_namespace({"metadata": {"name": self.ns}})

    def get(self, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return dict(
                self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, "apps", name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def ready(self, name: str) -> bool:
        obj = self.get(name) or {}
        status = obj.get("status") or {}
        conds = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return conds.get("Ready") == "True" and status.get("observedGeneration") == 1

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, "apps", body)

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.ns, "apps", name)


def sweep(client: docker.DockerClient) -> None:
    for c in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}=1"}):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True)
    for n in client.networks.list(filters={"label": "dev.dockyard.app"}):
        if n.name.startswith("kb-"):
            with contextlib.suppress(docker.errors.APIError):
                n.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    client = docker.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="k8s-bench-"))
    results: dict[str, Any] = {"services": args.services, "apps": args.apps}
    operator: subprocess.Popen[bytes] | None = None
    try:
        with api_server(tmp / "k8sx") as kubeconfig:
            bench = Bench(kubeconfig, "bench")
            bench.install()
            op_log = (tmp / "operator.log").open("wb")
            operator = subprocess.Popen(
                [
                    str(DOCKYARD),
                    "operator",
                    "-n",
                    "bench",
                    "--kubeconfig",
                    str(kubeconfig),
                    "--listen",
                    "127.0.0.1:0",
                    "--state-dir",
                    str(tmp / "state"),
                    "--no-leader-election",
                    "--resync",
                    "60s",
                ],
                stdout=op_log,
                stderr=subprocess.STDOUT,
            )
            wait_for("operator", lambda: "is active" in (tmp / "operator.log").read_text())

            # 1. apply -> Ready, through the API and with `dockyard apply`.
            k8s_times: list[float] = []
            cli_times: list[float] = []
            for i in range(args.repeat):
                name = f"kb-{i}-k8s"
                started = time.monotonic()
                bench.create(app(name, args.services))
                wait_for(f"{name} Ready", lambda n=name: bench.ready(n))
                k8s_times.append(time.monotonic() - started)
                bench.delete(name)
                wait_for(f"{name} deleted", lambda n=name: bench.get(n) is None)
                log(f"kubernetes: App of {args.services} services Ready in {k8s_times[-1]:.2f}s")

                name = f"kb-{i}-cli"
                manifest = tmp / f"{name}.yaml"
                manifest.write_text(yaml.safe_dump(app(name, args.services)))
                started = time.monotonic()
                subprocess.run(
                    [str(DOCKYARD), "apply", "-q", "-f", str(manifest)],
                    check=True,
                    capture_output=True,
                )
                cli_times.append(time.monotonic() - started)
                subprocess.run([str(DOCKYARD), "delete", name], check=True, capture_output=True)
                log(f"dockyard apply: {args.services} services in {cli_times[-1]:.2f}s")
            results["apply_to_ready_k8s"] = k8s_times
            results["dockyard_apply"] = cli_times

            # 2. idle with M Apps.
            started = time.monotonic()
            for i in range(args.apps):
                bench.create(app(f"kb-idle-{i:03d}", 1, network_none=True))
            wait_for(
                f"{args.apps} Apps Ready",
                lambda: all(bench.ready(f"kb-idle-{i:03d}") for i in range(args.apps)),
                timeout=600,
            )
            results["apps_ready_seconds"] = time.monotonic() - started
            log(f"{args.apps} Apps Ready in {results['apps_ready_seconds']:.1f}s")
            time.sleep(5)  # let the last status writes settle
            proc = psutil.Process(operator.pid)
            writes_before = len(bench.core.list_namespaced_event("bench").items)
            cpu_before = proc.cpu_times()
            time.sleep(args.idle)
            cpu_after = proc.cpu_times()
            used = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
            results["idle_cpu_percent"] = 100 * used / args.idle
            results["idle_rss_mib"] = proc.memory_info().rss / 2**20
            results["idle_events_posted"] = (
                len(bench.core.list_namespaced_event("bench").items) - writes_before
            )
            log(
                f"idle with {args.apps} Apps: CPU {results['idle_cpu_percent']:.2f}% "
                f"RSS {results['idle_rss_mib']:.0f} MiB"
            )
            for i in range(args.apps):
                bench.delete(f"kb-idle-{i:03d}")
            wait_for(
                "idle Apps deleted",
                lambda: all(bench.get(f"kb-idle-{i:03d}") is None for i in range(args.apps)),
            )
    finally:
        if operator is not None:
            operator.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                operator.wait(30)
        sweep(client)
        shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median
    print("| step | median | runs |\n|---|---|---|")
    print(
        f"| App of {args.services} services: create through the API -> status Ready "
        f"| {med(results['apply_to_ready_k8s']):.2f} s "
        f"| {', '.join(f'{t:.2f}' for t in results['apply_to_ready_k8s'])} |"
    )
    print(
        f"| same spec: `dockyard apply -f` (CLI process, start to exit) "
        f"| {med(results['dockyard_apply']):.2f} s "
        f"| {', '.join(f'{t:.2f}' for t in results['dockyard_apply'])} |"
    )
    print(f"| {args.apps} Apps created -> all Ready | {results['apps_ready_seconds']:.1f} s | 1 |")
    print(
        f"| operator idle with {args.apps} Apps, over {args.idle:.0f} s: CPU "
        f"| {results['idle_cpu_percent']:.2f} % | 1 |"
    )
    print(f"| operator idle RSS | {results['idle_rss_mib']:.0f} MiB | 1 |")
    print(f"| Events posted while idle | {results['idle_events_posted']} | 1 |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
