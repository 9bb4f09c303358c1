"""Engine names are Compose's: `_` and `.` kept, `name:` and `container_name` honoured.

A user who ran `docker compose up` finds the same volume (`<app>_db_data`), network
(`<app>_back_end`) and container (`<app>-ssrf_proxy-1`, or its `container_name`) names
under dockyard, and a name other services used (`container_name: mysql`) still resolves.
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


def test_container_name_is_kept(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  db:\n    image: x\n    container_name: mysql\n"
    )

    imported = import_compose([tmp_path / "compose.yaml"], environ={})

    (db,) = imported.app["spec"]["services"]
    assert db["name"] == "db" and db["containerName"] == "mysql"
    assert imported.warnings == []


def test_container_name_with_replicas_is_refused(tmp_path: Path) -> None:
    # As Compose: one name cannot be given to several containers.
    (tmp_path / "compose.yaml").write_text(
        "services:\n  db:\n    image: x\n    container_name: mysql\n    deploy: {replicas: 2}\n"
    )

    with pytest.raises(SpecError) as info:
        import_compose([tmp_path / "compose.yaml"], environ={})

    assert [e.path for e in info.value.errors] == ["services.db.container_name"]


def test_manifest_container_name_needs_one_replica(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: shop\nspec:\n"
        "  services: [{name: db, image: busybox, containerName: mysql, replicas: 2}]\n"
    )

    with pytest.raises(SpecError) as info:
        load_paths([tmp_path / "app.yaml"], environ={})

    assert [e.path for e in info.value.errors] == ["spec.services[db].containerName"]


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
                container_name: {app_name}-mysql
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
    db = docker_client.containers.get(f"{app_name}-mysql")  # its container_name
    assert db.labels["dev.dockyard.service"] == "db"
    # What resolved under Compose resolves here: the service name and the container_name.
    for name in ("db", f"{app_name}-mysql"):
        lookup = proxy.exec_run(["nslookup", name])
        assert lookup.exit_code == 0, lookup.output.decode()
    lookup = db.exec_run(["nslookup", "ssrf_proxy"])
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


def test_a_named_container_is_replaced_under_its_name(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "app.yaml"

    def write(level: str) -> None:
        manifest.write_text(
            "apiVersion: dockyard.dev/v1alpha1\nkind: App\n"
            f"metadata: {{name: {app_name}}}\nspec:\n  services:\n"
            f"    - {{name: db, image: '{BASE_IMAGE}', pullPolicy: Never, init: true,"
            f" containerName: {app_name}-mysql, command: [sleep, '3600'],"
            f" stopGracePeriod: 1s, env: [{{name: LEVEL, value: {level}}}],"
            " update: {order: start-first}}\n"
        )

    write("info")
    assert apply(manifest).result.ok
    write("debug")

    applied = apply(manifest)

    assert applied.result.ok, applied.result.failed
    db = docker_client.containers.get(f"{app_name}-mysql")
    assert "LEVEL=debug" in db.attrs["Config"]["Env"]
    assert db.status == "running"
    label = {"label": f"dev.dockyard.app={app_name}"}
    assert [c.name for c in docker_client.containers.list(all=True, filters=label)] == [
        f"{app_name}-mysql"
    ]
