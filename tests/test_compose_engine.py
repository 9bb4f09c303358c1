"""A Compose project applied as it is, on a real engine: the meaning survives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from docker import DockerClient
from typer.testing import CliRunner

from dockyard.cli.main import app as cli
from dockyard_helpers import apply
from helpers import BASE_IMAGE, free_port

pytestmark = pytest.mark.engine


def compose_project(folder: Path, name: str, port: int) -> Path:
    (folder / "web").mkdir(parents=True)
    (folder / "web" / "Dockerfile").write_text(
        textwrap.dedent(
            f"""\
            FROM {BASE_IMAGE} AS build
            ARG MESSAGE=unset
            RUN mkdir /out && echo "$MESSAGE" > /out/index.html
            FROM {BASE_IMAGE} AS runtime
            COPY --from=build /out /www
            FROM {BASE_IMAGE} AS debug
            RUN echo never built > /debug
            """
        )
    )
    (folder / "db_password.txt").write_text("hunter2")
    compose = folder / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            services:
              web:
                build:
                  context: ./web
                  target: runtime
                  args: [MESSAGE=built-by-compose-import]
                command: httpd -f -p 8080 -h /www
                init: true
                ports: ["127.0.0.1:{port}:8080"]
                networks: [back_end]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
                  interval: 1s
                  retries: 10
                stop_grace_period: 1s
              app:
                image: {BASE_IMAGE}
                pull_policy: never
                init: true
                command: ["sh", "-c", "wget -q -O /data/page http://web:8080/ && exec sleep 3600"]
                environment:
                  PASSWORD_FILE: /run/secrets/db_password
                secrets: [db_password]
                volumes: ["data:/data"]
                networks: [back_end]
                depends_on:
                  web: {{condition: service_healthy}}
                restart: unless-stopped
                stop_grace_period: 1s
            volumes:
              data: {{}}
            networks:
              back_end: {{}}
            secrets:
              db_password:
                file: ./db_password.txt
            """
        )
    )
    return compose


def test_compose_file_applies_directly(docker_client: DockerClient, app_name: str, tmp_path: Path):
    port = free_port()
    compose = compose_project(tmp_path, app_name, port)
    applied = apply(compose)
    assert applied.result.ok, applied.result.failed

    app = docker_client.containers.get(f"{app_name}-app-1")
    # depends_on service_healthy held: the app fetched the web page built from target runtime.
    assert app.exec_run(["cat", "/data/page"]).output.decode().strip() == "built-by-compose-import"
    assert app.exec_run(["cat", "/run/secrets/db_password"]).output.decode() == "hunter2"
    assert "hunter2" not in str(app.attrs)
    assert app.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    mounts = {m["Destination"]: m for m in app.attrs["Mounts"]}
    assert mounts["/data"]["Name"] == f"{app_name}_data"
    web = docker_client.containers.get(f"{app_name}-web-1")
    assert web.exec_run(["ls", "/debug"]).exit_code != 0  # the debug stage was not built
    nets = set(web.attrs["NetworkSettings"]["Networks"])
    assert nets == {f"{app_name}_back_end"}  # Compose's name, `_` kept
    # Re-applying the Compose file is a no-op, like `docker compose up -d` twice.
    assert apply(compose).operations == []


def test_import_compose_writes_a_manifest_that_applies_the_same(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    compose = compose_project(tmp_path, app_name, free_port())
    out = tmp_path / "app.yaml"
    result = CliRunner().invoke(cli, ["import", "compose", "-f", str(compose), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert apply(out).result.ok
    # The imported manifest and the Compose file mean the same thing: nothing to do.
    assert apply(compose).operations == []
