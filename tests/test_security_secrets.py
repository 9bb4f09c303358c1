"""Secrets from a store's own CLI (`command:`), with a small script standing in for the
store (`aws`, `vault`, `op` … are not installed here): the value reaches the container,
a rotated value rolls out on `refresh`, a failing store keeps what runs and says which
secret and which exit code, and neither the value nor the store's stderr is shown."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from docker import DockerClient

from controller_fixtures import dockyard_run
from helpers import DOCKYARD
from manifests import service, write
from waiting import eventually

STORE = """\
#!{python}
# Stand-in for a secret store's CLI: prints the value kept in {data}; exits with the code
# in {data}.fail when that file exists, after writing the value to stderr (as a careless
# CLI might in an error).
import pathlib, sys
data = pathlib.Path({data!r})
value = data.read_text()
fail = data.with_suffix(".fail")
if fail.exists():
    sys.stderr.write("error: cannot fetch " + value + "\\n")
    sys.exit(int(fail.read_text()))
(data.parent / "calls").open("a").write(" ".join(sys.argv[1:]) + "\\n")
print(value)
"""


def stand_in_store(folder: Path, value: str) -> tuple[Path, Path]:
    """(the program, the file holding the current value)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "value.txt"
    data.write_text(value)
    program = folder / "fake-store"
    program.write_text(STORE.format(python=sys.executable, data=str(data)))
    program.chmod(0o755)
    return program, data


def app_with_secret(app: str, secret: dict[str, Any]) -> str:
    svc = service("web", secrets=[{"name": "api", "mountPath": "/run/secrets/api"}])
    doc = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": app},
        "spec": {"services": [svc], "secrets": [{"name": "api", **secret}]},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def secret_in(client: DockerClient, app: str) -> str | None:
    try:
        container = client.containers.get(f"{app}-web-1")
    except Exception:
        return None
    if container.status != "running":
        return None
    code, out = container.exec_run(["cat", "/run/secrets/api"])
    return out.decode() if code == 0 else None


def dockyard(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DOCKYARD_POLICY"}
    cmd = [str(DOCKYARD), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def test_apply_mounts_the_value_the_store_command_prints(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    program, _ = stand_in_store(tmp_path / "store", "s3cr3t-value")
    secret = {"command": [str(program), "get", "--id", "shop/api"]}
    app_file = write(tmp_path / "apps", "app.yaml", app_with_secret(app_name, secret))
    result = dockyard("apply", "-f", str(app_file))
    assert result.returncode == 0, result.stderr
    assert secret_in(docker_client, app_name) == "s3cr3t-value"  # one trailing newline dropped
    assert (tmp_path / "store" / "calls").read_text() == "get --id shop/api\n"  # no shell
    assert "s3cr3t-value" not in result.stdout + result.stderr


def test_a_command_written_as_a_string_is_refused(tmp_path: Path):
    secret = {"command": "fake-store get | tee /tmp/x"}
    app_file = write(tmp_path, "app.yaml", app_with_secret("cmd", secret))
    result = dockyard("validate", "-f", str(app_file))
    assert result.returncode == 1
    assert "spec.secrets[api].command: write the command as a list" in result.stderr


def test_a_rotated_value_rolls_out_and_a_failing_store_keeps_what_runs(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    program, data = stand_in_store(tmp_path / "store", "first-value")
    secret = {"command": [str(program)], "refresh": "300ms", "timeout": "5s"}
    folder = tmp_path / "apps"
    write(folder, "app.yaml", app_with_secret(app_name, secret))
    args = [str(folder), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")]
    with dockyard_run(*args, "--interval", "100ms") as proc:
        asyncio.run(eventually(lambda: proc.ready(app_name), timeout=30))
        assert secret_in(docker_client, app_name) == "first-value"

        data.write_text("rotated-value")  # the store's value changes; no file of ours does
        asyncio.run(
            eventually(lambda: secret_in(docker_client, app_name) == "rotated-value", timeout=30)
        )
        running = docker_client.containers.get(f"{app_name}-web-1").id

        data.with_suffix(".fail").write_text("3")
        data.write_text("never-shown-value")

        def reported() -> str:
            error = proc.status()[app_name]["lastError"]
            assert "secret api" in error and "fake-store exited 3" in error
            return str(error)

        error = asyncio.run(eventually(reported, timeout=30))
        assert docker_client.containers.get(f"{app_name}-web-1").id == running
        assert secret_in(docker_client, app_name) == "rotated-value"
        for shown in (error, proc.log):
            assert "never-shown-value" not in shown and "cannot fetch" not in shown
            assert "first-value" not in shown and "rotated-value" not in shown

        data.with_suffix(".fail").unlink()  # the store answers again: its value rolls out
        asyncio.run(
            eventually(
                lambda: secret_in(docker_client, app_name) == "never-shown-value", timeout=30
            )
        )


def test_the_policy_refuses_a_store_program_it_does_not_name(tmp_path: Path):
    program, _ = stand_in_store(tmp_path / "store", "v")
    app_file = write(
        tmp_path / "apps", "app.yaml", app_with_secret("cmd", {"command": [str(program)]})
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text("kind: Policy\nspec: {commands: [vault]}\n")
    result = dockyard("validate", "-f", str(app_file), "--policy", str(policy))
    assert result.returncode == 1
    assert f"spec.secrets[api].command: refused by policy {policy}: running {program}" in (
        result.stderr
    )
    assert not (tmp_path / "store" / "calls").exists()  # refused before it ran


def test_apps_from_kubernetes_may_not_run_commands(tmp_path: Path):
    from dockyard.spec.load import parse_app

    program, _ = stand_in_store(tmp_path / "store", "v")
    doc = yaml.safe_load(app_with_secret("k8s", {"command": [str(program)]}))
    errors: list[Any] = []
    loaded = parse_app(doc, "k8s", tmp_path, {}, errors, kubernetes_secrets=lambda n, k: b"")
    assert loaded is None
    assert [(e.path, "not run for Apps from Kubernetes" in e.message) for e in errors] == [
        ("spec.secrets[api].command", True)
    ]
    assert not (tmp_path / "store" / "calls").exists()


async def test_a_git_source_reads_a_rotated_value_without_a_new_commit(tmp_path: Path):
    from dockyard.sources.git import GitSource
    from test_sources import Repo, running

    program, data = stand_in_store(tmp_path / "store", "one")
    repo = Repo(tmp_path / "repo")
    secret = {"command": [str(program)], "refresh": "100ms"}
    repo.write("app.yaml", app_with_secret("gitapp", secret))
    sha = repo.commit()
    source = GitSource(repo.url, "main", ".", interval=0.05, cache_dir=tmp_path / "c", environ={})
    async with running(source) as updates:
        first = await updates.next()
        assert first.revision == sha and first.apps is not None
        data.write_text("two")
        second = await updates.next()
        assert second.revision == sha and second.apps is not None
        assert second.apps[0].secrets["api"].reveal() == b"two"
        data.with_suffix(".fail").write_text("7")
        failed = await updates.next()
        assert failed.apps is None and failed.error is not None
        assert "secret api" in failed.error and "fake-store exited 7" in failed.error
        await updates.assert_quiet(0.5)  # the same failure is reported once
