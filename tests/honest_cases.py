"""The failures of the honest-outcomes matrix (issue 16), shared by tests/test_honest_*.py.

Each failure is injected for real: an image that is not there (pullPolicy Never), a port a
listener of the test holds, a healthcheck that fails, a container that exits non-zero, a
host whose dockerd is stopped, a dockerd restarted while an apply waits on health, a secret
whose file or variable does not exist, a disk that is full when a volume is created on it.
The entry points (apply, the controller, the operator, an agent) each have their own file;
what they share is here: the services, the test hosts and the words the user sees.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors

from engine_instance import PrivateEngine
from helpers import BASE_IMAGE, TEST_LABELS
from waiting import wait_until

FAILURES = (
    "image-missing",
    "port-taken",
    "healthcheck-failing",
    "container-exiting",
    "host-dark",
    "engine-restarting",
    "secret-missing",
    "disk-full",
)

#: Failures injected on a test host of their own (a PrivateEngine), not the main engine.
ON_TEST_HOST = {"host-dark", "engine-restarting", "disk-full"}

MISSING_IMAGE = "dockyard.local/no-such-image:honest"
SECRET_VALUE = "s3cret-honest-value"  # never in any output


def svc(name: str = "web", command: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """A busybox service that stops at once; labelled dev.dockyard.test."""
    body: dict[str, Any] = {
        "name": name,
        "image": BASE_IMAGE,
        "pullPolicy": "Never",
        "command": command or ["sleep", "3600"],
        "init": True,
        "stopGracePeriod": "1s",
        "labels": dict(TEST_LABELS),
    }
    body.update(fields)
    return body


def failing_spec(failure: str, port: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(services, extra spec fields) of an app that meets `failure`; `port` is the one a
    listener of the test holds (port-taken)."""
    if failure == "image-missing":
        return [svc(image=MISSING_IMAGE)], {}
    if failure == "port-taken":
        ports = [{"target": 80, "published": port, "hostIP": "127.0.0.1"}]
        return [svc(command=["httpd", "-f", "-p", "80"], ports=ports)], {}
    if failure == "healthcheck-failing":
        check = {"test": ["CMD", "false"], "interval": "1s", "timeout": "1s", "retries": 1}
        return [svc(healthcheck=check)], {}
    if failure == "container-exiting":
        return [svc(command=["sh", "-c", "exit 3"], restart="no")], {}
    if failure in ("host-dark", "engine-restarting"):
        return slow_services(), {}
    if failure == "secret-missing":
        secrets = [{"name": "token", "file": "no-such-token.txt"}]
        return [svc(secrets=[{"name": "token"}])], {"secrets": secrets}
    if failure == "disk-full":
        mounts = [{"volume": "data", "mountPath": "/data"}]
        return [svc(volumeMounts=mounts, networkMode="none")], {"volumes": [{"name": "data"}]}
    raise AssertionError(failure)


def slow_services() -> list[dict[str, Any]]:
    """db becomes healthy after 3 s; web waits for it: an apply that takes a while."""
    check = {"test": ["CMD", "test", "-f", "/ok"], "interval": "1s", "timeout": "1s"}
    check["retries"] = 30
    db = svc("db", ["sh", "-c", "sleep 3; touch /ok; exec sleep 3600"], healthcheck=check)
    web = svc("web", dependsOn=[{"service": "db", "condition": "healthy"}])
    return [{**s, "networkMode": "none", "restart": "always"} for s in (db, web)]


@contextlib.contextmanager
def port_held() -> Iterator[int]:
    """A port on 127.0.0.1 that a listener of the test holds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def failure_host(failure: str) -> Iterator[PrivateEngine]:
    """A test host with the base image, prepared for `failure`: for disk-full its small
    disk is filled up (by a volume of the test's own); for host-dark its daemon is stopped
    by the caller when it wants."""
    engine = PrivateEngine(disk_mb=32 if failure == "disk-full" else 0, prefix="honest")
    try:
        engine.start()
        engine.load_base_image()
        if failure == "disk-full":
            fill_disk(engine)
        yield engine
    finally:
        engine.destroy()


def fill_disk(engine: PrivateEngine) -> None:
    """Fill the test host's data root to the last block, from the machine itself."""
    fill = engine.dir / "data" / "filler"
    engine.run_inside(["dd", "if=/dev/zero", f"of={fill}", "bs=4k"], check=False)
    left = engine.run_inside(["df", "--output=avail", str(engine.dir / "data")]).stdout.split()
    assert left[-1] == "0", f"the disk of {engine.id} is not full: {left}"


def wait_running(engine: PrivateEngine, name: str, timeout: float = 60) -> None:
    """Until container `name` runs on `engine` (the apply is then waiting on its health)."""
    client = docker.DockerClient(base_url=engine.url, timeout=10)
    try:
        wait_until(
            lambda: client.containers.get(name).status == "running",
            timeout,
            interval=0.1,
            what=f"{name} running on {engine.id}",
        )
    finally:
        client.close()


def host_doc(name: str, engine: PrivateEngine, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "DockerHost",
        "metadata": {"name": name, "labels": {"honest": name, **labels}},
        "spec": {"url": engine.url},
    }


def placed_on(host: str) -> dict[str, Any]:
    """The spec field that puts every replica on DockerHost `host` (see host_doc)."""
    return {"placement": {"hostSelector": {"matchLabels": {"honest": host}}}}
