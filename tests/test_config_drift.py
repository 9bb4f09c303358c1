"""Engine.config_drift: a container's real config against what its labels claim."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker import DockerClient

from dockyard.engine.client import Engine
from dockyard_helpers import apply
from helpers import BASE_IMAGE
from manifests import write

pytestmark = pytest.mark.engine


def test_image_defaults_are_not_drift_but_hand_edits_are(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    ctx = tmp_path / "img"
    ctx.mkdir()
    # An image that sets what a spec usually leaves alone: workdir, user, env, cmd.
    (ctx / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nWORKDIR /srv\nUSER 1000\nENV FROM_IMAGE=1\nCMD ["sleep", "3600"]\n'
    )
    path = write(
        tmp_path,
        "app.yaml",
        f"""
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata: {{name: {app_name}}}
        spec:
          services:
            - name: api
              build: {{context: ./img}}
              env: [{{name: MODE, value: one}}]
              init: true
              stopGracePeriod: 1s
        """,
    )
    applied = apply(path)
    assert applied.result.ok, applied.result.failed
    desired = applied.plans[0].desired.containers[0]
    engine = Engine()
    container = docker_client.containers.get(desired.name)
    assert engine.config_drift(container.id, desired) is None

    # Recreated by hand with dockyard's labels copied but another env value.
    attrs = container.attrs
    container.remove(force=True)
    forged = docker_client.containers.create(
        attrs["Config"]["Image"],
        name=desired.name,
        labels=attrs["Config"]["Labels"],
        environment=["MODE=two"],
    )
    drift = engine.config_drift(forged.id, desired)
    assert drift is not None and "MODE" in drift
