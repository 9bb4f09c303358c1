"""Content-addressed inputs against a real engine: a secret's or a watched file's content
changes (the manifest does not) and the controller acts per `onChange`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker import DockerClient

from controller_fixtures import containers, is_ready, run_controller, settle, state
from manifests import service, write
from waiting import eventually

pytestmark = pytest.mark.engine

SIGHUP_LOOP = (
    "trap 'cat /run/secrets/token > /tmp/got' HUP; cat /run/secrets/token > /tmp/got; "
    "while true; do sleep 0.1; done"
)


def app_with_secret(app: str, on_change: str | None, **fields: Any) -> str:
    mount: dict[str, Any] = {"name": "token"}
    if on_change:
        mount["onChange"] = on_change
    svc = service("web", secrets=[mount], **fields)
    doc = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": app},
        "spec": {"services": [svc], "secrets": [{"name": "token", "file": "token.txt"}]},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def read(client: DockerClient, name: str, path: str) -> str:
    result = client.containers.get(name).exec_run(["cat", path])
    return bytes(result.output).decode()


async def test_secret_rotation_recreates_by_default_without_leaking_the_value(
    docker_client: DockerClient, app_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "apps"
    write(folder, "token.txt", "first-Secret-value")
    update = {"order": "start-first", "monitor": "200ms"}
    write(folder, "app.yaml", app_with_secret(app_name, None, update=update))
    web = f"{app_name}-web-1"
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        assert read(docker_client, web, "/run/secrets/token") == "first-Secret-value"
        old_id = docker_client.containers.get(web).id
        write(folder, "token.txt", "second-Secret-value")
        await eventually(
            lambda: read(docker_client, web, "/run/secrets/token") == "second-Secret-value",
            timeout=30,
        )
        await settle(controller)
        assert docker_client.containers.get(web).id != old_id  # recreated (rolled out)
        history = controller.history.get(app_name)
        assert history.revisions[-1].changes == [
            "no change to the manifest (inputs such as env files or builds changed)"
        ]
        # The value is nowhere: not in the container's config, status, history or logs.
        inspected = json.dumps(docker_client.api.inspect_container(web))
        shown = json.dumps(controller.statuses()) + json.dumps(history.to_json())
        stored = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
        for text in (inspected, shown, stored, caplog.text):
            assert "Secret-value" not in text


async def test_secret_with_on_change_restart_restarts_the_same_container(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "token.txt", "one")
    write(folder, "app.yaml", app_with_secret(app_name, "restart"))
    web = f"{app_name}-web-1"
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        before = docker_client.containers.get(web).id
        started = state(docker_client, web)["StartedAt"]
        write(folder, "token.txt", "two")
        await eventually(lambda: state(docker_client, web)["StartedAt"] != started, timeout=30)
        await settle(controller)
        assert docker_client.containers.get(web).id == before
        assert read(docker_client, web, "/run/secrets/token") == "two"
        assert controller.apps[app_name].status.restarts == 1
        # Delivered once: the next reconciles do nothing more.
        started = state(docker_client, web)["StartedAt"]
        controller.queue.add(app_name)
        await settle(controller, quiet=1.0)
        assert state(docker_client, web)["StartedAt"] == started


async def test_secret_with_on_change_signal_is_rewritten_in_place_and_signalled(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    state_dir = tmp_path / "state"
    write(folder, "token.txt", "one")
    doc = app_with_secret(app_name, "signal:SIGHUP", command=["sh", "-c", SIGHUP_LOOP])
    write(folder, "app.yaml", doc.replace("$", "$$"))
    web = f"{app_name}-web-1"
    async with run_controller(folder, state_dir) as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        await eventually(lambda: read(docker_client, web, "/tmp/got") == "one")
        started = state(docker_client, web)["StartedAt"]
        write(folder, "token.txt", "two")
        await eventually(lambda: read(docker_client, web, "/tmp/got") == "two", timeout=30)
        await settle(controller)
        assert state(docker_client, web)["StartedAt"] == started  # not restarted
    # A controller restart neither repeats the signal nor forgets a change made while down.
    write(folder, "token.txt", "three")
    async with run_controller(folder, state_dir) as controller:
        await eventually(lambda: read(docker_client, web, "/tmp/got") == "three", timeout=30)
        await settle(controller)
        assert state(docker_client, web)["StartedAt"] == started
        assert len(containers(docker_client, app_name)) == 1


async def test_watched_config_file_restarts_on_change_and_unwatched_is_left_alone(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder / "conf", "app.conf", "level=1\n")
    write(folder / "data", "notes.txt", "a\n")
    svc = service(
        "web",
        volumeMounts=[
            {
                "hostPath": "./conf",
                "mountPath": "/etc/app",
                "readOnly": True,
                "onChange": "restart",
            },
            {"hostPath": "./data", "mountPath": "/data"},
        ],
    )
    doc = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": app_name},
        "spec": {"services": [svc]},
    }
    write(folder, "app.yaml", yaml.safe_dump(doc, sort_keys=False))
    web = f"{app_name}-web-1"
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        started = state(docker_client, web)["StartedAt"]
        write(folder / "data", "notes.txt", "b\n")  # not watched: nothing happens
        await settle(controller, quiet=1.0)
        assert state(docker_client, web)["StartedAt"] == started
        write(folder / "conf", "app.conf", "level=2\n")
        await eventually(lambda: state(docker_client, web)["StartedAt"] != started, timeout=30)
        assert read(docker_client, web, "/etc/app/app.conf") == "level=2\n"


def test_on_change_is_validated(tmp_path: Path) -> None:
    from dockyard.spec.errors import SpecError
    from dockyard.spec.load import load_paths

    bad = app_with_secret("shop", "signal:hup")
    (tmp_path / "token.txt").write_text("x")
    (tmp_path / "app.yaml").write_text(bad)
    with pytest.raises(SpecError) as err:
        load_paths([tmp_path / "app.yaml"], environ={})
    text = err.value.render()
    assert "spec.services[web].secrets[token].onChange" in text or "onChange" in text
    assert "signal:SIGNAME" in text
