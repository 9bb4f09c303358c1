"""The operator against a real API server and the real engine: Apps in, containers and
.status out. One operator serves this module, watching its own namespace."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import docker.errors
import pytest
from docker import DockerClient
from kubernetes.client.exceptions import ApiException

from cleanup import remove_app
from helpers import APP_LABEL, BASE_IMAGE, TEST_LABEL, free_port, unique_name
from k8s_fixtures import GROUP, VERSION, Cluster, Operator, condition
from waiting import wait_until

pytestmark = pytest.mark.engine


def service(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": BASE_IMAGE,
        "pullPolicy": "Never",
        "command": ["sleep", "3600"],
        "init": True,  # sleep as PID 1 ignores SIGTERM: stop at once
        "labels": {TEST_LABEL: "1"},
        **extra,
    }


def app_body(name: str, *services: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {"services": list(services), **spec},
    }


@pytest.fixture(scope="module")
def ns(k8s: Cluster) -> str:
    return k8s.namespace("dy-op")


@pytest.fixture(scope="module")
def operator(ns: str, start_operator: Callable[..., Operator]) -> Operator:
    return start_operator(ns, "dockyard-operator")


@pytest.fixture
def names(k8s: Cluster, ns: str, docker_client: DockerClient) -> Iterator[Callable[[], str]]:
    """Unique app names. Afterwards their Apps are deleted (the operator removes the
    containers, or it would repair them) and whatever is left is swept."""
    made: list[str] = []

    def make() -> str:
        made.append(unique_name("k8s"))
        return made[-1]

    yield make
    for name in made:
        if k8s.get(ns, name) is not None:
            k8s.delete(ns, name)
    for name in made:
        try:
            wait_until(
                lambda n=name: k8s.get(ns, n) is None, timeout=20, what=f"App {name} deleted"
            )
        finally:
            remove_app(docker_client, name)


def ready(k8s: Cluster, ns: str, name: str, generation: int | None = None) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = k8s.get(ns, name)
        if obj is None or condition(obj, "Ready").get("status") != "True":
            return None
        want = generation or obj["metadata"]["generation"]
        return obj if obj["status"].get("observedGeneration") == want else None

    return wait_until(check, what=f"App {name} Ready")


def containers(docker_client: DockerClient, app: str) -> list[Any]:
    return docker_client.containers.list(all=True, filters={"label": f"{APP_LABEL}={app}"})


def test_apply_then_edit_converges_and_generation_is_observed(
    k8s: Cluster, ns: str, operator: Operator, names: Callable[[], str], docker_client: DockerClient
) -> None:
    name = names()
    k8s.create(ns, app_body(name, service("web", env=[{"name": "COLOR", "value": "blue"}])))
    obj = ready(k8s, ns, name)
    assert obj["status"]["observedGeneration"] == 1
    assert obj["status"]["ready"] == "1/1"
    assert obj["status"]["hosts"] == "local"
    (web,) = containers(docker_client, name)
    assert web.status == "running"
    assert "COLOR=blue" in web.attrs["Config"]["Env"]
    # The finalizer that holds a deletion until the containers are gone.
    assert "dockyard.dev/finalizer" in obj["metadata"]["finalizers"]

    k8s.patch_spec(
        ns, name, {"services": [service("web", env=[{"name": "COLOR", "value": "green"}])]}
    )
    obj = ready(k8s, ns, name, generation=2)
    (web,) = [c for c in containers(docker_client, name) if c.status == "running"]
    assert "COLOR=green" in web.attrs["Config"]["Env"]
    reasons = {e.reason for e in k8s.events(ns, name)}
    assert {"Applying", "Ready"} <= reasons, reasons

    # Drift on the host is repaired with no change to the App.
    web.remove(force=True)
    wait_until(
        lambda: [c for c in containers(docker_client, name) if c.status == "running"],
        what="the removed container to come back",
    )
    wait_until(
        lambda: ((k8s.get(ns, name) or {}).get("status") or {}).get("driftRepairs", 0) >= 1,
        what="the repair counted in status",
    )
    assert ready(k8s, ns, name, generation=2)["metadata"]["generation"] == 2


def test_invalid_app_is_rejected_by_the_schema(k8s: Cluster, ns: str, operator: Operator) -> None:
    body = app_body("k8s-bad-schema", service("web", replicas="three"))
    with pytest.raises(ApiException) as info:
        k8s.create(ns, body)
    assert info.value.status == 422
    assert "spec.services[0].replicas" in info.value.body
    body = app_body("k8s-bad-schema", service("web", colour="blue"))
    with pytest.raises(ApiException) as info:
        k8s.create(ns, body)  # with strict field validation (kubectl's default) an error
    assert 'unknown field \\"spec.services[0].colour\\"' in info.value.body, info.value.body
    assert k8s.get(ns, "k8s-bad-schema") is None
    body = app_body("k8s-bad-schema", service("web"), project="My_Stack")
    with pytest.raises(ApiException) as info:
        k8s.create(ns, body)  # a project Compose would refuse: the CRD's pattern says no
    assert info.value.status == 422
    assert "spec.project" in info.value.body, info.value.body


def test_app_with_a_project_runs_under_the_project_names(
    k8s: Cluster, ns: str, operator: Operator, names: Callable[[], str], docker_client: DockerClient
) -> None:
    name = names()
    project = name.replace("-", "_")  # k8s_3f9a1c: a Compose project name, no DNS label
    k8s.create(ns, app_body(name, service("web"), project=project))
    ready(k8s, ns, name)
    (c,) = containers(docker_client, name)
    assert c.name == f"{project}-web-1"
    assert c.labels["dev.dockyard.project"] == project
    assert docker_client.networks.get(f"{project}_default").attrs["Labels"][APP_LABEL] == name
    k8s.delete(ns, name)
    wait_until(lambda: not containers(docker_client, name), what="the containers removed")
    wait_until(
        lambda: not docker_client.networks.list(names=[f"{project}_default"]),
        what="the network removed",
    )


def test_invalid_app_is_rejected_by_dockyard_with_a_condition(
    k8s: Cluster, ns: str, operator: Operator, names: Callable[[], str], docker_client: DockerClient
) -> None:
    # Valid for the schema, not for dockyard: depends on a service that does not exist.
    bad = names()
    k8s.create(ns, app_body(bad, service("web", dependsOn=[{"service": "db"}])))
    degraded = wait_until(
        lambda: (
            condition(k8s.get(ns, bad), "Degraded").get("reason") == "InvalidSpec"
            and k8s.get(ns, bad)
        ),
        what="Degraded InvalidSpec",
    )
    message = condition(degraded, "Degraded")["message"]
    assert "dependsOn" in message and "db" in message, message
    assert condition(degraded, "Ready")["status"] == "False"
    assert containers(docker_client, bad) == []

    # A running App edited into an invalid one keeps its last good spec running.
    good = names()
    k8s.create(ns, app_body(good, service("web")))
    ready(k8s, ns, good)
    (before,) = containers(docker_client, good)
    k8s.patch_spec(ns, good, {"services": [service("web", image=None)]})
    obj = wait_until(
        lambda: (
            (o := k8s.get(ns, good))
            and o["status"].get("observedGeneration") == 2
            and condition(o, "Degraded").get("reason") == "InvalidSpec"
            and o
        ),
        what="generation 2 rejected",
    )
    assert "image" in condition(obj, "Degraded")["message"]
    assert condition(obj, "Ready")["status"] == "True"  # still running the last good spec
    (after,) = containers(docker_client, good)
    assert after.id == before.id and after.status == "running"
    assert "InvalidSpec" in {e.reason for e in k8s.events(ns, good)}


def test_delete_removes_containers_through_the_finalizer(
    k8s: Cluster, ns: str, operator: Operator, names: Callable[[], str], docker_client: DockerClient
) -> None:
    kept, dropped = names(), names()
    mount = {"volumeMounts": [{"volume": "data", "mountPath": "/data"}]}
    for name in (kept, dropped):
        body = app_body(name, service("web", **mount), volumes=[{"name": "data"}])
        if name == dropped:
            body["metadata"]["annotations"] = {"dockyard.dev/delete-volumes": "true"}
        k8s.create(ns, body)
    for name in (kept, dropped):
        ready(k8s, ns, name)
        k8s.delete(ns, name)
    for name in (kept, dropped):
        wait_until(lambda n=name: k8s.get(ns, n) is None, what=f"App {name} gone")
        assert containers(docker_client, name) == []

    def volumes(app: str) -> list[Any]:
        return docker_client.volumes.list(filters={"label": f"{APP_LABEL}={app}"})

    assert len(volumes(kept)) == 1  # named volumes stay unless the App asked
    assert volumes(dropped) == []


def test_secret_from_kubernetes_rolls_out_and_never_shows(
    k8s: Cluster, ns: str, operator: Operator, names: Callable[[], str], docker_client: DockerClient
) -> None:
    name = names()
    value, new_value = "s3cr3t-" + unique_name("v"), "n3w-" + unique_name("v")
    k8s.core.create_namespaced_secret(
        ns, {"metadata": {"name": f"{name}-creds"}, "stringData": {"token": value}}
    )
    k8s.create(
        ns,
        app_body(
            name,
            service("web", secrets=[{"name": "token"}]),
            secrets=[
                {"name": "token", "kubernetesSecret": {"name": f"{name}-creds", "key": "token"}}
            ],
        ),
    )
    ready(k8s, ns, name)

    def content() -> str:
        """The secret file of the one running container; "" while a rollout has two, or
        removes the one just listed (listed sparse: no inspect of each, which races)."""
        try:
            running = docker_client.containers.list(
                sparse=True, filters={"label": f"{APP_LABEL}={name}", "status": "running"}
            )
            if len(running) != 1:
                return ""
            code, out = running[0].exec_run(["cat", "/run/secrets/token"])
        except docker.errors.APIError:  # NotFound, or a 409 on one being stopped
            return ""
        return out.decode() if code == 0 else ""

    wait_until(lambda: content() == value, what="the secret value in the container")
    # A changed Secret is rolled out without any change to the App.
    k8s.core.patch_namespaced_secret(f"{name}-creds", ns, {"stringData": {"token": new_value}})
    wait_until(lambda: content() == new_value, what="the new secret value in the container")
    ready(k8s, ns, name)
    seen = str(k8s.get(ns, name)) + str([e.message for e in k8s.events(ns, name)])
    seen += operator.text()
    assert value not in seen and new_value not in seen

    # A reference to a missing key is dockyard's error, naming the Secret and key.
    other = names()
    k8s.create(
        ns,
        app_body(
            other,
            service("web"),
            secrets=[{"name": "x", "kubernetesSecret": {"name": f"{name}-creds", "key": "nope"}}],
        ),
    )
    obj = wait_until(
        lambda: (
            condition(k8s.get(ns, other), "Degraded").get("reason") == "InvalidSpec"
            and k8s.get(ns, other)
        ),
        what="missing key reported",
    )
    assert "'nope'" in condition(obj, "Degraded")["message"]


def test_unreachable_dockerhost_degrades_its_apps(
    k8s: Cluster, ns: str, operator: Operator, names: Callable[[], str]
) -> None:
    dark = names()
    port = free_port()  # nobody listens there
    k8s.create(
        ns,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DockerHost",
            "metadata": {"name": dark, "labels": {"zone": dark}},
            "spec": {"url": f"tcp://127.0.0.1:{port}", "insecure": True},
        },
        "dockerhosts",
    )
    host = wait_until(
        lambda: (
            (h := k8s.get(ns, dark, "dockerhosts"))
            and (h.get("status") or {}).get("reachable") is False
            and h
        ),
        what="DockerHost status",
    )
    assert condition(host, "Ready")["reason"] == "Unreachable"
    assert "connection refused" in host["status"]["error"]
    assert "Unreachable" in {e.reason for e in k8s.events(ns, dark)}

    app = names()
    k8s.create(
        ns,
        app_body(app, service("web"), placement={"hostSelector": {"matchLabels": {"zone": dark}}}),
    )
    obj = wait_until(
        lambda: (
            condition(k8s.get(ns, app), "Degraded").get("reason") == "HostUnreachable"
            and k8s.get(ns, app)
        ),
        what="App Degraded",
    )
    assert dark in condition(obj, "Degraded")["message"]
    assert condition(obj, "Ready")["status"] == "False"
    # Deleting the App waits for the dark host (its replicas there are unknown) until
    # the host leaves the inventory.
    k8s.delete(ns, app)
    k8s.delete(ns, dark, "dockerhosts")
    wait_until(lambda: k8s.get(ns, app) is None, what=f"App {app} gone")


def test_crds_are_accepted_with_columns_short_names_and_status(k8s: Cluster) -> None:
    """The server accepted crds/ as structural schemas; `kubectl get apps` shows the
    printer columns."""
    for name in ("apps.dockyard.dev", "dockerhosts.dockyard.dev"):
        crd = k8s.apiext.read_custom_resource_definition(name)
        conditions = {c.type: c.status for c in crd.status.conditions}
        assert conditions.get("Established") == "True", conditions
        assert conditions.get("NonStructuralSchema") != "True", conditions
    crd = k8s.apiext.read_custom_resource_definition("apps.dockyard.dev")
    version = crd.spec.versions[0]
    columns = [c.name for c in version.additional_printer_columns]
    assert columns == ["Ready", "Services", "Hosts", "Revision", "Age"]
    assert "dyapp" in crd.spec.names.short_names
    assert version.subresources.status is not None


def test_dockyard_crds_prints_the_files(tmp_path: Any) -> None:
    out = subprocess.run(
        [str(__import__("k8s_fixtures").DOCKYARD), "crds"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "name: apps.dockyard.dev" in out and "name: dockerhosts.dockyard.dev" in out


def test_dockerhost_tls_material_comes_from_a_secret(
    k8s: Cluster,
    ns: str,
    operator: Operator,
    names: Callable[[], str],
    tmp_path: Any,
) -> None:
    from engine_instance import PrivateEngine
    from tls_certs import issue, make_ca

    ca = make_ca(tmp_path, "k8s")
    client = issue(ca, tmp_path, "client", server=False)
    engine = PrivateEngine(tls=ca)
    engine.start()
    try:
        host, secret = names(), names()
        k8s.core.create_namespaced_secret(
            ns,
            {
                "metadata": {"name": secret},
                "stringData": {
                    "ca.crt": ca.cert.read_text(),
                    "tls.crt": client.cert.read_text(),
                    "tls.key": client.key.read_text(),
                },
            },
        )
        k8s.create(
            ns,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "DockerHost",
                "metadata": {"name": host},
                "spec": {"url": engine.tcp_url, "tls": {"secretRef": secret}},
            },
            "dockerhosts",
        )
        status = wait_until(
            lambda: (
                ((k8s.get(ns, host, "dockerhosts") or {}).get("status") or {}).get("reachable")
                and k8s.get(ns, host, "dockerhosts")["status"]
            ),
            what="the TLS host reachable",
        )
        assert status["engineVersion"]
        assert condition({"status": status}, "Ready")["reason"] == "Reachable"
        # The key is in a private file, and nowhere in the status or the log.
        key = client.key.read_text().strip().splitlines()[1]
        assert key not in str(status) and key not in operator.text()
        k8s.delete(ns, host, "dockerhosts")
    finally:
        engine.destroy()


def test_missing_crds_are_named_with_what_to_do(k8s: Cluster) -> None:
    import asyncio

    from dockyard.sources.kubernetes.api import KubeApi

    api = KubeApi(str(k8s.kubeconfig))
    try:
        with pytest.raises(RuntimeError, match=r"kubectl apply -f crds/"):
            asyncio.run(api.list_objects("gadgets"))
        assert asyncio.run(api.list_objects("apps", "no-such-namespace")) == []
    finally:
        api.close()
