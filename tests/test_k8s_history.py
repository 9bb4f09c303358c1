"""The operator keeps each App's revision history in the cluster (issue 16): a ConfigMap
beside the App, so an operator with an empty state folder and new hosts (the history
volumes on the engine are gone) has the revisions and honours the pin."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
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
def app(k8s: Cluster, docker_client: DockerClient) -> Iterator[str]:
    name = unique_name("k8s")
    yield name
    remove_app(docker_client, name)


def _control(op: Operator, state: Path, path: str, method: str = "GET") -> tuple[int, Any]:
    token = (state / "control.token").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{op.port}{path}",
        method=method,
        data=b"" if method == "POST" else None,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _env(docker_client: DockerClient, app: str) -> list[str]:
    (found,) = docker_client.containers.list(all=True, filters={"label": f"{APP_LABEL}={app}"})
    return list(found.attrs["Config"]["Env"])


def _ready(k8s: Cluster, ns: str, name: str, generation: int) -> None:
    wait_until(
        lambda: (
            (o := k8s.get(ns, name))
            and condition(o, "Ready").get("status") == "True"
            and (o.get("status") or {}).get("observedGeneration") == generation
        ),
        what=f"App {name} Ready at generation {generation}",
    )


def _config_map(k8s: Cluster, ns: str, name: str) -> Any:
    from kubernetes.client.exceptions import ApiException

    try:
        return k8s.core.read_namespaced_config_map(f"dockyard-history-{name}", ns)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _web(version: str) -> dict[str, Any]:
    return service("web", env=[{"name": "V", "value": version}], secrets=[{"name": "token"}])


def test_a_new_operator_with_new_state_and_hosts_has_the_history_and_the_pin(
    k8s: Cluster,
    start_operator: Callable[..., Operator],
    docker_client: DockerClient,
    app: str,
    tmp_path: Path,
) -> None:
    ns = k8s.namespace("dy-hist")
    value = "s3cr3t-" + unique_name("v")
    k8s.core.create_namespaced_secret(
        ns, {"metadata": {"name": f"{app}-creds"}, "stringData": {"token": value}}
    )
    secrets = [{"name": "token", "kubernetesSecret": {"name": f"{app}-creds", "key": "token"}}]
    state = tmp_path / "first"
    first = start_operator(ns, LEASE, state_dir=state)
    k8s.create(ns, app_body(app, _web("1"), secrets=secrets))
    _ready(k8s, ns, app, 1)
    k8s.patch_spec(ns, app, {"services": [_web("2")], "secrets": secrets})
    _ready(k8s, ns, app, 2)
    code, said = _control(first, state, f"/rollback/{app}?to=1", "POST")
    assert code == 200, said
    wait_until(lambda: "V=1" in _env(docker_client, app), what="the rollback to revision 1")

    def pinned() -> Any:
        cm = _config_map(k8s, ns, app)
        record = json.loads(cm.data["history.json"]) if cm is not None else {}
        return (record.get("pin") or {}).get("revision") == 1 and cm

    cm = wait_until(pinned, what="the pin in the App's ConfigMap")
    owner = k8s.get(ns, app)
    assert owner is not None
    (ref,) = cm.metadata.owner_references
    assert (ref.kind, ref.name, ref.uid) == ("App", app, owner["metadata"]["uid"])
    assert ref.api_version == "dockyard.dev/v1alpha1"
    assert cm.metadata.labels["dockyard.dev/history"] == app
    assert value not in json.dumps(cm.data)  # the secret by reference only
    assert first.stop() == 0

    # New hosts: nothing of the app, its history volume included, is left on the engine.
    remove_app(docker_client, app)
    fresh = tmp_path / "second"
    second = start_operator(ns, LEASE, state_dir=fresh)
    second.wait_log(rf"app {app}: history read from the cluster")
    # The pin holds: revision 1 runs, not the App's spec (V=2), and nothing is retried.
    wait_until(
        lambda: (
            docker_client.containers.list(filters={"label": f"{APP_LABEL}={app}"})
            and "V=1" in _env(docker_client, app)
        ),
        what="revision 1 running again",
    )
    code, history = _control(second, fresh, f"/history/{app}")
    assert code == 200, history
    assert [r["revision"] for r in history["revisions"]][:2] == [1, 2]
    assert history["pin"]["revision"] == 1
    assert "V=2" not in _env(docker_client, app)
    assert value not in second.text()
    k8s.delete(ns, app)  # while an operator runs: its finalizer removes the containers
    wait_until(lambda: k8s.get(ns, app) is None, what=f"App {app} deleted")
    assert second.stop() == 0
