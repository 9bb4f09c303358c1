"""`dockyard apply` across several real engines: placement, moves, a dark host."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

from cleanup import remove_app
from dockyard.cli.main import app as cli
from engine_instance import PrivateEngine, private_engines
from helpers import BASE_IMAGE, unique_name

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, PrivateEngine]]:
    with private_engines("edge-a", "edge-b") as started:
        yield started


def hosts_yaml(engines: dict[str, PrivateEngine], labels: dict[str, str]) -> str:
    docs = []
    for name, engine in engines.items():
        docs.append(
            textwrap.dedent(
                f"""\
                apiVersion: dockyard.dev/v1alpha1
                kind: DockerHost
                metadata: {{name: {name}, labels: {{role: {labels[name]}}}}}
                spec: {{url: "{engine.url}"}}
                """
            )
        )
    return "---\n".join(docs)


def app_yaml(name: str, replicas: int, mode: str = "replicated") -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata: {{name: {name}}}
        spec:
          placement:
            hostSelector: {{matchLabels: {{role: edge}}}}
            mode: {mode}
          services:
            - name: web
              image: {BASE_IMAGE}
              pullPolicy: Never
              command: [sleep, "3600"]
              init: true
              stopGracePeriod: 1s
              replicas: {replicas}
        """
    )


def running(engines: dict[str, PrivateEngine], app: str) -> dict[str, list[str]]:
    found = {}
    for name, engine in engines.items():
        client = docker.DockerClient(base_url=engine.url, timeout=10)
        found[name] = sorted(
            c.name for c in client.containers.list(filters={"label": f"dev.dockyard.app={app}"})
        )
        client.close()
    return found


def apply(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["apply", *args])
    return result.exit_code, result.output


def test_replicas_spread_follow_labels_and_survive_a_dark_host(
    engines: dict[str, PrivateEngine], tmp_path: Path
):
    name = unique_name("fleet")
    app_file = tmp_path / "app.yaml"
    hosts_file = tmp_path / "hosts.yaml"
    app_file.write_text(app_yaml(name, 3))
    hosts_file.write_text(hosts_yaml(engines, {"edge-a": "edge", "edge-b": "edge"}))

    code, out = apply(tmp_path, "-f", str(app_file), "-f", str(hosts_file))
    assert code == 0, out
    placed = running(engines, name)
    assert placed == {
        "edge-a": [f"{name}-web-1", f"{name}-web-3"],
        "edge-b": [f"{name}-web-2"],
    }
    # Unchanged: nothing to do anywhere.
    code, out = apply(tmp_path, "-f", str(app_file), "-f", str(hosts_file))
    assert code == 0 and "nothing to do" in out

    # edge-b stops matching: its replica moves to edge-a and edge-b is cleaned up.
    hosts_file.write_text(hosts_yaml(engines, {"edge-a": "edge", "edge-b": "core"}))
    code, out = apply(tmp_path, "-f", str(app_file), "-f", str(hosts_file))
    assert code == 0, out
    assert running(engines, name) == {
        "edge-a": [f"{name}-web-1", f"{name}-web-2", f"{name}-web-3"],
        "edge-b": [],
    }

    # Global mode: one replica on every matching host.
    hosts_file.write_text(hosts_yaml(engines, {"edge-a": "edge", "edge-b": "edge"}))
    app_file.write_text(app_yaml(name, 1, mode="global"))
    code, out = apply(tmp_path, "-f", str(app_file), "-f", str(hosts_file))
    assert code == 0, out
    assert running(engines, name) == {"edge-a": [f"{name}-web-1"], "edge-b": [f"{name}-web-1"]}

    # A dark host: reported, its replica unknown, the other host still converged.
    engines["edge-b"].stop()
    try:
        app_file.write_text(app_yaml(name, 1, mode="global").replace('"3600"', '"3601"'))
        code, out = apply(tmp_path, "-f", str(app_file), "-f", str(hosts_file))
        assert code == 1
        assert "host edge-b is unreachable" in out
        assert f"replicas on dark host edge-b are unknown: {name}-web-1" in out
        assert "Traceback" not in out
        assert running({"edge-a": engines["edge-a"]}, name) == {"edge-a": [f"{name}-web-1"]}
    finally:
        engines["edge-b"].start()
    diff = CliRunner().invoke(
        cli, ["diff", "-f", str(app_file), "-f", str(hosts_file), "-o", "json"]
    )
    hosts_in_plan = {op["host"] for op in json.loads(diff.output)["operations"]}
    assert hosts_in_plan == {"edge-b"}  # only the host that was dark has work left
    for engine in engines.values():
        client = docker.DockerClient(base_url=engine.url, timeout=10)
        remove_app(client, name)
        client.close()
