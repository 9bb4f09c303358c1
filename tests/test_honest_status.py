"""What did not happen is never reported as done: a one-shot container that failed makes
its app Degraded, with the container and its exit code, never Ready or 'converging'."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker import DockerClient

from controller_fixtures import condition, is_ready, run_controller
from manifests import manifest, service, write
from waiting import eventually

pytestmark = pytest.mark.engine


async def test_a_one_shot_container_that_failed_makes_the_app_degraded(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    web = service("web")
    job = service("migrate", ["sh", "-c", "exit 3"], restart="no")
    folder = tmp_path / "apps"
    write(folder, "app.yaml", manifest(app_name, [web, job]))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(
            lambda: condition(controller, app_name, "Degraded")[:2] == ("True", "ContainerFailed"),
            timeout=30,
        )
        message = condition(controller, app_name, "Degraded")[2]
        assert f"{app_name}-migrate-1 exited (exit code 3)" in message
        assert not is_ready(controller, app_name)


async def test_a_one_shot_container_that_succeeded_is_ready(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    job = service("migrate", ["sh", "-c", "exit 0"], restart="no")
    folder = tmp_path / "apps"
    write(folder, "app.yaml", manifest(app_name, [service("web"), job]))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        assert condition(controller, app_name, "Degraded")[0] == "False"
