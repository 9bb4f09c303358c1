"""Many agents, update locks and maintenance windows, with a real broker and engine."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker import DockerClient

from cleanup import remove_app
from controller_fixtures import env_of
from dockyard.sources.mqtt.gates import parse_window
from helpers import APP_LABEL, unique_name
from manifests import app_doc, write
from mqtt_fixtures import Broker, agent_host, broker, on_agent, publish, run_agent, run_publisher
from waiting import eventually

__all__ = ["broker"]

pytestmark = pytest.mark.engine

# networkMode none: no network per app, so many apps share the engine's address pools.
EDGE = {"networkMode": "none"}


@pytest.fixture
def apps(docker_client: DockerClient) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        remove_app(docker_client, name)


async def test_fifty_agents_all_converge(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    """50 agents in this process share the engine, each its own app (its label scope)."""
    count = 50
    prefix = unique_name("fleet")
    names = [f"{prefix}-{i}" for i in range(1, count + 1)]
    apps.extend(names)
    docs: list[dict[str, Any]] = [agent_host(f"edge-{i}") for i in range(1, count + 1)]
    docs += [on_agent(app_doc(n, "one", **EDGE), f"edge-{i}") for i, n in enumerate(names, 1)]
    write(tmp_path / "src", "fleet.yaml", yaml.safe_dump_all(docs, sort_keys=False))
    async with contextlib.AsyncExitStack() as stack:
        _, pub = await stack.enter_async_context(
            run_publisher(broker, tmp_path / "src", tmp_path / "controller")
        )
        agents = [
            await stack.enter_async_context(
                run_agent(broker, f"edge-{i}", tmp_path / f"agent-{i}", heartbeat=30.0)
            )
            for i in range(1, count + 1)
        ]
        await eventually(lambda: all(a.converged for a in agents), timeout=120, interval=0.5)
        # Sparse: no inspect per container, which another app's removal could race.
        running = docker_client.containers.list(filters={"label": f"{APP_LABEL}"}, sparse=True)
        assert {f"{n}-web-1" for n in names} <= {c.attrs["Names"][0].lstrip("/") for c in running}

        def all_reported() -> bool:
            view = pub.view()
            return len(view) == count and all(v["converged"] and v["online"] for v in view.values())

        await eventually(all_reported, timeout=30, interval=0.5)


async def test_update_lock_holds_updates_and_is_reported(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    name = unique_name("edge")
    apps.append(name)
    topic = "dockyard/agents/edge-1/desired"

    def desired(revision: int, env: str) -> dict[str, Any]:
        return {
            "apiVersion": "dockyard.dev/v1alpha1",
            "kind": "AgentDesiredState",
            "agent": "edge-1",
            "revision": revision,
            "apps": [app_doc(name, env, **EDGE)],
        }

    await publish(broker, "controller", topic, desired(1, "one"))
    async with run_agent(broker, "edge-1", tmp_path / "agent", lock_ttl=1.0) as agent:
        await eventually(lambda: agent.converged, timeout=30)
        # The app's containers would create this file in their mounted lock folder.
        lock = tmp_path / "agent" / "locks" / name / "updates.lock"
        assert lock.parent.is_dir()
        lock.write_text("db-migration\n")
        await publish(broker, "controller", topic, desired(2, "two"))
        await eventually(lambda: name in agent.pending, timeout=15)
        assert "update lock held by db-migration" in agent.pending[name]
        report = agent.report()
        assert report["locks"][name]["holder"] == "db-migration"
        assert report["converged"] is False
        # Repairs do not wait for the lock: the running version is kept converged.
        old = docker_client.containers.get(f"{name}-web-1")
        old.remove(force=True)

        def repaired() -> bool:
            new = docker_client.containers.get(f"{name}-web-1")
            return new.id != old.id and new.status == "running"

        await eventually(repaired, timeout=20)
        assert env_of(docker_client, f"{name}-web-1")["VERSION"] == "one"
        # Past its TTL the lock is reported stale, and still honoured.
        await eventually(lambda: agent.report()["locks"][name]["stale"], timeout=5)
        await asyncio.sleep(0.5)
        assert env_of(docker_client, f"{name}-web-1")["VERSION"] == "one"
        lock.unlink()
        await eventually(
            lambda: agent.converged and env_of(docker_client, f"{name}-web-1")["VERSION"] == "two",
            timeout=30,
        )
        assert agent.report()["locks"] == {}


async def test_updates_wait_for_the_maintenance_window(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    name = unique_name("edge")
    apps.append(name)
    later = datetime.datetime.now().astimezone() + datetime.timedelta(hours=3)
    window = parse_window(f"{later:%H}:00-{(later + datetime.timedelta(hours=1)):%H}:00")
    desired = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "AgentDesiredState",
        "agent": "edge-1",
        "revision": 1,
        "apps": [app_doc(name, "one", **EDGE)],
    }
    await publish(broker, "controller", "dockyard/agents/edge-1/desired", desired)
    async with run_agent(broker, "edge-1", tmp_path / "agent", windows=(window,)) as agent:
        await eventually(lambda: name in agent.pending, timeout=15)
        assert "outside the maintenance windows" in agent.pending[name]
        await asyncio.sleep(1.0)
        assert (
            docker_client.containers.list(all=True, filters={"label": f"{APP_LABEL}={name}"}) == []
        )
        # Opening the window (here: changing it) lets the update through.
        agent.options.windows = ()
        await eventually(lambda: agent.converged, timeout=30)
