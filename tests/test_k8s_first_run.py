"""`dockyard operator` on a cluster that has only the CRDs (as `kopf run` users start):
the Lease lives in the operator's own namespace, `--no-leader-election` needs none, and
an API error is one line that says what to do, logged once."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient
from kubernetes.client.exceptions import ApiException

from cleanup import remove_app
from dockyard.sources.kubernetes.options import OperatorOptions
from helpers import DOCKYARD, unique_name
from k8s_fixtures import CACHE, Cluster, Operator, condition
from test_k8s_operator import app_body, service
from waiting import wait_until

pytestmark = pytest.mark.engine


@pytest.fixture
def launch(
    k8s: Cluster, tmp_path: Path, docker_client: DockerClient
) -> Iterator[Callable[..., Operator]]:
    """Start `dockyard operator` watching one namespace, with no --lease-namespace (unlike
    the shared fixture) and only the environment given; stopped at the end, after the
    Apps it reconciled are deleted."""
    started: list[tuple[Operator, str]] = []

    def start(watch: str, *extra: str, env: dict[str, str] | None = None) -> Operator:
        identity = unique_name("op")
        (CACHE / "k8s-logs").mkdir(parents=True, exist_ok=True)
        log = CACHE / "k8s-logs" / f"{identity}.log"
        args = [
            str(DOCKYARD),
            "operator",
            "--namespace",
            watch,
            "--kubeconfig",
            str(k8s.kubeconfig),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp_path / identity),
            "--identity",
            identity,
            "--lease-duration",
            "3s",
            "--lease-renew",
            "1s",
            *extra,
        ]
        environ = {k: v for k, v in os.environ.items() if k not in ("POD_NAMESPACE", "POD_NAME")}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env={**environ, **(env or {})}
            )
        op = Operator(proc, log, identity)
        started.append((op, watch))
        return op

    yield start
    for op, watch in started:
        if op.proc.poll() is None:
            for app in k8s.custom.list_namespaced_custom_object(
                "dockyard.dev", "v1alpha1", watch, "apps"
            )["items"]:
                name = app["metadata"]["name"]
                k8s.delete(watch, name)
                try:
                    wait_until(
                        lambda n=name, w=watch: k8s.get(w, n) is None,
                        20,
                        what=f"App {name} deleted",
                    )
                finally:
                    remove_app(docker_client, name)
        op.stop()


def _leases(k8s: Cluster, name: str) -> list[Any]:
    found = k8s.coordination.list_lease_for_all_namespaces().items
    return [lease for lease in found if lease.metadata.name == name]


def _reconciles_an_app(k8s: Cluster, op: Operator, ns: str) -> None:
    op.wait_log(r"operator \S+ is active")
    name = unique_name("k8s")
    k8s.create(ns, app_body(name, service("web")))
    wait_until(
        lambda: condition(k8s.get(ns, name), "Ready").get("status") == "True",
        timeout=60,
        what=f"App {name} Ready",
    )


def test_the_cluster_has_no_dockyard_system_namespace(k8s: Cluster) -> None:
    """What the tests below rely on: only the CRDs, as `kopf run` users have."""
    with pytest.raises(ApiException) as missing:
        k8s.core.read_namespace("dockyard-system")
    assert missing.value.status == 404


def test_lease_lives_in_the_operators_own_namespace(
    k8s: Cluster, launch: Callable[..., Operator]
) -> None:
    watched, home = k8s.namespace("dy-first"), k8s.namespace("dy-home")
    lease = unique_name("lease")
    op = launch(watched, "--lease-name", lease, env={"POD_NAMESPACE": home})
    _reconciles_an_app(k8s, op, watched)
    assert f"lease {home}/{lease} (namespace from POD_NAMESPACE)" in op.text()
    (held,) = _leases(k8s, lease)
    assert held.metadata.namespace == home
    assert held.spec.holder_identity == op.identity


def test_without_pod_namespace_the_lease_is_in_the_watched_namespace(
    k8s: Cluster, launch: Callable[..., Operator]
) -> None:
    watched = k8s.namespace("dy-first")
    lease = unique_name("lease")
    op = launch(watched, "--lease-name", lease)
    op.wait_log(r"operator \S+ is active")
    (held,) = _leases(k8s, lease)
    assert held.metadata.namespace == watched
    assert "(namespace from --namespace)" in op.text()


def test_lease_namespace_is_the_operators_own(tmp_path: Path) -> None:
    """The order of `lease_home`: flag, POD_NAMESPACE, service account, --namespace, default."""
    sa = tmp_path / "namespace"
    none = tmp_path / "absent"
    watching = OperatorOptions(namespaces=["shop", "web"])
    assert OperatorOptions().lease_home({}, none) == ("default", "nothing else given")
    assert watching.lease_home({}, none) == ("shop", "--namespace")
    sa.write_text("ops\n")
    assert watching.lease_home({}, sa) == ("ops", "the service account's namespace")
    assert watching.lease_home({"POD_NAMESPACE": "pod"}, sa) == ("pod", "POD_NAMESPACE")
    flagged = OperatorOptions(lease_namespace="mine")
    assert flagged.lease_home({"POD_NAMESPACE": "pod"}, sa) == ("mine", "--lease-namespace")
    from_env = OperatorOptions.from_env({"POD_NAMESPACE": "pod"})
    assert from_env.lease_home({"POD_NAMESPACE": "pod"}, none) == ("pod", "POD_NAMESPACE")


def test_no_leader_election_reconciles_without_a_lease(
    k8s: Cluster, launch: Callable[..., Operator]
) -> None:
    watched = k8s.namespace("dy-single")
    lease = unique_name("lease")
    op = launch(watched, "--lease-name", lease, "--no-leader-election")
    _reconciles_an_app(k8s, op, watched)
    assert "leader election is off" in op.text()
    assert _leases(k8s, lease) == []
    assert k8s.coordination.list_namespaced_lease(watched).items == []


def test_a_missing_lease_namespace_is_one_line_that_says_what_to_do(
    k8s: Cluster, launch: Callable[..., Operator]
) -> None:
    watched = k8s.namespace("dy-nolease")
    missing = unique_name("dy-absent")
    op = launch(watched, "--lease-namespace", missing)
    line = op.wait_log(r"ERROR .*\n").group(0)
    assert f"namespace {missing} does not exist: kubectl create namespace {missing}" in line
    assert "--no-leader-election" in line
    # The operator keeps retrying, quietly: a bounded wait over several retries (backoff
    # 1s, 2s, 4s) adds no line, and no holder is claimed while nobody holds the Lease.
    time.sleep(5)
    text = op.text()
    assert text.count("leader election:") == 2, text  # "lease …/… (namespace from …)" + error
    assert "standing by" not in text and "? holds" not in text, text
    assert "HTTP response" not in text and "Traceback" not in text, text
    # Once the namespace exists, the next retry takes the Lease.
    k8s.core.create_namespace({"metadata": {"name": missing}})
    k8s.namespaces.append(missing)
    op.wait_log(r"operator \S+ is active", timeout=20)
    held = k8s.coordination.read_namespaced_lease("dockyard-operator", missing)
    assert held.spec.holder_identity == op.identity
