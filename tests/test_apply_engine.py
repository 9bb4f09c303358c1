"""`dockyard apply` against a real Docker engine: what a user sees on the engine."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from docker import DockerClient

from controller_fixtures import ids
from dockyard_helpers import apply, plan
from helpers import BASE_IMAGE, TEST_LABELS, free_port
from manifests import write

pytestmark = pytest.mark.engine


def web_app(name: str, port: int, env: str = "one", replicas: int = 1) -> str:
    return f"""
    apiVersion: dockyard.dev/v1alpha1
    kind: App
    metadata: {{name: {name}}}
    spec:
      services:
        - name: web
          image: {BASE_IMAGE}
          pullPolicy: Never
          command: [httpd, -f, -p, "8080", -h, /www]
          ports: [{{target: 8080, published: {port}, hostIP: 127.0.0.1}}]
          networks: [{{name: backend, aliases: [www]}}]
          volumeMounts: [{{volume: data, mountPath: /www/data}}]
          healthcheck:
            test: [CMD, wget, -q, -O, /dev/null, "http://127.0.0.1:8080/"]
            interval: 1s
            timeout: 2s
            retries: 5
          restart: unless-stopped
          init: true
          stopGracePeriod: 1s
        - name: worker
          image: {BASE_IMAGE}
          pullPolicy: Never
          command: [sh, -c, "wget -q -O /data/fetched http://www:8080/ && exec sleep 3600"]
          env: [{{name: MODE, value: "{env}"}}]
          replicas: {replicas}
          networks: [{{name: backend}}]
          volumeMounts: [{{volume: data, mountPath: /data}}]
          dependsOn: [{{service: web, condition: healthy}}]
          restart: always
          init: true
          stopGracePeriod: 1s
      volumes: [{{name: data}}]
      networks: [{{name: backend}}]
    """


def test_apply_creates_a_reachable_app(docker_client: DockerClient, app_name: str, tmp_path: Path):
    port = free_port()
    applied = apply(write(tmp_path, "app.yaml", web_app(app_name, port)))
    assert applied.result.ok, applied.result.failed

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
    assert "dockyard" in body
    worker = docker_client.containers.get(f"{app_name}-worker-1")
    # The worker reached the web service by its alias on the user-defined network,
    # and wrote into the shared named volume.
    fetched = worker.exec_run(["cat", "/data/fetched"]).output.decode()
    assert "dockyard" in fetched
    web = docker_client.containers.get(f"{app_name}-web-1")
    assert web.labels["dev.dockyard.managed-by"] == "dockyard"
    assert web.labels["dev.dockyard.service"] == "web"
    assert web.labels["dev.dockyard.replica"] == "1"
    assert docker_client.networks.get(f"{app_name}_backend").attrs["Labels"][
        "dev.dockyard.app"
    ] == (app_name)


def test_reapplying_unchanged_spec_does_nothing(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    manifest = write(tmp_path, "app.yaml", web_app(app_name, free_port(), replicas=2))
    assert apply(manifest).result.ok
    before = ids(docker_client, app_name)
    time.sleep(1.1)  # events are filtered by whole seconds
    since = int(time.time())
    again = apply(manifest)
    until = int(time.time()) + 1
    assert again.operations == []
    assert ids(docker_client, app_name) == before
    events = docker_client.events(
        since=since, until=until, decode=True, filters={"label": f"dev.dockyard.app={app_name}"}
    )
    mutations = [
        e for e in events if e.get("Action") in {"create", "start", "stop", "destroy", "kill"}
    ]
    assert mutations == []


def test_changing_one_service_replaces_only_its_containers(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    port = free_port()
    manifest = write(tmp_path, "app.yaml", web_app(app_name, port, env="one"))
    assert apply(manifest).result.ok
    web = docker_client.containers.get(f"{app_name}-web-1")
    web.exec_run(["sh", "-c", "echo kept > /www/data/marker"])
    before = ids(docker_client, app_name)

    write(tmp_path, "app.yaml", web_app(app_name, port, env="two"))
    applied = apply(manifest)
    assert applied.result.ok
    after = ids(docker_client, app_name)
    assert after[f"{app_name}-web-1"] == before[f"{app_name}-web-1"]
    assert after[f"{app_name}-worker-1"] != before[f"{app_name}-worker-1"]
    worker = docker_client.containers.get(f"{app_name}-worker-1")
    assert "MODE=two" in worker.attrs["Config"]["Env"]
    # The named volume survived the replacement of the worker that mounts it.
    assert worker.exec_run(["cat", "/data/marker"]).output.decode().strip() == "kept"


def test_scaling_and_removing_a_service(docker_client: DockerClient, app_name: str, tmp_path: Path):
    port = free_port()
    manifest = write(tmp_path, "app.yaml", web_app(app_name, port, replicas=3))
    assert apply(manifest).result.ok
    assert sorted(ids(docker_client, app_name)) == sorted(
        [f"{app_name}-web-1"] + [f"{app_name}-worker-{i}" for i in (1, 2, 3)]
    )
    write(tmp_path, "app.yaml", web_app(app_name, port, replicas=1))
    assert apply(manifest).result.ok
    assert sorted(ids(docker_client, app_name)) == [f"{app_name}-web-1", f"{app_name}-worker-1"]

    only_web = web_app(app_name, port).split("        - name: worker")[0] + (
        "      volumes: [{name: data}]\n      networks: [{name: backend}]\n"
    )
    write(tmp_path, "app.yaml", only_web)
    assert apply(manifest).result.ok
    assert sorted(ids(docker_client, app_name)) == [f"{app_name}-web-1"]


def test_unlabelled_objects_with_the_same_name_are_never_touched(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    squatter = docker_client.containers.create(
        BASE_IMAGE, ["sleep", "60"], name=f"{app_name}-web-1", labels=TEST_LABELS
    )
    try:
        manifest = write(tmp_path, "app.yaml", web_app(app_name, free_port()))
        applied = apply(manifest)
        assert any("not managed by dockyard" in e for e in applied.errors)
        assert applied.result.results == []  # nothing of the app was applied
        squatter.reload()
        assert squatter.status == "created"
        assert ids(docker_client, app_name) == {}
    finally:
        squatter.remove(force=True)


def test_missing_image_with_pull_never_reports_and_keeps_the_rest(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    port = free_port()
    manifest = write(tmp_path, "app.yaml", web_app(app_name, port))
    assert apply(manifest).result.ok
    old_web = docker_client.containers.get(f"{app_name}-web-1").id

    broken = web_app(app_name, port, env="changed").replace(
        "command: [httpd", "labels: {broken: 'yes'}\n          command: [httpd", 1
    )
    broken = broken.replace(f"image: {BASE_IMAGE}", "image: dockyard.local/absent:1", 1)
    write(tmp_path, "app.yaml", broken)
    applied = apply(manifest)
    assert not applied.result.ok
    failed = applied.result.failed
    assert [r.op.kind.value for r in failed] == ["missing-image"]
    assert "pullPolicy is Never" in (failed[0].error or "")
    # The old web container was not stopped for an image that does not exist…
    web = docker_client.containers.get(f"{app_name}-web-1")
    assert web.id == old_web and web.status == "running"
    # …and the worker, whose change does not need that image, was applied… but it
    # depends on web being healthy, which it still is.
    worker = docker_client.containers.get(f"{app_name}-worker-1")
    assert "MODE=changed" in worker.attrs["Config"]["Env"]


def test_diff_reports_nothing_after_apply(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    manifest = write(tmp_path, "app.yaml", web_app(app_name, free_port()))
    plans = plan(manifest)
    kinds = {op.kind.value for p in plans for op in p.plan.operations}
    assert {"create-network", "create-volume", "create-container", "wait-healthy"} <= kinds
    assert apply(manifest).result.ok
    assert all(p.plan.empty for p in plan(manifest))


def test_unlabelled_volume_with_the_apps_volume_name_is_an_error(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    volume = docker_client.volumes.create(f"{app_name}_data", labels=TEST_LABELS)
    try:
        applied = apply(write(tmp_path, "app.yaml", web_app(app_name, free_port())))
        assert any(
            f"volume {app_name}_data already exists and is not managed by dockyard" in e
            for e in applied.errors
        )
        assert ids(docker_client, app_name) == {}
        volume.reload()  # still there, untouched
    finally:
        volume.remove(force=True)
