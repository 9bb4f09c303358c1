"""The controller and a real registry: --poll-images rolls out a moved tag; a registry that
cannot be reached leaves running containers alone (IfNotPresent: no error at all;
Always: Degraded with the reason)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from docker import DockerClient
from typer.testing import CliRunner

from controller_fixtures import condition, is_ready, run_controller, settle
from dockyard.cli.main import app
from manifests import manifest, service, write
from registry_fixtures import Registry, image_id, move_tag, push
from waiting import eventually

pytestmark = pytest.mark.engine
runner = CliRunner()


def write_app(folder: Path, name: str, image: str, policy: str) -> Path:
    # No network needed: none is made (bridge address pools are a shared, finite resource).
    services = [service("web", image=image, pullPolicy=policy, networkMode="none")]
    return write(folder, f"{name}.yaml", manifest(name, services))


async def cli_apply(path: Path) -> tuple[int, str]:
    """`dockyard apply -f PATH`, run off this test's event loop (it runs its own)."""
    result = await asyncio.to_thread(runner.invoke, app, ["apply", "-f", str(path)])
    return result.exit_code, result.output


async def test_poll_images_rolls_out_a_tag_that_moved_in_its_registry(
    docker_client: DockerClient, registry: Registry, app_name: str, tmp_path: Path
) -> None:
    push(docker_client, registry, app_name, "1", "v1")
    ref = f"{registry.host}/{app_name}:1"
    folder = tmp_path / "apps"
    write_app(folder, app_name, ref, "Always")
    name = f"{app_name}-web-1"

    async with run_controller(folder, tmp_path / "state", poll_images=0.3) as controller:
        await eventually(lambda: is_ready(controller, app_name))
        first = docker_client.api.inspect_container(name)
        await settle(controller)
        checks = controller.images.checks

        move_tag(docker_client, registry, app_name, "1", "v2")  # pushed elsewhere

        def replaced_by_v2() -> bool:
            now = docker_client.api.inspect_container(name)
            return (
                now["Id"] != first["Id"]
                and now["State"]["Running"]
                and now["Image"] == image_id(docker_client, ref) != first["Image"]
            )

        await eventually(replaced_by_v2, timeout=30)
        await eventually(lambda: is_ready(controller, app_name))
        assert controller.images.checks > checks
        out = docker_client.containers.get(name).exec_run("cat /version").output
        assert out.startswith(b"v2")


async def test_unreachable_registry_with_if_not_present_keeps_running_without_error(
    docker_client: DockerClient, own_registry: Registry, app_name: str, tmp_path: Path
) -> None:
    push(docker_client, own_registry, app_name, "1", "v1")
    ref = f"{own_registry.host}/{app_name}:1"
    folder = tmp_path / "apps"
    path = write_app(folder, app_name, ref, "IfNotPresent")
    code, out = await cli_apply(path)
    assert code == 0, out
    before = docker_client.api.inspect_container(f"{app_name}-web-1")["Id"]

    own_registry.stop()

    code, out = await cli_apply(path)
    assert code == 0 and "up to date" in out, out
    async with run_controller(folder, tmp_path / "state", poll_images=0.2) as controller:
        await eventually(lambda: is_ready(controller, app_name))
        await settle(controller, quiet=0.6)  # a few poll rounds: none concerns IfNotPresent
        assert condition(controller, app_name, "Degraded")[0] == "False"
        assert controller.images.checks == 0
    after = docker_client.api.inspect_container(f"{app_name}-web-1")
    assert (after["Id"], after["State"]["Running"]) == (before, True)


async def test_unreachable_registry_with_always_degrades_the_app_and_touches_nothing(
    docker_client: DockerClient, own_registry: Registry, app_name: str, tmp_path: Path
) -> None:
    push(docker_client, own_registry, app_name, "1", "v1")
    ref = f"{own_registry.host}/{app_name}:1"
    folder = tmp_path / "apps"
    path = write_app(folder, app_name, ref, "Always")
    code, out = await cli_apply(path)
    assert code == 0, out
    before = docker_client.api.inspect_container(f"{app_name}-web-1")["Id"]

    own_registry.stop()

    code, out = await cli_apply(path)
    assert code == 1
    assert f"registry {own_registry.host} is unreachable, pulling {ref}" in out, out
    async with run_controller(folder, tmp_path / "state", poll_images=0.3) as controller:

        def degraded() -> tuple[str, str, str]:
            found = condition(controller, app_name, "Degraded")
            assert found[:2] == ("True", "ImagePullFailed"), found
            return found

        _, _, message = await eventually(degraded)
        assert f"registry {own_registry.host} is unreachable, pulling {ref}" in message
        assert "service web" in message
        assert condition(controller, app_name, "Ready")[0] == "True"
        after = docker_client.api.inspect_container(f"{app_name}-web-1")
        assert (after["Id"], after["State"]["Running"]) == (before, True)

        own_registry.start()  # back, with the same tag: the next poll round clears it
        await eventually(lambda: is_ready(controller, app_name))
    after = docker_client.api.inspect_container(f"{app_name}-web-1")
    assert (after["Id"], after["State"]["Running"]) == (before, True)


async def test_a_tag_moved_to_a_failing_image_rolls_back_and_waits_for_the_next_move(
    docker_client: DockerClient, registry: Registry, app_name: str, tmp_path: Path
) -> None:
    """Watchtower would run the broken image; dockyard rolls it out health-gated, puts the
    old container back, and leaves it alone until the tag moves again."""
    push(docker_client, registry, app_name, "1", "good-1")
    ref = f"{registry.host}/{app_name}:1"
    folder = tmp_path / "apps"
    svc = service(
        "web",
        image=ref,
        pullPolicy="Always",
        networkMode="none",
        healthcheck={"test": ["CMD", "grep", "-q", "good", "/version"], "interval": "300ms"},
        update={"order": "start-first", "monitor": "300ms"},
    )
    write(folder, f"{app_name}.yaml", manifest(app_name, [svc]))
    name = f"{app_name}-web-1"

    async with run_controller(folder, tmp_path / "state", poll_images=0.3) as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        first = docker_client.api.inspect_container(name)

        move_tag(docker_client, registry, app_name, "1", "bad")

        def image_rolled_back() -> bool:
            return condition(controller, app_name, "Degraded")[1] == "ImageRolledBack"

        await eventually(image_rolled_back, timeout=40)
        await settle(controller, quiet=1.5)  # several poll rounds and reconciles
        now = docker_client.api.inspect_container(name)
        assert (now["Id"], now["Image"], now["State"]["Running"]) == (
            first["Id"],
            first["Image"],
            True,
        )
        message = condition(controller, app_name, "Degraded")[2]
        assert "until the tag moves again" in message and "unhealthy" in message
        # The spec's own history is untouched: no rollback to an older spec.
        assert controller.history.get(app_name).pin is None

        move_tag(docker_client, registry, app_name, "1", "good-2")

        def on_good_2() -> bool:
            out = docker_client.containers.get(name).exec_run("cat /version").output
            return out.startswith(b"good-2")

        await eventually(on_good_2, timeout=40)
        await eventually(lambda: is_ready(controller, app_name), timeout=20)
        assert controller.history.get(app_name).bad_images == {}
