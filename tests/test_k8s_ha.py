"""Operators come and go: a restarted operator adopts what runs; of two replicas one is
active, and when it is killed the other takes over without touching running containers."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from cleanup import remove_app
from helpers import APP_LABEL, unique_name
from k8s_fixtures import Cluster, Operator, condition
from test_k8s_operator import app_body, service
from waiting import wait_until

pytestmark = pytest.mark.engine

LEASE = "dockyard-operator"


@pytest.fixture
def apps(k8s: Cluster, docker_client: DockerClient) -> Iterator[list[tuple[str, str]]]:
    """(namespace, name) of Apps made by a test: deleted (while an operator still runs)
    and swept afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for ns, name in made:
        if k8s.get(ns, name) is not None:
            k8s.delete(ns, name)
    for ns, name in made:
        try:
            wait_until(lambda n=name, s=ns: k8s.get(s, n) is None, 20, what=f"App {name} deleted")
        finally:
            remove_app(docker_client, name)


def _ready(k8s: Cluster, ns: str, name: str, generation: int = 1) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (o := k8s.get(ns, name))
            and condition(o, "Ready").get("status") == "True"
            and (o.get("status") or {}).get("observedGeneration") == generation
            and o
        ),
        what=f"App {name} Ready at generation {generation}",
    )


def _container(docker_client: DockerClient, app: str) -> Any:
    (found,) = docker_client.containers.list(all=True, filters={"label": f"{APP_LABEL}={app}"})
    return found


def _applied(op: Operator, app: str) -> bool:
    return f"app {app}: applying" in op.text()


def test_restarted_operator_adopts_running_apps(
    k8s: Cluster,
    start_operator: Callable[..., Operator],
    apps: list[tuple[str, str]],
    docker_client: DockerClient,
    tmp_path: Path,
) -> None:
    ns = k8s.namespace("dy-restart")
    first = start_operator(ns, LEASE)
    old = unique_name("k8s")
    apps.append((ns, old))
    k8s.create(ns, app_body(old, service("web")))
    _ready(k8s, ns, old)
    before = _container(docker_client, old)
    assert first.stop() == 0  # SIGTERM: a clean stop; containers keep running
    assert _container(docker_client, old).status == "running"

    # A new operator with no state of its own (a new pod): it adopts from the labels.
    second = start_operator(ns, LEASE, state_dir=tmp_path / "fresh")
    new = unique_name("k8s")
    apps.append((ns, new))
    k8s.create(ns, app_body(new, service("web")))
    _ready(k8s, ns, new)
    after = _container(docker_client, old)
    assert after.id == before.id
    assert after.attrs["State"]["StartedAt"] == before.attrs["State"]["StartedAt"]
    assert not _applied(second, old)
    # And it carries on: an edit of the adopted App is rolled out.
    k8s.patch_spec(ns, old, {"services": [service("web", env=[{"name": "V", "value": "2"}])]})
    _ready(k8s, ns, old, generation=2)
    assert "V=2" in _container(docker_client, old).attrs["Config"]["Env"]


def test_two_replicas_one_active_and_the_standby_takes_over(
    k8s: Cluster,
    start_operator: Callable[..., Operator],
    apps: list[tuple[str, str]],
    docker_client: DockerClient,
) -> None:
    ns = k8s.namespace("dy-ha")
    leader = start_operator(ns, LEASE)
    standby = start_operator(ns, LEASE, wait_active=False)
    standby.wait_log(r"standing by; \S+ holds lease")
    first = unique_name("k8s")
    apps.append((ns, first))
    k8s.create(ns, app_body(first, service("web")))
    _ready(k8s, ns, first)
    assert _applied(leader, first) and not _applied(standby, first)
    assert "is active" not in standby.text()
    before = _container(docker_client, first)
    lease = k8s.coordination.read_namespaced_lease(LEASE, ns)
    assert lease.spec.holder_identity == leader.identity

    killed = time.monotonic()
    leader.stop(signal.SIGKILL)  # no release of the Lease: the standby waits it out
    standby.wait_log(r"operator \S+ is active", timeout=20)
    takeover = time.monotonic() - killed
    print(f"standby active {takeover:.1f}s after the leader was killed")  # shown with -s
    # Bounded by the lease duration (3s here) plus one retry (1s), with slack for a busy CI.
    assert takeover < 3 + 1 + 6, takeover
    lease = k8s.coordination.read_namespaced_lease(LEASE, ns)
    assert lease.spec.holder_identity == standby.identity

    second = unique_name("k8s")
    apps.append((ns, second))
    k8s.create(ns, app_body(second, service("web")))
    _ready(k8s, ns, second)
    # Nothing of the first App was touched twice.
    after = _container(docker_client, first)
    assert after.id == before.id
    assert after.attrs["State"]["StartedAt"] == before.attrs["State"]["StartedAt"]
    assert not _applied(standby, first)


def test_a_leader_that_loses_its_lease_stops_at_once(
    k8s: Cluster, start_operator: Callable[..., Operator]
) -> None:
    ns = k8s.namespace("dy-lost")
    op = start_operator(ns, LEASE)
    # Another replica takes the Lease (as after a network partition that outlasted it).
    lease = k8s.coordination.read_namespaced_lease(LEASE, ns)
    lease.spec.holder_identity = "someone-else"
    k8s.coordination.replace_namespaced_lease(LEASE, ns, lease)
    wait_until(lambda: op.proc.poll() is not None, timeout=15, what="the operator to exit")
    assert op.proc.returncode == 1  # restarted by Kubernetes, as a standby
    assert "leadership lost: stopping" in op.text()
    lease = k8s.coordination.read_namespaced_lease(LEASE, ns)
    assert lease.spec.holder_identity == "someone-else"  # not released: it was not ours


def test_same_app_name_in_two_namespaces_is_a_conflict(
    k8s: Cluster,
    start_operator: Callable[..., Operator],
    apps: list[tuple[str, str]],
    docker_client: DockerClient,
) -> None:
    first, second = k8s.namespace("dy-a"), k8s.namespace("dy-b")
    start_operator(first, LEASE, extra=("--namespace", second))
    name = unique_name("k8s")
    apps.extend([(first, name), (second, name)])
    k8s.create(first, app_body(name, service("web")))
    _ready(k8s, first, name)
    k8s.create(second, app_body(name, service("web", env=[{"name": "X", "value": "1"}])))
    obj = wait_until(
        lambda: (
            condition(k8s.get(second, name), "Degraded").get("reason") == "NameConflict"
            and k8s.get(second, name)
        ),
        what="the second App in conflict",
    )
    assert first in condition(obj, "Degraded")["message"]
    # The first one runs on, untouched by the second's spec.
    container = _container(docker_client, name)
    assert "X=1" not in container.attrs["Config"]["Env"]
    assert condition(k8s.get(first, name), "Ready")["status"] == "True"


def test_an_app_invalid_across_a_restart_is_left_running_until_deleted(
    k8s: Cluster,
    start_operator: Callable[..., Operator],
    apps: list[tuple[str, str]],
    docker_client: DockerClient,
    tmp_path: Path,
) -> None:
    ns = k8s.namespace("dy-held")
    state = tmp_path / "state"  # kept across the restart: the operator knows it owned it
    first = start_operator(ns, LEASE, state_dir=state)
    name = unique_name("k8s")
    apps.append((ns, name))
    k8s.create(ns, app_body(name, service("web")))
    _ready(k8s, ns, name)
    before = _container(docker_client, name)
    first.stop()
    # Broken while no operator ran: the next one never saw a valid spec of it.
    k8s.patch_spec(ns, name, {"services": [service("web", dependsOn=[{"service": "nope"}])]})
    second = start_operator(ns, LEASE, state_dir=state)
    wait_until(
        lambda: (
            (o := k8s.get(ns, name))
            and condition(o, "Degraded").get("reason") == "InvalidSpec"
            and o["status"].get("observedGeneration") == 2
        ),
        what="InvalidSpec at generation 2",
    )
    # Not pruned as an orphan: the typo does not take the app down.
    assert _container(docker_client, name).id == before.id
    assert "left as they are" in second.text()
    # Deleting it still removes its containers (through the finalizer).
    k8s.delete(ns, name)
    wait_until(lambda: k8s.get(ns, name) is None, what=f"App {name} gone")
    assert docker_client.containers.list(all=True, filters={"label": f"{APP_LABEL}={name}"}) == []
