"""A source whose manifests never loaded (issue 16): its apps still have a status that
says why, and a file too broken to name its app still shows where a user looks."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from docker import DockerClient

from controller_fixtures import condition, dockyard_run, is_ready, run_controller
from helpers import DOCKYARD
from manifests import app_doc, write
from waiting import eventually

pytestmark = pytest.mark.engine

SECRET_VALUE = "s3cr3t-never-shown"


def _with_secret(name: str, file: str) -> dict[str, object]:
    doc = app_doc(name, secrets=[{"name": "token"}], spec={})
    doc["spec"]["secrets"] = [{"name": "token", "file": file}]  # type: ignore[index]
    return doc


async def test_an_app_whose_secret_file_is_missing_is_degraded_until_it_exists(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "apps"
    write(folder, "app.yaml", _with_secret(app_name, "token.txt"))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: condition(controller, app_name, "Degraded")[0] == "True")
        _, reason, message = condition(controller, app_name, "Degraded")
        assert reason == "InvalidSpec"
        assert str(folder / "app.yaml") in message
        assert "cannot read secret file 'token.txt'" in message
        assert "create the file" in message  # what to do
        assert condition(controller, app_name, "Ready")[:2] == ("False", "InvalidSpec")
        assert controller.statuses()[app_name]["source"] == f"dir:{folder.resolve()}"
        assert not docker_client.containers.list(all=True, filters={"name": app_name})

        (folder / "token.txt").write_text(SECRET_VALUE)
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        assert SECRET_VALUE not in json.dumps(controller.statuses())


async def test_a_broken_app_renamed_leaves_no_status_under_its_old_name(
    app_name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "apps"
    write(folder, "app.yaml", _with_secret(app_name, "token.txt"))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: app_name in controller.statuses())
        write(folder, "app.yaml", _with_secret(f"{app_name}-b", "token.txt"))
        await eventually(lambda: f"{app_name}-b" in controller.statuses())
        assert app_name not in controller.statuses()
        (folder / "app.yaml").unlink()  # deleted: nothing of it is left to report
        await eventually(lambda: not controller.statuses())


def test_a_file_that_does_not_parse_shows_in_sources_and_dockyard_status(
    app_name: str, tmp_path: Path
) -> None:
    folder, state_dir = tmp_path / "apps", tmp_path / "state"
    write(folder, "broken.yaml", "apiVersion: dockyard.dev/v1alpha1\nkind: App\nspec: [\n")
    args = [str(folder), "--listen", "127.0.0.1:0", "--state-dir", str(state_dir)]
    with dockyard_run(*args, "--interval", "100ms") as proc:
        asyncio.run(eventually(lambda: proc.port is not None and proc.token, timeout=30))

        def sources() -> dict[str, dict[str, object]]:
            code, body = proc.get("/sources")
            assert code == 200, body
            return dict(json.loads(body))

        source = f"dir:{folder.resolve()}"
        asyncio.run(eventually(lambda: sources()[source]["error"], timeout=30))
        error = str(sources()[source]["error"])
        assert str(folder / "broken.yaml") in error and "not valid YAML" in error
        assert proc.status() == {}  # no app could be named
        url = f"http://127.0.0.1:{proc.port}"
        result = subprocess.run(
            [str(DOCKYARD), "status", "--controller", url, "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert f"source {source} does not load" in result.stdout
        assert "broken.yaml" in result.stdout and "not valid YAML" in result.stdout
