"""Engine names are Compose's: `_` and `.` kept, `container_name` still resolves.

A user who ran `docker compose up` finds the same volume (`<app>_db_data`), network
(`<app>_back_end`) and container (`<app>-ssrf_proxy-1`) names under dockyard, and a
name other services used (`container_name: mysql`) still resolves.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from docker import DockerClient

from dockyard.spec.compose import import_compose
from dockyard_helpers import apply
from helpers import BASE_IMAGE

pytestmark = pytest.mark.engine


def test_container_name_is_a_dns_alias_on_every_network(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  db:\n    image: x\n    container_name: mysql\n"
        "    networks: [front, back]\n"
        "networks: {front: {}, back: {}}\n"
    )

    imported = import_compose([tmp_path / "compose.yaml"], environ={})

    (db,) = imported.app["spec"]["services"]
    assert db["name"] == "db"
    assert [n["aliases"] for n in db["networks"]] == [["mysql"], ["mysql"]]
    assert "services.db.container_name" in {w.path for w in imported.warnings}


def test_compose_names_on_the_engine(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {app_name}
            services:
              ssrf_proxy:
                image: {BASE_IMAGE}
                pull_policy: never
                init: true
                command: ["sleep", "3600"]
                volumes: ["db_data:/data"]
                networks: [back_end]
                stop_grace_period: 1s
              db:
                image: {BASE_IMAGE}
                pull_policy: never
                init: true
                container_name: mysql
                command: ["sleep", "3600"]
                networks: [back_end]
                stop_grace_period: 1s
            volumes:
              db_data: {{}}
            networks:
              back_end: {{}}
            """
        )
    )

    applied = apply(compose)

    assert applied.result.ok, applied.result.failed
    proxy = docker_client.containers.get(f"{app_name}-ssrf_proxy-1")
    assert proxy.labels["dev.dockyard.service"] == "ssrf_proxy"
    mounts = {m["Destination"]: m["Name"] for m in proxy.attrs["Mounts"]}
    assert mounts["/data"] == f"{app_name}_db_data"
    assert set(proxy.attrs["NetworkSettings"]["Networks"]) == {f"{app_name}_back_end"}
    # What resolved under Compose resolves here: the service name and the container_name.
    for name in ("db", "mysql"):
        lookup = proxy.exec_run(["nslookup", name])
        assert lookup.exit_code == 0, lookup.output.decode()
    lookup = docker_client.containers.get(f"{app_name}-db-1").exec_run(["nslookup", "ssrf_proxy"])
    assert lookup.exit_code == 0, lookup.output.decode()
    assert apply(compose).operations == []
