"""`dockyard run` with DockerHosts: replicas placed on several real engines, a host going
dark (Degraded, then rescheduled after its grace), and coming back (cleaned up)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from controller_fixtures import run_controller
from engine_instance import PrivateEngine, private_engines
from helpers import BASE_IMAGE, unique_name
from manifests import host_manifests
from waiting import eventually

pytestmark = pytest.mark.engine


@pytest.fixture
def two_engines() -> Iterator[dict[str, PrivateEngine]]:
    with private_engines("edge-a", "edge-b") as started:
        yield started


def manifests(folder: Path, app: str, engines: dict[str, PrivateEngine]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.yaml").write_text(host_manifests(engines))
    (folder / "app.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: dockyard.dev/v1alpha1
            kind: App
            metadata: {{name: {app}}}
            spec:
              placement:
                hostSelector: {{matchLabels: {{role: edge}}}}
                reschedule: true
                rescheduleAfter: 1s
              services:
                - name: web
                  image: {BASE_IMAGE}
                  pullPolicy: Never
                  command: [sleep, "3600"]
                  init: true
                  restart: always
                  stopGracePeriod: 1s
                  replicas: 2
            """
        )
    )


def names_on(engine: PrivateEngine, app: str) -> list[str]:
    try:
        client = docker.DockerClient(base_url=engine.url, timeout=5)
        found = sorted(
            c.name for c in client.containers.list(filters={"label": f"dev.dockyard.app={app}"})
        )
        client.close()
        return found
    except docker.errors.DockerException:
        return ["<unreachable>"]


def condition(controller, app: str, ctype: str) -> dict:
    status = controller.statuses().get(app, {})
    return next((c for c in status.get("conditions", []) if c["type"] == ctype), {})


async def both_replicas_up(controller, a: PrivateEngine, b: PrivateEngine, app: str) -> None:
    """web-1 runs on edge-a, web-2 on edge-b, and the app is Ready."""
    await eventually(
        lambda: names_on(a, app) == [f"{app}-web-1"] and names_on(b, app) == [f"{app}-web-2"],
        timeout=60,
    )
    await eventually(lambda: condition(controller, app, "Ready").get("status") == "True")


async def test_replicas_spread_reschedule_from_a_dark_host_and_do_not_move_back(
    two_engines: dict[str, PrivateEngine], tmp_path: Path
):
    app = unique_name("fleet")
    folder = tmp_path / "apps"
    manifests(folder, app, two_engines)
    a, b = two_engines["edge-a"], two_engines["edge-b"]
    async with run_controller(folder, tmp_path / "state", resync=1.0) as controller:
        await both_replicas_up(controller, a, b, app)
        placement = controller.statuses()[app]["placement"]
        assert placement == {"edge-a": [f"{app}-web-1"], "edge-b": [f"{app}-web-2"]}

        b.stop()  # edge-b goes dark
        await eventually(
            lambda: (
                condition(controller, app, "Degraded").get("reason") == "HostUnreachable"
                or names_on(a, app) == [f"{app}-web-1", f"{app}-web-2"]
            ),
            timeout=30,
        )
        # After the 1 s grace, replica 2 is rescheduled onto edge-a.
        await eventually(lambda: names_on(a, app) == [f"{app}-web-1", f"{app}-web-2"], timeout=60)
        b.start()  # edge-b returns, still running its old replica 2 (restart: always)
        # The returning host is reconciled: the replica that moved away is removed there,
        # and nothing moves back.
        await eventually(lambda: names_on(b, app) == [], timeout=60)
        assert names_on(a, app) == [f"{app}-web-1", f"{app}-web-2"]
        await eventually(lambda: condition(controller, app, "Ready").get("status") == "True")


async def test_without_reschedule_a_dark_hosts_replicas_are_unknown_and_app_degraded(
    two_engines: dict[str, PrivateEngine], tmp_path: Path
):
    app = unique_name("fleet")
    folder = tmp_path / "apps"
    manifests(folder, app, two_engines)
    text = (folder / "app.yaml").read_text().replace("reschedule: true", "reschedule: false")
    (folder / "app.yaml").write_text(text)
    a, b = two_engines["edge-a"], two_engines["edge-b"]
    async with run_controller(folder, tmp_path / "state", resync=1.0) as controller:
        # Both hosts answer and both replicas run before edge-b goes dark (a host whose
        # event stream has not connected yet is reported unreachable too).
        await both_replicas_up(controller, a, b, app)
        b.stop()
        await eventually(
            lambda: condition(controller, app, "Degraded").get("reason") == "HostUnreachable",
            timeout=30,
        )
        message = condition(controller, app, "Degraded")["message"]
        assert "edge-b is unreachable: 1 replica(s) unknown" in message
        ready = condition(controller, app, "Ready")
        assert ready["status"] == "False" and f"{app}-web-2 is unknown" in ready["message"]
        assert names_on(a, app) == [f"{app}-web-1"]  # nothing moved
        b.start()
        await eventually(
            lambda: condition(controller, app, "Ready").get("status") == "True", timeout=60
        )
        assert names_on(b, app) == [f"{app}-web-2"]
