"""A policy file refuses what a manifest author may not ask for, at validation: before
any Docker call, naming the manifest file, the field and the rule."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker import DockerClient

from controller_fixtures import dockyard_run
from dockyard.spec.models import App
from dockyard.spec.policy import PolicySpec, check
from helpers import APP_LABEL, BASE_IMAGE, DOCKYARD, TEST_LABEL
from waiting import eventually

POLICY = {
    "apiVersion": "dockyard.dev/v1alpha1",
    "kind": "Policy",
    "spec": {
        "hostPaths": [{"path": "/srv/data"}, {"path": "/etc/ssl/certs", "readOnly": True}],
        "capabilities": ["NET_BIND_SERVICE"],
        "devices": ["/dev/ttyUSB0"],
    },
}


def manifest(name: str, **service: Any) -> dict[str, Any]:
    svc = {"name": "web", "image": BASE_IMAGE, "labels": {TEST_LABEL: "1"}, **service}
    return {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {"services": [svc]},
    }


def hostile(name: str) -> dict[str, Any]:
    return manifest(
        name,
        privileged=True,
        networkMode="host",
        capAdd=["NET_ADMIN", "cap_net_bind_service"],
        devices=[{"hostPath": "/dev/mem"}],
        volumeMounts=[
            {"hostPath": "/srv/data/../../etc", "mountPath": "/host-etc"},
            {"hostPath": "/etc/ssl/certs", "mountPath": "/certs"},
            {"hostPath": "/srv/data/uploads", "mountPath": "/uploads"},
        ],
    )


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def dockyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "DOCKYARD_POLICY"}
    return subprocess.run(
        [str(DOCKYARD), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )


def test_apply_refuses_what_the_policy_forbids_before_any_docker_call(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    app_file = write(tmp_path / "apps" / "app.yaml", hostile(app_name))
    policy = write(tmp_path / "policy.yaml", POLICY)
    result = dockyard("apply", "-f", str(app_file), "--policy", str(policy))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    for field, rule in [
        ("privileged", "privileged containers"),
        ("networkMode", "host networking"),
        ("capAdd[NET_ADMIN]", "added capability NET_ADMIN"),
        ("devices[/dev/mem]", "device /dev/mem"),
        ("volumeMounts[/host-etc].hostPath", "host path /etc"),
        ("volumeMounts[/certs].hostPath", "host path /etc/ssl/certs writable"),
    ]:
        refusal = f"spec.services[web].{field}: refused by policy {policy}: {rule}"
        line = next((x for x in lines if refusal in x), "")
        assert line.strip().startswith(str(app_file)), (refusal, result.stderr)  # the file
    assert "cap_net_bind_service" not in result.stderr  # allowed, in any spelling
    assert "/uploads" not in result.stderr  # under an allowed folder
    assert "nothing applied" in result.stderr
    created = docker_client.containers.list(all=True, filters={"label": f"{APP_LABEL}={app_name}"})
    assert created == []
    assert docker_client.networks.list(filters={"label": f"{APP_LABEL}={app_name}"}) == []


def test_without_a_policy_the_same_manifest_validates(tmp_path: Path):
    app_file = write(tmp_path / "app.yaml", hostile("free"))
    assert dockyard("validate", "-f", str(app_file)).returncode == 0


def test_dockyard_policy_variable_applies_to_validate_and_diff(tmp_path: Path):
    app_file = write(tmp_path / "app.yaml", manifest("net", networkMode="host"))
    policy = write(tmp_path / "policy.yaml", {"kind": "Policy"})
    env = {"DOCKYARD_POLICY": str(policy)}
    for command in ("validate", "diff"):
        result = dockyard(command, "-f", str(app_file), env=env)
        assert result.returncode == 1, command
        assert "spec.services[web].networkMode: refused by policy" in result.stderr


def test_a_broken_policy_file_is_reported_and_nothing_is_loaded(tmp_path: Path):
    app_file = write(tmp_path / "app.yaml", manifest("ok"))
    policy = write(tmp_path / "policy.yaml", {"kind": "Policy", "spec": {"hostPath": []}})
    result = dockyard("validate", "-f", str(app_file), "--policy", str(policy))
    assert result.returncode == 2
    assert "spec.hostPath: Extra inputs are not permitted" in result.stderr


def test_dockyard_run_never_creates_a_refused_app(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder / "app.yaml", manifest(app_name, privileged=True))
    policy = write(tmp_path / "policy.yaml", {"kind": "Policy"})
    args = [str(folder), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")]
    with dockyard_run(*args, "--policy", str(policy), "--interval", "100ms") as proc:
        asyncio.run(eventually(lambda: "refused by policy" in proc.log, timeout=30))
        assert "spec.services[web].privileged" in proc.log
        asyncio.run(eventually(lambda: proc.get("/readyz")[0] == 200, timeout=30))
    created = docker_client.containers.list(all=True, filters={"label": f"{APP_LABEL}={app_name}"})
    assert created == []


@pytest.mark.parametrize(
    ("driver_opts", "refused"),
    [
        ({"type": "none", "o": "bind", "device": "/etc"}, True),
        ({"type": "none", "o": "bind", "device": "/srv/data/db"}, False),
        ({"type": "tmpfs", "device": "tmpfs"}, False),
    ],
)
def test_a_bind_volume_of_the_local_driver_is_a_host_path(
    driver_opts: dict[str, str], refused: bool
):
    doc = manifest("vol")
    doc["spec"]["volumes"] = [{"name": "data", "driverOpts": driver_opts}]
    errors = check(App.model_validate(doc), PolicySpec.model_validate(POLICY["spec"]))
    assert [e.path for e in errors] == (["spec.volumes[data].driverOpts.device"] if refused else [])


def test_the_example_policy_allows_the_example_app():
    example = Path(__file__).resolve().parents[1] / "examples" / "policy"
    result = dockyard("validate", "-f", str(example), "--policy", str(example / "policy.yaml"))
    assert result.returncode == 0, result.stderr
    assert "App policy-shop is valid" in result.stdout


def test_an_agent_refuses_a_payload_the_policy_forbids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from dockyard.sources.mqtt.payload import decode_app

    # `dockyard agent --policy FILE` sets the variable for the process.
    monkeypatch.setenv("DOCKYARD_POLICY", str(write(tmp_path / "policy.yaml", POLICY)))
    errors: list[Any] = []
    assert decode_app(hostile("edge"), {}, 1, tmp_path, errors) is None
    assert "app.spec.services[web].privileged" in [e.path for e in errors]
