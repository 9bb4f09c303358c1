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
from dockyard.spec.errors import SpecError
from dockyard.spec.load import load_paths
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


def test_two_volumes_cannot_share_an_engine_name(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: shop\nspec:\n"
        "  services: [{name: web, image: busybox}]\n"
        "  volumes: [{name: a, engineName: shop_b}, {name: b}]\n"
    )

    with pytest.raises(SpecError) as info:
        load_paths([tmp_path / "app.yaml"], environ={})

    (error,) = info.value.errors
    assert error.path == "spec.volumes[b].engineName"
    assert "'shop_b'" in error.message


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


def test_name_of_a_volume_and_a_network_is_their_engine_name(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {app_name}
            services:
              web:
                image: {BASE_IMAGE}
                pull_policy: never
                init: true
                command: ["sleep", "3600"]
                volumes: ["data:/data"]
                networks: [back]
                stop_grace_period: 1s
            volumes:
              data: {{name: {app_name}-literal-data}}
            networks:
              back: {{name: {app_name}.literal.net}}
            """
        )
    )

    applied = apply(compose)

    assert applied.result.ok, applied.result.failed
    web = docker_client.containers.get(f"{app_name}-web-1")
    assert {m["Destination"]: m["Name"] for m in web.attrs["Mounts"]}["/data"] == (
        f"{app_name}-literal-data"
    )
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {f"{app_name}.literal.net"}
    assert (
        docker_client.volumes.get(f"{app_name}-literal-data").attrs["Labels"]["dev.dockyard.app"]
        == app_name
    )
    assert apply(compose).operations == []
