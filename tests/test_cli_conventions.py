"""What people bring from docker and kubectl: `-f -`, `-o json|yaml`, `delete -f`, `ps`,
`logs`, `apply --wait`; on the real engine, and across DockerHosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml
from docker import DockerClient
from typer.testing import CliRunner

from dockyard.cli.main import app
from engine_instance import PrivateEngine, private_engines
from helpers import BASE_IMAGE, unique_name

pytestmark = pytest.mark.engine


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input)


def manifest(name: str, command: str = "sleep 3600", replicas: int = 1, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata: {{name: {name}}}
        spec:
          services:
            - name: web
              image: {BASE_IMAGE}
              pullPolicy: Never
              command: [sh, -c, "{command}"]
              init: true
              stopGracePeriod: 1s
              replicas: {replicas}
              labels: {{dev.dockyard.test: "1"}}
        """) + textwrap.indent(textwrap.dedent(extra), "      ")


def names(client: DockerClient, app_name: str) -> list[str]:
    found = client.containers.list(all=True, filters={"label": f"dev.dockyard.app={app_name}"})
    return sorted(c.name for c in found)


def test_apply_dash_f_dash_reads_the_manifest_from_stdin(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    result = run("apply", "-q", "-f", "-", input=manifest(app_name))
    assert result.exit_code == 0, result.output
    assert names(docker_client, app_name) == [f"{app_name}-web-1"]
    assert not [p for p in Path.cwd().iterdir() if p.name.startswith(".dockyard-stdin-")]


def test_stdin_errors_are_named_stdin():
    result = run("validate", "-f", "-", input=manifest("bad") + "      bogus: 1\n")
    assert result.exit_code == 1
    assert "<stdin>:" in result.output and "bogus" in result.output


def test_validate_reports_as_json_and_yaml(tmp_path: Path):
    path = tmp_path / "app.yaml"
    path.write_text(manifest("shop", replicas=2))
    as_json = json.loads(run("validate", "-f", str(path), "-o", "json").stdout)
    assert as_json == {
        "valid": True,
        "apps": [{"name": "shop", "source": str(path), "services": ["web"]}],
        "hosts": [],
    }
    assert yaml.safe_load(run("validate", "-f", str(path), "-o", "yaml").stdout) == as_json


def test_apply_json_report_lists_operations_then_nothing(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = tmp_path / "app.yaml"
    path.write_text(manifest(app_name))
    first = run("apply", "-f", str(path), "-o", "json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["apps"], report["changed"], report["ok"]) == ([app_name], True, True)
    kinds = {op["kind"] for op in report["operations"]}
    assert {"create-container", "start-container"} <= kinds, kinds
    assert all(op["status"] == "done" for op in report["operations"])
    again = json.loads(run("apply", "-f", str(path), "-o", "json").stdout)
    assert (again["changed"], again["operations"]) == (False, [])


def test_apply_wait_returns_once_healthy(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    check = """\
        healthcheck:
          test: [CMD, test, -f, /tmp/ok]
          interval: 1s
          retries: 30
    """
    path = tmp_path / "app.yaml"
    path.write_text(manifest(app_name, "sleep 2; touch /tmp/ok; exec sleep 3600", extra=check))
    result = run("apply", "-f", str(path), "--wait", "--timeout", "60s")
    assert result.exit_code == 0, result.output
    assert "every replica is ready" in result.output
    (container,) = docker_client.containers.list(filters={"label": f"dev.dockyard.app={app_name}"})
    assert container.attrs["State"]["Health"]["Status"] == "healthy"


def test_apply_wait_names_what_is_not_ready_at_the_timeout(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    check = """\
        healthcheck:
          test: [CMD, "false"]
          interval: 1s
          retries: 100
    """
    path = tmp_path / "app.yaml"
    path.write_text(manifest(app_name, extra=check))
    result = run("apply", "-q", "-f", str(path), "--wait", "--timeout", "2s")
    assert result.exit_code == 1
    assert f"not ready after 2s: {app_name}-web-1 (starting)" in result.output


def test_ps_lists_every_replica(docker_client: DockerClient, app_name: str, tmp_path: Path):
    path = tmp_path / "app.yaml"
    path.write_text(manifest(app_name, replicas=2))
    assert run("apply", "-q", "-f", str(path)).exit_code == 0
    rows = json.loads(run("ps", app_name, "-o", "json").stdout)
    assert [(r["name"], r["service"], r["replica"], r["state"]) for r in rows] == [
        (f"{app_name}-web-1", "web", 1, "running"),
        (f"{app_name}-web-2", "web", 2, "running"),
    ]
    text = run("ps", app_name).stdout
    assert f"{app_name}-web-2" in text and "running" in text


def test_logs_prefix_each_line_with_its_replica(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = tmp_path / "app.yaml"
    path.write_text(manifest(app_name, "echo hello from $(hostname); exec sleep 3600", 2))
    assert run("apply", "-q", "-f", str(path), "--wait").exit_code == 0
    mine = docker_client.containers.list(filters={"label": f"dev.dockyard.app={app_name}"})
    by_id = {c.name: c.id[:12] for c in mine}
    result = run("logs", app_name, "web")
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == [
        f"web-1  | hello from {by_id[f'{app_name}-web-1']}",
        f"web-2  | hello from {by_id[f'{app_name}-web-2']}",
    ]


def test_logs_follow_prints_new_lines_as_they_come(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = tmp_path / "app.yaml"
    path.write_text(manifest(app_name, "while true; do echo tick; sleep 0.2; done"))
    assert run("apply", "-q", "-f", str(path)).exit_code == 0
    probe = "import sys; from dockyard.cli.startup import main; sys.argv[0]='dockyard'; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", probe, "logs", app_name, "-f", "--tail", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert first == second == "web-1  | tick\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_delete_dash_f_removes_what_the_manifest_names(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = tmp_path / "app.yaml"
    path.write_text(manifest(app_name))
    assert run("apply", "-q", "-f", str(path)).exit_code == 0
    result = run("delete", "-f", str(path), "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and [d["app"] for d in report["deleted"]] == [app_name]
    assert names(docker_client, app_name) == []
    assert "nothing of app" in run("delete", app_name).output


def test_delete_needs_an_app_or_manifests():
    result = run("delete")
    assert result.exit_code == 2
    assert "name one app (dockyard delete APP) or give manifests (-f FILE|DIR)" in result.output


# ---- across DockerHosts -----------------------------------------------------------------


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, PrivateEngine]]:
    with private_engines("conv-a", "conv-b") as started:
        yield started


def fleet_files(tmp_path: Path, engines: dict[str, PrivateEngine], name: str) -> Path:
    hosts = "---\n".join(
        f"apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
        f'metadata: {{name: {h}, labels: {{role: conv}}}}\nspec: {{url: "{e.url}"}}\n'
        for h, e in engines.items()
    )
    app_doc = manifest(name, "echo up; exec sleep 3600", replicas=2).replace(
        "spec:\n", "spec:\n  placement:\n    hostSelector: {matchLabels: {role: conv}}\n", 1
    )
    folder = tmp_path / "fleet"
    folder.mkdir()
    (folder / "hosts.yaml").write_text(hosts)
    (folder / "app.yaml").write_text(app_doc)
    return folder


def test_ps_logs_and_delete_cover_every_host(engines: dict[str, PrivateEngine], tmp_path: Path):
    name = unique_name("conv")
    folder = fleet_files(tmp_path, engines, name)
    try:
        applied = run("apply", "-q", "-f", str(folder))
        assert applied.exit_code == 0, applied.output
        rows = json.loads(run("ps", name, "--filename", str(folder), "-o", "json").stdout)
        assert sorted((r["host"], r["name"]) for r in rows) == [
            ("conv-a", f"{name}-web-1"),
            ("conv-b", f"{name}-web-2"),
        ]
        lines = run("logs", name, "--filename", str(folder)).stdout.splitlines()
        assert sorted(lines) == ["conv-a/web-1  | up", "conv-b/web-2  | up"]
        deleted = run("delete", "-f", str(folder), "-o", "json")
        assert deleted.exit_code == 0, deleted.output
        report = json.loads(deleted.stdout)
        assert sorted(d["host"] for d in report["deleted"]) == ["conv-a", "conv-b"]
        for engine in engines.values():
            client = docker.DockerClient(base_url=engine.url, timeout=10)
            assert names(client, name) == []
            client.close()
    finally:
        run("delete", "-f", str(folder))
