"""Pulling from a real registry with `dockyard apply`: pull policies, moved tags, digests."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker import DockerClient
from typer.testing import CliRunner

from dockyard.cli.main import app
from manifests import write
from registry_fixtures import Registry, container_image, image_id, move_tag, push

pytestmark = pytest.mark.engine
runner = CliRunner()


def manifest(name: str, image: str, policy: str, extra: str = "") -> str:
    return f"""
    apiVersion: dockyard.dev/v1alpha1
    kind: App
    metadata: {{name: {name}}}
    spec:
      services:
        - name: web
          image: "{image}"
          pullPolicy: {policy}
          command: [sh, -c, "sleep 3600"]
          init: true
          restart: always
          stopGracePeriod: 1s
          networkMode: none   # no network needed: none is made
    {extra}
    """


def apply(path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["apply", "-f", str(path)])
    return result.exit_code, result.output


def test_if_not_present_pulls_a_missing_image_from_the_registry(
    docker_client: DockerClient, registry: Registry, app_name: str, tmp_path: Path
) -> None:
    push(docker_client, registry, app_name, "1", "v1")
    ref = f"{registry.host}/{app_name}:1"
    assert image_id(docker_client, ref) is None

    code, out = apply(write(tmp_path, "app.yaml", manifest(app_name, ref, "IfNotPresent")))

    assert code == 0, out
    assert f"pull image {ref}" in out
    assert container_image(docker_client, f"{app_name}-web-1") == image_id(docker_client, ref)
    # Present now: the next apply pulls nothing.
    code, out = apply(tmp_path / "app.yaml")
    assert code == 0 and "up to date" in out, out


def test_always_pulls_a_moved_tag_and_replaces_the_container(
    docker_client: DockerClient, registry: Registry, app_name: str, tmp_path: Path
) -> None:
    push(docker_client, registry, app_name, "1", "v1")
    ref = f"{registry.host}/{app_name}:1"
    path = write(tmp_path, "app.yaml", manifest(app_name, ref, "Always"))
    code, out = apply(path)
    assert code == 0, out
    name = f"{app_name}-web-1"
    first = docker_client.api.inspect_container(name)

    # Unchanged tag: Always pulls, finds the same image, and leaves the container be.
    code, out = apply(path)
    assert code == 0 and "up to date" in out, out
    assert docker_client.api.inspect_container(name)["Id"] == first["Id"]

    move_tag(docker_client, registry, app_name, "1", "v2")
    assert image_id(docker_client, ref) == first["Image"]  # not pulled here yet

    code, out = apply(path)

    assert code == 0, out
    assert f"image {ref} moved to sha256:" in out
    now = docker_client.api.inspect_container(name)
    assert now["Id"] != first["Id"] and now["State"]["Running"]
    assert now["Image"] == image_id(docker_client, ref) != first["Image"]
    assert docker_client.containers.get(name).exec_run("cat /version").output.startswith(b"v2")


def test_if_not_present_does_not_pull_a_moved_tag(
    docker_client: DockerClient, registry: Registry, app_name: str, tmp_path: Path
) -> None:
    push(docker_client, registry, app_name, "1", "v1")
    ref = f"{registry.host}/{app_name}:1"
    path = write(tmp_path, "app.yaml", manifest(app_name, ref, "IfNotPresent"))
    assert apply(path)[0] == 0
    before = docker_client.api.inspect_container(f"{app_name}-web-1")

    move_tag(docker_client, registry, app_name, "1", "v2")
    code, out = apply(path)

    assert code == 0 and "up to date" in out, out
    after = docker_client.api.inspect_container(f"{app_name}-web-1")
    assert (after["Id"], after["Image"]) == (before["Id"], before["Image"])
    assert image_id(docker_client, ref) == before["Image"]


@pytest.mark.parametrize("with_tag", [False, True], ids=["repo@digest", "repo:tag@digest"])
def test_an_image_pinned_by_digest_runs_that_digest_after_the_tag_moved(
    docker_client: DockerClient,
    registry: Registry,
    app_name: str,
    tmp_path: Path,
    with_tag: bool,
) -> None:
    digest = push(docker_client, registry, app_name, "1", "v1")
    move_tag(docker_client, registry, app_name, "1", "v2")  # the tag now names v2
    repo = f"{registry.host}/{app_name}"
    ref = f"{repo}:1@{digest}" if with_tag else f"{repo}@{digest}"
    path = write(tmp_path, "app.yaml", manifest(app_name, ref, "Always"))

    code, out = apply(path)

    assert code == 0, out
    name = f"{app_name}-web-1"
    assert docker_client.containers.get(name).exec_run("cat /version").output.startswith(b"v1")
    # Pinned: a second apply pulls nothing that could move, and replaces nothing.
    code, out = apply(path)
    assert code == 0 and "up to date" in out, out
