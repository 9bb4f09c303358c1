"""Rollout waves across hosts (`update.hosts`), with three real engines: the canary host
first, then one host at a time; a failing canary halts the wave and the others keep the
old revision."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from controller_fixtures import run_controller, settle
from engine_instance import PrivateEngine, private_engines
from helpers import BASE_IMAGE
from manifests import host_manifests
from waiting import eventually

pytestmark = pytest.mark.engine

HOSTS = ("wave-a", "wave-b", "wave-c")


@pytest.fixture(scope="module")
def three_engines() -> Iterator[dict[str, PrivateEngine]]:
    with private_engines(*HOSTS) as started:
        yield started


def write_manifests(
    folder: Path, app: str, engines: dict[str, PrivateEngine], version: str, healthy: bool = True
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.yaml").write_text(host_manifests(engines))
    check = "true" if healthy else "false"
    tmp = folder / ".app.yaml.tmp"
    tmp.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: dockyard.dev/v1alpha1
            kind: App
            metadata: {{name: {app}}}
            spec:
              placement:
                hostSelector: {{matchLabels: {{role: edge}}}}
                mode: global
              services:
                - name: web
                  image: {BASE_IMAGE}
                  pullPolicy: Never
                  command: [sleep, "3600"]
                  init: true
                  restart: always
                  stopGracePeriod: 1s
                  env: [{{name: VERSION, value: "{version}"}}]
                  healthcheck: {{test: [CMD, "{check}"], interval: 300ms, retries: 1}}
                  update:
                    order: stop-first
                    monitor: 300ms
                    hosts: {{canary: [wave-c], parallelism: 1}}
            """
        )
    )
    tmp.replace(folder / "app.yaml")


def web_on(engine: PrivateEngine, app: str) -> dict[str, Any]:
    """The app's web container on one engine: id, VERSION, created time."""
    client = docker.DockerClient(base_url=engine.url, timeout=10)
    try:
        found = client.containers.list(all=True, filters={"label": f"dev.dockyard.app={app}"})
        if len(found) != 1:
            return {}
        c = found[0]
        env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
        return {
            "id": c.id,
            "version": env.get("VERSION"),
            "created": c.attrs["Created"],
            "status": c.status,
        }
    finally:
        client.close()


async def test_canary_first_then_one_host_at_a_time_and_a_failing_canary_halts(
    three_engines: dict[str, PrivateEngine], app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write_manifests(folder, app_name, three_engines, "1")
    async with run_controller(folder, tmp_path / "state") as controller:

        def everywhere(version: str) -> bool:
            return all(
                web_on(e, app_name).get("version") == version for e in three_engines.values()
            )

        await eventually(lambda: everywhere("1"), timeout=60)
        await settle(controller)

        write_manifests(folder, app_name, three_engines, "2")
        await eventually(lambda: everywhere("2"), timeout=60)
        await settle(controller)
        created = {name: web_on(e, app_name)["created"] for name, e in three_engines.items()}
        # The canary first, then the others one after another (RFC 3339 sorts as text).
        assert created["wave-c"] < created["wave-a"] < created["wave-b"], created

        before = {name: web_on(e, app_name)["id"] for name, e in three_engines.items()}
        write_manifests(folder, app_name, three_engines, "3", healthy=False)

        def halted() -> bool:
            status = controller.statuses().get(app_name, {})
            degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
            return degraded["reason"] == "WaveHalted"

        await eventually(halted, timeout=60)
        await settle(controller, quiet=1.0)
        status = controller.statuses()[app_name]
        message = next(c for c in status["conditions"] if c["type"] == "Degraded")["message"]
        assert "wave-c" in message and "wave-a, wave-b keep(s) the old revision" in message
        after = {name: web_on(e, app_name) for name, e in three_engines.items()}
        # Never touched: same containers, old version.
        assert after["wave-a"]["id"] == before["wave-a"] and after["wave-a"]["version"] == "2"
        assert after["wave-b"]["id"] == before["wave-b"] and after["wave-b"]["version"] == "2"
        # The canary failed its monitor and got its old container back.
        assert after["wave-c"]["version"] == "2" and after["wave-c"]["status"] == "running"
        assert controller.history.get(app_name).revisions[-1].outcome == "halted"
        # Not retried while the spec stays the same.
        controller.queue.add(app_name)
        await settle(controller, quiet=1.0)
        assert {name: web_on(e, app_name)["id"] for name, e in three_engines.items()} == {
            name: a["id"] for name, a in after.items()
        }
