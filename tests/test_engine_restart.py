"""The controller survives its engine going away and coming back (a private dockerd)."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from dockyard.controller.reconciler import Controller, Settings
from dockyard.engine.client import Engine
from dockyard.engine.secrets import SecretStore
from dockyard.sources.folder import FolderSource
from engine_instance import PrivateEngine
from helpers import BASE_IMAGE
from waiting import eventually

pytestmark = pytest.mark.engine


@pytest.fixture
def private_engine() -> Iterator[PrivateEngine]:
    engine = PrivateEngine()
    try:
        engine.start()
        engine.load_base_image()
        yield engine
    finally:
        engine.destroy()


async def test_controller_survives_engine_restart(private_engine: PrivateEngine, tmp_path: Path):
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "app.yaml").write_text(
        textwrap.dedent(
            f"""
            apiVersion: dockyard.dev/v1alpha1
            kind: App
            metadata: {{name: survivor}}
            spec:
              services:
                - name: worker
                  image: {BASE_IMAGE}
                  pullPolicy: Never
                  command: [sleep, "3600"]
                  init: true
                  restart: always
                  stopGracePeriod: 1s
                  networkMode: none
            """
        )
    )
    client = docker.DockerClient(base_url=private_engine.url, timeout=10)
    engine = Engine(private_engine.url, name="private", secrets=SecretStore(str(tmp_path / "s")))
    controller = Controller(
        engine,
        [FolderSource(apps, interval=0.1)],
        Settings(resync=1.0, state_dir=tmp_path / "state", retry_base=0.2, retry_max=1.0),
    )
    task = asyncio.create_task(controller.run())

    def running() -> bool:
        try:
            return client.containers.get("survivor-worker-1").status == "running"
        except docker.errors.DockerException:
            return False

    try:
        await eventually(running, what="first convergence", in_thread=True)
        private_engine.stop()  # the engine and its socket go away
        await eventually(lambda: not controller.cache.connected, what="the loss to be noticed")
        await asyncio.sleep(2)  # reconciles fail and back off meanwhile
        assert not task.done()

        private_engine.start()
        client = docker.DockerClient(base_url=private_engine.url, timeout=10)
        await eventually(lambda: controller.cache.connected, what="reconnection")
        client.containers.get("survivor-worker-1").remove(force=True)
        await eventually(running, what="repair after the engine came back", in_thread=True)
        assert not task.done()
    finally:
        await controller.stop()
        await asyncio.wait_for(task, 30)
