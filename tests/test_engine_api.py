"""The engine package's public surface, and the parts of the client that need no engine."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import dockyard.engine
from dockyard.engine.container_body import container_body
from dockyard.engine.drift import drift
from dockyard.state.desired import ContainerConfig, DesiredContainer, MountSpec, PortSpec


def test_importing_the_engine_package_loads_no_docker_sdk() -> None:
    code = (
        "import sys, dockyard.engine\n"
        "from dockyard.engine import EngineError\n"
        "print(sorted(m for m in sys.modules if m == 'docker' or m.startswith('docker.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for name in dockyard.engine.__all__:
        assert getattr(dockyard.engine, name) is not None
    assert "Engine" in dir(dockyard.engine)
    assert dockyard.engine.Engine.__module__ == "dockyard.engine.client"


def _desired() -> DesiredContainer:
    config = ContainerConfig(
        image="shop/web:1.4",
        command=("httpd", "-f"),
        entrypoint=None,
        env=(("MODE", "one"),),
        working_dir=None,
        user=None,
        hostname=None,
        labels=(),
        ports=(PortSpec(80, "tcp", 8080, None),),
        mounts=(MountSpec("volume", "/data", "shop_data"),),
        networks=(),
        network_mode=None,
        healthcheck=None,
        restart="on-failure:3",
        cpus=None,
        memory=None,
        memory_reservation=None,
        pids=None,
        stop_grace_period=None,
        stop_signal=None,
        init=None,
        cap_add=(),
        cap_drop=(),
        devices=(),
        read_only=False,
        privileged=False,
    )
    return DesiredContainer("shop", "web", 1, "shop-web-1", config, "abc", "IfNotPresent")


def _inspect(d: DesiredContainer, **config: Any) -> dict[str, Any]:
    """What the engine shows back for a container created from dockyard's body."""
    body = container_body(d.config, d.labels, [])
    cfg = {"Image": body["Image"], "Cmd": body["Cmd"], "Env": [*body["Env"], "PATH=/bin"]}
    cfg.update(config)
    return {"Config": cfg, "HostConfig": body["HostConfig"], "Mounts": [{"Destination": "/data"}]}


def test_a_container_as_created_has_no_drift_and_image_env_is_allowed() -> None:
    d = _desired()
    assert drift(_inspect(d), d, False, lambda image: frozenset({"PATH=/bin"})) is None


def test_drift_names_the_changed_environment_variable() -> None:
    d = _desired()
    reason = drift(_inspect(d, Env=["MODE=two"]), d, False, lambda image: frozenset())
    assert reason == "environment differs (MODE)"
