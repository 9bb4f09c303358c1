"""The command line as a user meets it: exit codes, output, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docker import DockerClient
from typer.testing import CliRunner

from dockyard.cli.main import app
from helpers import BASE_IMAGE
from manifests import write

pytestmark = pytest.mark.engine
runner = CliRunner()


def simple(name: str, command: str = "sleep 3600") -> str:
    return f"""
    apiVersion: dockyard.dev/v1alpha1
    kind: App
    metadata: {{name: {name}}}
    spec:
      services:
        - name: api
          image: {BASE_IMAGE}
          pullPolicy: Never
          command: [sh, -c, "{command}"]
          init: true
          restart: always
          stopGracePeriod: 1s
          volumeMounts: [{{volume: data, mountPath: /data}}]
      volumes: [{{name: data}}]
    """


def run(*args: str):
    return runner.invoke(app, list(args))


def test_diff_json_lists_operations_and_exit_code_says_changes(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = write(tmp_path, "app.yaml", simple(app_name))
    result = run("diff", "-f", str(path), "-o", "json")
    assert result.exit_code == 2, result.output
    data = json.loads(result.output)
    assert data["changes"] is True
    by_id = {op["id"]: op for op in data["operations"]}
    start = by_id[f"start-container:{app_name}-api-1"]
    assert start["dependsOn"] == [f"create-container:{app_name}-api-1"]
    assert by_id[f"create-container:{app_name}-api-1"]["cause"] == "no existing container"
    # `plan` is an alias; nothing was applied by either.
    assert run("plan", "-f", str(path)).exit_code == 2
    assert docker_client.containers.list(all=True, filters={"name": app_name}) == []

    applied = run("apply", "-f", str(path))
    assert applied.exit_code == 0, applied.output
    assert f"create container {app_name}-api-1" in applied.output
    assert "no existing container" in applied.output
    assert "4 done, 0 failed, 0 skipped" in applied.output
    assert run("diff", "-f", str(path)).exit_code == 0


def test_status_shows_services_and_containers(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = write(tmp_path, "app.yaml", simple(app_name))
    assert run("apply", "-f", str(path)).exit_code == 0
    result = run("status", app_name, "-o", "json")
    assert result.exit_code == 0
    report = json.loads(result.output)[app_name]
    assert report["api"]["running"] == 1
    assert report["api"]["containers"][0]["name"] == f"{app_name}-api-1"
    text = run("status", app_name)
    assert f"{app_name}-api-1" in text.output and "running" in text.output
    assert run("status", "no-such-app").exit_code == 1


def test_delete_keeps_named_volumes_unless_asked(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = write(tmp_path, "app.yaml", simple(app_name))
    assert run("apply", "-f", str(path)).exit_code == 0
    result = run("delete", app_name)
    assert result.exit_code == 0, result.output
    assert "kept volume(s)" in result.output
    assert docker_client.containers.list(all=True, filters={"name": app_name}) == []
    assert docker_client.volumes.get(f"{app_name}_data")
    result = run("delete", app_name, "--volumes")
    assert result.exit_code == 0
    assert docker_client.volumes.list(filters={"name": f"{app_name}_data"}) == []


def test_invalid_manifest_is_reported_without_traceback(tmp_path: Path):
    path = write(
        tmp_path,
        "app.yaml",
        """
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata: {name: bad}
        spec:
          services:
            - name: api
              image: x
              replicas: -1
              stopGracePeriod: soon
        """,
    )
    for command in ("validate", "apply", "diff"):
        result = run(command, "-f", str(path))
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert "spec.services[api].replicas" in result.output
        assert "spec.services[api].stopGracePeriod" in result.output


def test_validate_accepts_the_hello_example():
    example = Path(__file__).resolve().parents[1] / "examples" / "hello"
    result = run("validate", "-f", str(example))
    assert result.exit_code == 0, result.output
    assert "App hello is valid" in result.output


def test_apply_failure_exits_non_zero_with_reason(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = write(
        tmp_path, "app.yaml", simple(app_name).replace(BASE_IMAGE, "dockyard.local/nope:1")
    )
    result = run("apply", "-f", str(path))
    assert result.exit_code == 1
    assert "missing image dockyard.local/nope:1" in result.output
    assert "pullPolicy is Never" in result.output
    assert "Traceback" not in result.output
