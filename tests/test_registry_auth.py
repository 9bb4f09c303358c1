"""A private registry (htpasswd basic auth): credentials from the Docker config file or
from an App's spec.registries secret; wrong or missing credentials are clear errors."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from docker import DockerClient
from typer.testing import CliRunner

from dockyard.cli.main import app
from manifests import write
from registry_fixtures import Registry, container_image, image_id, push

pytestmark = pytest.mark.engine
runner = CliRunner()


def manifest(name: str, image: str, extra: str = "") -> str:
    return f"""
    apiVersion: dockyard.dev/v1alpha1
    kind: App
    metadata: {{name: {name}}}
    spec:
      services:
        - name: web
          image: "{image}"
          command: [sh, -c, "sleep 3600"]
          init: true
          restart: always
          stopGracePeriod: 1s
          networkMode: none   # no network needed: none is made
    {extra}
    """


def docker_config(folder: Path, registry: Registry, password: str) -> Path:
    """A Docker config file as `docker login` writes it: base64 `user:password` in auths."""
    folder.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{registry.username}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
    return folder


def apply(path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["apply", "-f", str(path)])
    return result.exit_code, result.output


@pytest.fixture
def no_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DOCKER_CONFIG pointing at an empty folder: no credentials unless a test writes some."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


def test_pull_with_credentials_from_the_docker_config_file(
    docker_client: DockerClient,
    auth_registry: Registry,
    app_name: str,
    tmp_path: Path,
    no_docker_config: Path,
) -> None:
    push(docker_client, auth_registry, app_name, "1", "v1")
    ref = f"{auth_registry.host}/{app_name}:1"
    docker_config(no_docker_config, auth_registry, str(auth_registry.password))

    code, out = apply(write(tmp_path / "m", "app.yaml", manifest(app_name, ref)))

    assert code == 0, out
    assert container_image(docker_client, f"{app_name}-web-1") == image_id(docker_client, ref)


def test_pull_with_credentials_from_a_secret_in_spec_registries(
    docker_client: DockerClient,
    auth_registry: Registry,
    app_name: str,
    tmp_path: Path,
    no_docker_config: Path,
) -> None:
    push(docker_client, auth_registry, app_name, "1", "v1")
    ref = f"{auth_registry.host}/{app_name}:1"
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "registry-password").write_text(f"{auth_registry.password}\n")
    extra = f"""
      registries:
        - {{server: "{auth_registry.host}", username: alice, passwordSecret: regpass}}
      secrets:
        - {{name: regpass, file: ./registry-password}}
    """

    code, out = apply(write(folder, "app.yaml", manifest(app_name, ref, extra)))

    assert code == 0, out
    assert container_image(docker_client, f"{app_name}-web-1") == image_id(docker_client, ref)
    assert str(auth_registry.password) not in out


def test_wrong_credentials_are_a_clear_error_and_nothing_changes(
    docker_client: DockerClient,
    auth_registry: Registry,
    app_name: str,
    tmp_path: Path,
    no_docker_config: Path,
) -> None:
    push(docker_client, auth_registry, app_name, "1", "v1")
    push(docker_client, auth_registry, app_name, "2", "v2")
    repo = f"{auth_registry.host}/{app_name}"
    docker_config(no_docker_config, auth_registry, str(auth_registry.password))
    assert apply(write(tmp_path / "m", "app.yaml", manifest(app_name, f"{repo}:1")))[0] == 0
    before = docker_client.api.inspect_container(f"{app_name}-web-1")
    wrong = "wrong-" + secrets.token_hex(6)
    docker_config(no_docker_config, auth_registry, wrong)

    code, out = apply(write(tmp_path / "m", "app.yaml", manifest(app_name, f"{repo}:2")))

    assert code == 1
    assert (
        f"registry {auth_registry.host} refused the credentials for user alice "
        f"pulling {repo}:2 (app {app_name}, service web): check the username and password "
        f"in Docker config file {no_docker_config / 'config.json'}"
    ) in " ".join(out.split()), out
    assert wrong not in out
    after = docker_client.api.inspect_container(f"{app_name}-web-1")
    assert (after["Id"], after["Image"], after["State"]["Running"]) == (
        before["Id"],
        before["Image"],
        True,
    )


def test_missing_credentials_say_how_to_give_them(
    docker_client: DockerClient,
    auth_registry: Registry,
    app_name: str,
    tmp_path: Path,
    no_docker_config: Path,
) -> None:
    push(docker_client, auth_registry, app_name, "1", "v1")
    ref = f"{auth_registry.host}/{app_name}:1"

    code, out = apply(write(tmp_path / "m", "app.yaml", manifest(app_name, ref)))

    assert code == 1
    text = " ".join(out.split())
    assert f"registry {auth_registry.host} wants credentials to pull {ref}" in text, out
    assert "spec.registries" in text and f"docker login {auth_registry.host}" in text
    assert not docker_client.containers.list(all=True, filters={"name": f"{app_name}-web-1"})


def test_a_registry_password_secret_must_be_declared(tmp_path: Path) -> None:
    extra = """
      registries:
        - {server: "127.0.0.1:5000", username: alice, passwordSecret: nope}
    """
    path = write(tmp_path, "app.yaml", manifest("regcheck", "127.0.0.1:5000/x:1", extra))

    result = runner.invoke(app, ["validate", "-f", str(path)])

    assert result.exit_code == 1
    assert "spec.registries[127.0.0.1:5000].passwordSecret" in result.output
    assert "no secret named 'nope' in spec.secrets" in result.output
