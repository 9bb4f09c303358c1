"""Honest outcomes, the operator (issue 16): each failure of tests/honest_cases.py in an App
reconciled by a real `dockyard operator` against a real API server ends in the App's
.status with Degraded=True, the reason and its words, and Ready=False; never Ready.

- the test hosts (host-dark, engine-restarting, disk-full) are DockerHosts whose url is the
  test host's socket; host-dark's dockerd is stopped before the App is created;
- secret-missing: the App's secret is a kubernetesSecret that does not exist;
- engine-restarting: the host's dockerd is stopped while the App waits on its db's health,
  the App is Degraded, and once it is started again the App becomes Ready, honestly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from docker import DockerClient

import manifests
from cleanup import remove_app
from helpers import unique_name
from honest_cases import (
    FAILURES,
    MISSING_IMAGE,
    ON_TEST_HOST,
    SECRET_VALUE,
    failing_spec,
    failure_host,
    host_doc,
    placed_on,
    port_held,
    wait_running,
)
from k8s_fixtures import Cluster, Operator, condition
from waiting import wait_until

pytestmark = pytest.mark.engine

OPERATOR_SAYS = {
    "image-missing": ("OperationFailed", f"image {MISSING_IMAGE} is not on engine"),
    "port-taken": ("OperationFailed", "address already in use"),
    "healthcheck-failing": ("Unhealthy", "{app}-web-1 is unhealthy"),
    "container-exiting": ("ContainerFailed", "{app}-web-1 exited (exit code 3)"),
    "host-dark": ("HostUnreachable", "host {host} is unreachable"),
    "engine-restarting": ("HostUnreachable", "host {host} is unreachable"),
    "secret-missing": ("InvalidSpec", "{app}-missing"),
    "disk-full": ("OperationFailed", "no space left on device"),
}


@pytest.fixture(scope="module")
def ns(k8s: Cluster) -> str:
    return k8s.namespace("dy-honest")


@pytest.fixture(scope="module")
def operator(ns: str, start_operator: Callable[..., Operator]) -> Operator:
    return start_operator(ns, "dockyard-honest")


@pytest.fixture
def cleanup(k8s: Cluster, ns: str, docker_client: DockerClient) -> Iterator[list[tuple[str, str]]]:
    """(plural, name) of what a test created: deleted afterwards, Apps first."""
    made: list[tuple[str, str]] = []
    yield made
    for plural, name in sorted(made):  # apps before dockerhosts
        if k8s.get(ns, name, plural) is not None:
            k8s.delete(ns, name, plural)
    for plural, name in made:
        wait_until(lambda p=plural, n=name: k8s.get(ns, n, p) is None, what=f"{name} deleted")
        if plural == "apps":
            remove_app(docker_client, name)


@pytest.mark.parametrize("failure", FAILURES)
def test_operator_sets_degraded_with_the_reason_never_ready(
    failure: str, k8s: Cluster, ns: str, operator: Operator, cleanup: list[tuple[str, str]]
) -> None:
    app, host = unique_name("honest"), unique_name("host")
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(port_held()) if failure == "port-taken" else 0
        engine = stack.enter_context(failure_host(failure)) if failure in ON_TEST_HOST else None
        stack.callback(_delete_all, k8s, ns, cleanup)  # before the host goes
        services, spec = failing_spec(failure, port)
        if failure == "secret-missing":
            ref = {"name": f"{app}-missing", "key": "token"}
            spec["secrets"] = [{"name": "token", "kubernetesSecret": ref}]
        if engine is not None:
            if failure == "host-dark":
                engine.stop()
            cleanup.append(("dockerhosts", host))
            k8s.create(ns, host_doc(host, engine), "dockerhosts")
            spec.update(placed_on(host))
        cleanup.append(("apps", app))
        k8s.create(ns, manifests.app(app, services, **spec))
        if failure == "engine-restarting":
            assert engine is not None
            wait_running(engine, f"{app}-db-1")
            engine.stop()
        reason, words = OPERATOR_SAYS[failure]

        def degraded() -> dict[str, Any] | None:
            obj = k8s.get(ns, app)
            return obj if condition(obj, "Degraded").get("reason") == reason else None

        obj = wait_until(degraded, 90, what=f"App {app} Degraded {reason}")
        assert condition(obj, "Degraded")["status"] == "True"
        assert words.format(app=app, host=host) in condition(obj, "Degraded")["message"]
        assert condition(obj, "Ready")["status"] == "False"
        assert SECRET_VALUE not in str(obj)
        if failure == "engine-restarting":
            assert engine is not None
            engine.start()  # back: it becomes Ready, honestly
            wait_until(
                lambda: condition(k8s.get(ns, app), "Ready").get("status") == "True",
                90,
                what=f"App {app} Ready",
            )


def _delete_all(k8s: Cluster, ns: str, made: list[tuple[str, str]]) -> None:
    for plural, name in sorted(made):
        with contextlib.suppress(Exception):
            k8s.delete(ns, name, plural)
