"""Revisions live with the app, on its engines: `dockyard apply` and the controller record
them alike; `dockyard history` and `dockyard rollback` work from any machine, with or
without a controller; a pin survives a controller restart with a new state folder."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from docker import DockerClient

from cleanup import HISTORY_LABEL, remove_app
from controller_fixtures import env_of, ids, is_ready, run_controller, settle
from engine_instance import PrivateEngine
from helpers import BASE_IMAGE, DOCKYARD, TEST_LABELS
from manifests import app_doc, host_manifests, manifest, service, to_yaml, write
from waiting import eventually

pytestmark = pytest.mark.engine

#: The web service mounts secret `token`, read from token.txt beside the manifest.
WITH_TOKEN: dict[str, Any] = {
    "secrets": [{"name": "token", "mountPath": "/run/t"}],
    "spec": {"secrets": [{"name": "token", "file": "./token.txt"}]},
}


def cli(*argv: str, host: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--host", host] if host else []
    return subprocess.run(
        [str(DOCKYARD), *argv, *extra], capture_output=True, text=True, timeout=120
    )


def record_on(client: DockerClient, app: str) -> str:
    """The raw history file in the app's record volume, read with a container of our own."""
    volume = f"dockyard.history.{app}"
    helper = client.containers.create(
        BASE_IMAGE, ["true"], volumes={volume: {"bind": "/r", "mode": "ro"}}, labels=TEST_LABELS
    )
    try:
        stream, _ = helper.get_archive("/r/history.json")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile("history.json")
            assert member is not None
            return member.read().decode()
    finally:
        helper.remove(force=True)


def test_apply_records_revisions_on_the_engine_secrets_by_name_only(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "app"
    write(folder, "token.txt", "s3cr3t-value-never-recorded")
    write(folder, "app.yaml", app_doc(app_name, "1", **WITH_TOKEN))
    first = cli("apply", "-q", "-f", str(folder))
    assert first.returncode == 0, first.stderr
    write(folder, "app.yaml", app_doc(app_name, "2", **WITH_TOKEN))
    assert cli("apply", "-q", "-f", str(folder)).returncode == 0
    raw = record_on(docker_client, app_name)
    record = json.loads(raw)
    assert [r["number"] for r in record["revisions"]] == [1, 2]
    assert [r["outcome"] for r in record["revisions"]] == ["complete", "complete"]
    assert record["current"] == 2
    assert record["revisions"][1]["changes"] == ["service web: env"]
    assert record["revisions"][1]["source"] == "dockyard apply"
    assert "@" in record["revisions"][1]["by"]  # user@machine
    assert "s3cr3t-value-never-recorded" not in raw
    assert "token" in raw  # by name
    # The record is not one of the app's volumes: no plan sees it.
    volume = docker_client.volumes.get(f"dockyard.history.{app_name}")
    assert volume.attrs["Labels"][HISTORY_LABEL] == app_name
    assert "dev.dockyard.app" not in volume.attrs["Labels"]
    again = cli("apply", "-f", str(folder))
    assert "up to date" in again.stdout
    assert json.loads(record_on(docker_client, app_name))["updated"] == record["updated"]


@pytest.fixture(scope="module")
def machine() -> Iterator[PrivateEngine]:
    engine = PrivateEngine(prefix="hist")
    try:
        engine.start()
        engine.load_base_image()
        yield engine
    finally:
        engine.destroy()


def elsewhere(*argv: str) -> subprocess.CompletedProcess[str]:
    """`dockyard ARGV` on another machine: a mount namespace where /var/lib/dockyard and
    /run/dockyard are fresh (no state folder, no cache), no controller on its port."""
    script = (
        "mkdir -p /var/lib/dockyard /run/dockyard && mount -t tmpfs tmpfs /var/lib/dockyard "
        '&& mount -t tmpfs tmpfs /run/dockyard && exec "$@"'
    )
    inside = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    return subprocess.run(
        [*inside, str(DOCKYARD), *argv, "--controller", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_history_and_rollback_from_another_machine_without_a_controller(
    machine: PrivateEngine, app_name: str, tmp_path: Path
):
    far = docker.DockerClient(base_url=machine.url, timeout=60)
    try:
        path = tmp_path / "app.yaml"
        path.write_text(to_yaml(app_doc(app_name, "1")))
        assert cli("apply", "-q", "-f", str(path), host=machine.url).returncode == 0
        path.write_text(to_yaml(app_doc(app_name, "2")))
        assert cli("apply", "-q", "-f", str(path), host=machine.url).returncode == 0
        container = f"{app_name}-web-1"
        assert env_of(far, container).get("VERSION", "") == "2"

        shown = elsewhere("history", app_name, "--host", machine.url, "-o", "json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        assert [r["revision"] for r in data["revisions"]] == [1, 2]
        assert data["current"] == 2

        back = elsewhere("rollback", app_name, "--to", "1", "--host", machine.url)
        assert back.returncode == 0, back.stdout + back.stderr
        assert "rolled back to revision 1" in back.stdout
        assert env_of(far, container).get("VERSION", "") == "1"

        # A third machine sees where it stands: revision 1 runs, pinned until the spec changes.
        text = elsewhere("history", app_name, "--host", machine.url)
        assert text.returncode == 0, text.stderr
        assert "*1" in text.stdout and "pinned to revision 1" in text.stdout
        # Applying the manifests again is an explicit roll forward: the pin goes.
        assert cli("apply", "-q", "-f", str(path), host=machine.url).returncode == 0
        assert env_of(far, container).get("VERSION", "") == "2"
        final = json.loads(cli("history", app_name, "-o", "json", host=machine.url).stdout)
        assert final["current"] == 2 and final["pin"] is None
    finally:
        remove_app(far, app_name)
        far.close()


async def test_pin_survives_a_controller_restart_with_a_new_state_folder(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "app.yaml", app_doc(app_name, "1"))
    container = f"{app_name}-web-1"
    async with run_controller(folder, tmp_path / "state-1") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        write(folder, "app.yaml", app_doc(app_name, "2"))
        await eventually(
            lambda: env_of(docker_client, container).get("VERSION", "") == "2", timeout=30
        )
        await settle(controller)
        assert "revision 1" in controller.rollback(app_name)
        await eventually(
            lambda: env_of(docker_client, container).get("VERSION", "") == "1", timeout=30
        )
        await settle(controller)
        kept = ids(docker_client, app_name)
    record = json.loads(record_on(docker_client, app_name))
    assert record["pin"]["revision"] == 1
    # Another controller, another state folder (a new machine, or a failover): it reads the
    # history from the engine and keeps revision 1, touching nothing.
    async with run_controller(folder, tmp_path / "state-2") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        await settle(controller, quiet=1.0)
        assert ids(docker_client, app_name) == kept
        history = controller.history.get(app_name)
        assert [r.number for r in history.revisions] == [1, 2]
        assert history.pin is not None and history.pin.revision == 1
        assert controller.apps[app_name].status.appRevision == 1


async def test_the_controller_continues_the_history_dockyard_apply_began(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "app.yaml", app_doc(app_name, "1"))
    assert cli("apply", "-q", "-f", str(folder)).returncode == 0
    write(folder, "app.yaml", app_doc(app_name, "2"))
    assert cli("apply", "-q", "-f", str(folder)).returncode == 0
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        await settle(controller)
        assert [r.number for r in controller.history.get(app_name).revisions] == [1, 2]
        write(folder, "app.yaml", app_doc(app_name, "3"))
        await eventually(
            lambda: env_of(docker_client, f"{app_name}-web-1").get("VERSION", "") == "3", timeout=30
        )
        await settle(controller)
    record = json.loads(record_on(docker_client, app_name))
    assert [r["number"] for r in record["revisions"]] == [1, 2, 3]
    assert record["revisions"][2]["source"] != "dockyard apply"  # the controller's source
    assert record["current"] == 3


async def test_a_revision_apply_saw_fail_is_not_retried_by_a_controller(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    update = {"order": "start-first", "monitor": "300ms"}
    good = {"test": ["CMD", "true"], "interval": "300ms", "retries": 1}
    bad = {"test": ["CMD", "false"], "interval": "300ms", "timeout": "1s", "retries": 1}

    def doc(version: str, health: dict[str, object]) -> str:
        env = [{"name": "VERSION", "value": version}]
        return manifest(app_name, [service("web", env=env, update=update, healthcheck=health)])

    write(folder, "app.yaml", doc("1", good))
    assert cli("apply", "-q", "-f", str(folder)).returncode == 0
    write(folder, "app.yaml", doc("2", bad))
    failed = cli("apply", "-q", "-f", str(folder))
    assert failed.returncode == 1 and "rolled back" in failed.stderr
    record = json.loads(record_on(docker_client, app_name))
    assert [r["outcome"] for r in record["revisions"]] == ["complete", "rolled-back"]
    assert record["pin"]["revision"] == 1 and record["current"] == 1
    kept = ids(docker_client, app_name)
    # A controller that wants the same bad spec, from a fresh state folder, keeps revision 1.
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: controller.apps[app_name].status.appRevision == 1, timeout=30)
        await settle(controller, quiet=1.0)
        assert ids(docker_client, app_name) == kept
        assert env_of(docker_client, f"{app_name}-web-1").get("VERSION", "") == "1"
        degraded = controller.apps[app_name].status.condition("Degraded")
        assert degraded is not None and degraded.reason == "RolledBack"


def test_apply_across_docker_hosts_records_on_the_hosts(
    machine: PrivateEngine, docker_client: DockerClient, app_name: str, tmp_path: Path
):
    far = docker.DockerClient(base_url=machine.url, timeout=60)
    folder = tmp_path / "repo"
    write(folder, "hosts.yaml", host_manifests({"far": machine}))

    def app(version: str) -> str:
        doc = app_doc(app_name, version)
        doc["spec"]["placement"] = {"hostSelector": {"matchLabels": {"role": "edge"}}}
        return yaml.safe_dump(doc, sort_keys=False)

    try:
        write(folder, "app.yaml", app("1"))
        first = cli("apply", "-q", "-f", str(folder))
        assert first.returncode == 0, first.stderr
        write(folder, "app.yaml", app("2"))
        assert cli("apply", "-q", "-f", str(folder)).returncode == 0
        record = json.loads(record_on(far, app_name))
        assert [r["number"] for r in record["revisions"]] == [1, 2]
        assert record["current"] == 2
        # Only the host the app runs on holds it: nothing on this machine's engine.
        here = docker_client.volumes.list(filters={"label": f"{HISTORY_LABEL}={app_name}"})
        assert here == []
        shown = elsewhere("history", app_name, "-f", str(folder), "-o", "json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["current"] == 2
    finally:
        remove_app(far, app_name)
        far.close()


async def test_a_controller_over_docker_hosts_continues_their_history(
    machine: PrivateEngine, app_name: str, tmp_path: Path
):
    far = docker.DockerClient(base_url=machine.url, timeout=60)
    folder = tmp_path / "repo"
    write(folder, "hosts.yaml", host_manifests({"far": machine}))

    def app(version: str) -> str:
        doc = app_doc(app_name, version)
        doc["spec"]["placement"] = {"hostSelector": {"matchLabels": {"role": "edge"}}}
        return yaml.safe_dump(doc, sort_keys=False)

    try:
        write(folder, "app.yaml", app("1"))
        assert cli("apply", "-q", "-f", str(folder)).returncode == 0
        write(folder, "app.yaml", app("2"))
        assert cli("apply", "-q", "-f", str(folder)).returncode == 0
        # A controller with a new state folder: the host answers after the controller
        # started, and its history is taken up, not replaced.
        async with run_controller(folder, tmp_path / "state") as controller:
            await eventually(lambda: is_ready(controller, app_name), timeout=30)
            write(folder, "app.yaml", app("3"))
            await eventually(
                lambda: env_of(far, f"{app_name}-web-1").get("VERSION", "") == "3", timeout=30
            )
            await settle(controller)
        record = json.loads(record_on(far, app_name))
        assert [r["number"] for r in record["revisions"]] == [1, 2, 3]
        assert record["current"] == 3
    finally:
        remove_app(far, app_name)
        far.close()
