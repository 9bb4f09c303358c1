"""A real Kubernetes API server for the operator tests, and operators to run against it.

`k8sx-apiserver` (the real apiextensions-apiserver plus core namespaces, secrets,
events and leases; from ../shared/k8s, see its README) on Debian's etcd, started once
per session on free loopback ports, with dockyard's CRDs from crds/ installed.
Operators are real `dockyard operator` processes, each watching its own namespace so
that several can run at once without touching each other's Apps.

Loaded as a pytest plugin (tests/conftest.py), so every tests/test_k8s_*.py shares them.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import DOCKYARD, REPO_ROOT, free_port, unique_name
from waiting import TIMEOUT, GiveUp, wait_until

SHARED_K8S = Path(os.environ.get("DOCKYARD_K8SX_DIR", REPO_ROOT.parent / "shared" / "k8s"))
CACHE = REPO_ROOT / ".cache"
GROUP, VERSION = "dockyard.dev", "v1alpha1"


def _apiserver_binary() -> Path:
    """Decompress k8sx-apiserver into .cache/ (never into shared/), checked against SHA256SUMS."""
    packed = SHARED_K8S / "k8sx-apiserver.xz"
    if not packed.is_file():
        pytest.skip(f"no {packed}: the Kubernetes API server for tests is not provided here")
    sums = (SHARED_K8S / "SHA256SUMS").read_text().split()
    want = sums[sums.index("k8sx-apiserver") - 1] if "k8sx-apiserver" in sums else None
    binary = CACHE / "k8sx-apiserver"

    def digest() -> str:
        return hashlib.sha256(binary.read_bytes()).hexdigest()

    if not binary.is_file() or (want is not None and digest() != want):
        CACHE.mkdir(exist_ok=True)
        part = binary.with_suffix(".part")
        with lzma.open(packed) as src, part.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        part.chmod(0o755)
        part.replace(binary)
        if want is not None and digest() != want:
            pytest.fail(f"{binary} does not match {SHARED_K8S / 'SHA256SUMS'}")
    return binary


@dataclass
class Cluster:
    kubeconfig: Path
    core: Any
    custom: Any
    coordination: Any
    apiext: Any
    namespaces: list[str] = field(default_factory=list)

    def namespace(self, prefix: str = "dy") -> str:
        name = unique_name(prefix)
        self.core.create_namespace({"metadata": {"name": name}})
        self.namespaces.append(name)
        return name

    # Apps and DockerHosts as plain dicts.
    def create(self, namespace: str, body: dict[str, Any], plural: str = "apps") -> Any:
        # Strict, as `kubectl apply` (1.27+) asks: unknown fields are errors, not pruned.
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, body, field_validation="Strict"
        )

    def get(self, namespace: str, name: str, plural: str = "apps") -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def patch_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> Any:
        return self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "apps", name, {"spec": spec}
        )

    def delete(self, namespace: str, name: str, plural: str = "apps") -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

    def events(self, namespace: str, name: str) -> list[Any]:
        found = self.core.list_namespaced_event(namespace).items
        return [e for e in found if e.involved_object.name == name]


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


@pytest.fixture(scope="session")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The API server + etcd for the session, with the CRDs from crds/ established."""
    binary = _apiserver_binary()
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(etcd).exists():
        pytest.fail("etcd is missing: run scripts/ensure-deps.sh (Debian package etcd-server)")
    state = tmp_path_factory.mktemp("k8sx")
    env = {
        **os.environ,
        "K8SX_APISERVER": str(binary),
        "ETCD": etcd,
        "K8SX_PORT": str(free_port()),
        "K8SX_ETCD_PORT": str(free_port(10)),
    }
    up = subprocess.run(
        ["bash", str(SHARED_K8S / "k8sx-up"), str(state)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        if up.returncode != 0:
            pytest.fail(f"k8sx-up failed: {up.stdout}{up.stderr}")
        kubeconfig = state / "kubeconfig"
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig))
        cluster = Cluster(
            kubeconfig,
            client.CoreV1Api(api),
            client.CustomObjectsApi(api),
            client.CoordinationV1Api(api),
            client.ApiextensionsV1Api(api),
        )
        for file in sorted((REPO_ROOT / "crds").glob("*.yaml")):
            cluster.apiext.create_custom_resource_definition(yaml.safe_load(file.read_text()))
        for file in sorted((REPO_ROOT / "crds").glob("*.yaml")):
            name = yaml.safe_load(file.read_text())["metadata"]["name"]
            wait_until(
                lambda n=name: any(
                    c.type == "Established" and c.status == "True"
                    for c in (cluster.apiext.read_custom_resource_definition(n).status.conditions)
                    or []
                ),
                what=f"CRD {name} established",
            )
        yield cluster
        api.close()
    finally:
        subprocess.run(["bash", str(SHARED_K8S / "k8sx-down"), str(state)], timeout=60, check=False)


@dataclass
class Operator:
    """One `dockyard operator` process."""

    proc: subprocess.Popen[bytes]
    log: Path
    identity: str
    port: int | None = None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            if self.proc.poll() is not None:
                raise GiveUp(f"operator exited {self.proc.returncode}:\n{self.text()}")
            return re.search(pattern, self.text())

        match = wait_until(found, timeout, what=f"{pattern!r} in the operator log")
        assert match is not None
        return match

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture(scope="session")
def start_operator(
    k8s: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Operator]]:
    """Start `dockyard operator` processes (watching one namespace); all stopped at the end."""
    started: list[Operator] = []

    def start(
        namespace: str,
        lease: str,
        identity: str | None = None,
        state_dir: Path | None = None,
        wait_active: bool = True,
        extra: tuple[str, ...] = (),
    ) -> Operator:
        identity = identity or unique_name("op")
        folder = tmp_path_factory.mktemp(identity)
        # Logs outlive pytest's rotation of temporary folders: read them after a failure.
        (CACHE / "k8s-logs").mkdir(parents=True, exist_ok=True)
        log = CACHE / "k8s-logs" / f"{identity}.log"
        args = [
            str(DOCKYARD),
            "operator",
            "--namespace",
            namespace,
            "--kubeconfig",
            str(k8s.kubeconfig),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(state_dir or folder / "state"),
            "--lease-namespace",
            namespace,
            "--lease-name",
            lease,
            "--lease-duration",
            "3s",
            "--lease-renew",
            "1s",
            "--identity",
            identity,
            "--host-probe-interval",
            "1s",
            "--resync",
            "30s",
            *extra,
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        op = Operator(proc, log, identity)
        started.append(op)
        found = op.wait_log(r"serving /healthz .* on http://127\.0\.0\.1:(\d+)")
        op.port = int(found.group(1))
        if wait_active:
            op.wait_log(r"operator \S+ is active")
        return op

    yield start
    for op in started:
        op.stop()
