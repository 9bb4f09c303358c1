"""`dockyard agent` and `dockyard run --broker` with a real Mosquitto (TLS, passwords, ACL)
and the real engine: agents share the main engine through distinct app names."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from cleanup import remove_app
from controller_fixtures import containers, env_of, running
from dockyard.engine.client import Engine
from dockyard.sources.mqtt.agent import Agent, AgentOptions
from engine_instance import private_engines
from helpers import unique_name
from manifests import app_doc, write
from mqtt_fixtures import (
    Broker,
    agent_host,
    broker,
    on_agent,
    publish,
    retained,
    run_agent,
    run_publisher,
)
from waiting import eventually

__all__ = ["broker"]

pytestmark = pytest.mark.engine


@pytest.fixture
def apps(docker_client: DockerClient) -> Iterator[list[str]]:
    """Unique app names handed out on demand; everything labelled with them is removed."""
    names: list[str] = []
    yield names
    for name in names:
        remove_app(docker_client, name)


# networkMode none: no network per app, so many apps share the engine's address pools.
EDGE = {"networkMode": "none"}


async def test_first_sync_then_a_spec_change_fans_out(
    broker: Broker, tmp_path: Path, apps: list[str]
) -> None:
    """Two devices, each with its own dockerd, run the same app (`mode: global`)."""
    name = unique_name("kiosk")
    apps.append(name)
    hosts = [agent_host("edge-1", fleet="kiosk"), agent_host("edge-2", fleet="kiosk")]

    def kiosk(env: str) -> dict[str, Any]:
        doc = app_doc(name, env, **EDGE)
        doc["spec"]["placement"] = {
            "mode": "global",
            "hostSelector": {"matchLabels": {"fleet": "kiosk"}},
        }
        return doc

    write(tmp_path / "src", "fleet.yaml", [*hosts, kiosk("one")])
    with private_engines("edge-1", "edge-2") as engines:
        devices = {n: DockerClient(base_url=e.url) for n, e in engines.items()}
        async with (
            run_publisher(broker, tmp_path / "src", tmp_path / "controller") as (controller, pub),
            run_agent(
                broker, "edge-1", tmp_path / "agent-1", engine_url=engines["edge-1"].url
            ) as agent1,
            run_agent(
                broker, "edge-2", tmp_path / "agent-2", engine_url=engines["edge-2"].url
            ) as agent2,
        ):
            await eventually(lambda: agent1.converged and agent2.converged, timeout=30)
            for device in devices.values():
                assert set(containers(device, name)) == {f"{name}-web-1"}
            # The controller itself runs none of it: the app is the agents'.
            assert name not in controller.wanted
            assert agent1.desired is not None and agent2.desired is not None
            first = (agent1.desired.revision, agent2.desired.revision)

            # The publisher sees the agents' reports: online, converged, at which revision.
            def reported() -> bool:
                view = pub.view()
                return all(
                    view[h]["online"] and view[h]["converged"] and view[h]["revision"] == r
                    for h, r in zip(("edge-1", "edge-2"), first, strict=True)
                )

            await eventually(reported, timeout=15)

            # One edit of the manifest: both devices apply it.
            write(tmp_path / "src", "fleet.yaml", [*hosts, kiosk("two")])

            def both_updated() -> bool:
                return (
                    agent1.converged
                    and agent2.converged
                    and all(
                        env_of(d, f"{name}-web-1")["VERSION"] == "two" for d in devices.values()
                    )
                )

            await eventually(both_updated, timeout=30)
            assert agent1.desired.revision == first[0] + 1
            assert agent2.desired.revision == first[1] + 1
        for device in devices.values():
            device.close()
    # Desired state on disk, private to root: secrets may be in it.
    state = tmp_path / "agent-1" / "desired.json"
    assert state.stat().st_mode & 0o077 == 0
    assert json.loads(state.read_text())["revision"] == first[0] + 1


async def test_broker_gone_for_30s_repairs_locally_and_catches_up(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    name = unique_name("edge")
    apps.append(name)
    host = agent_host("edge-1")
    write(tmp_path / "src", "fleet.yaml", [host, on_agent(app_doc(name, "one", **EDGE), "edge-1")])
    async with (
        run_publisher(broker, tmp_path / "src", tmp_path / "controller") as (_, pub),
        run_agent(broker, "edge-1", tmp_path / "agent") as agent,
    ):
        await eventually(lambda: agent.converged and agent.connected, timeout=30)
        assert agent.desired is not None
        before = agent.desired.revision
        started = asyncio.get_running_loop().time()
        broker.stop()
        await eventually(lambda: not agent.connected, timeout=10)

        # On the device, the container goes away: the agent repairs it without the broker.
        old = docker_client.containers.get(f"{name}-web-1")
        old.remove(force=True)
        await eventually(lambda: running(docker_client, f"{name}-web-1"), timeout=20)
        assert docker_client.containers.get(f"{name}-web-1").id != old.id
        # Meanwhile the manifest changes: it cannot reach the device yet.
        write(
            tmp_path / "src",
            "fleet.yaml",
            [host, on_agent(app_doc(name, "offline-edit", **EDGE), "edge-1")],
        )
        await asyncio.sleep(max(0.0, 30 - (asyncio.get_running_loop().time() - started)))
        assert env_of(docker_client, f"{name}-web-1")["VERSION"] == "one"

        broker.start()
        await eventually(
            lambda: (
                agent.converged
                and env_of(docker_client, f"{name}-web-1")["VERSION"] == "offline-edit"
            ),
            timeout=30,
        )
        assert agent.desired.revision == before + 1

        # What it did offline is reported once the link is back, where the publisher reads it.
        def missed_reported() -> list[str]:
            report = pub.view()["edge-1"]
            if report["revision"] != before + 1 or not report["converged"]:
                return []
            return list((report["lastOffline"] or {}).get("events", []))

        events = await eventually(missed_reported, timeout=15)
        assert any("drift repair" in e for e in events), events


async def test_restarted_without_broker_converges_from_disk(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    name = unique_name("edge")
    apps.append(name)
    write(
        tmp_path / "src",
        "fleet.yaml",
        [agent_host("edge-1"), on_agent(app_doc(name, "disk", **EDGE), "edge-1")],
    )
    async with (
        run_publisher(broker, tmp_path / "src", tmp_path / "controller"),
        run_agent(broker, "edge-1", tmp_path / "agent") as agent,
    ):
        await eventually(lambda: agent.converged, timeout=30)
    broker.stop()
    # The device reboots and its containers are gone; the broker is unreachable.
    docker_client.containers.get(f"{name}-web-1").remove(force=True)
    async with run_agent(broker, "edge-1", tmp_path / "agent") as agent:
        await eventually(lambda: agent.converged, timeout=30)
        assert not agent.connected
        assert env_of(docker_client, f"{name}-web-1")["VERSION"] == "disk"


def payload(revision: int, apps: list[dict[str, Any]], agent: str = "edge-1") -> dict[str, Any]:
    return {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "AgentDesiredState",
        "agent": agent,
        "revision": revision,
        "apps": apps,
        "secrets": {},
    }


async def test_stale_revisions_are_ignored_and_bad_payloads_reported(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    name = unique_name("edge")
    apps.append(name)
    topic = "dockyard/agents/edge-1/desired"
    await publish(broker, "controller", topic, payload(5, [app_doc(name, "five", **EDGE)]))
    async with run_agent(broker, "edge-1", tmp_path / "agent") as agent:
        await eventually(lambda: agent.converged, timeout=30)
        assert env_of(docker_client, f"{name}-web-1")["VERSION"] == "five"

        # An older revision (a replayed or delayed message) is never applied.
        await publish(broker, "controller", topic, payload(3, [app_doc(name, "three", **EDGE)]))
        await eventually(lambda: agent.ignored is not None and agent.ignored["revision"] == 3)
        assert agent.desired is not None and agent.desired.revision == 5

        # A malformed one is reported on the status topic, by field, and not applied.
        bad = app_doc(name, "six", **EDGE)
        bad["spec"]["services"][0]["replica"] = 2
        await publish(broker, "controller", topic, payload(6, [bad]))

        async def status() -> dict[str, Any]:
            got = await retained(broker, "controller", "dockyard/agents/edge-1/status", 1.0)
            return json.loads(got[-1]) if got else {}

        async def rejected() -> dict[str, Any]:
            report = await status()
            return report if report.get("rejected") else {}

        report = await eventually(rejected, what="a rejection reported")
        assert report["rejected"]["revision"] == 6
        assert "spec.services[web].replica: unknown field" in report["rejected"]["error"]
        assert "did you mean replicas?" in report["rejected"]["error"]
        assert report["revision"] == 5
        assert env_of(docker_client, f"{name}-web-1")["VERSION"] == "five"
        await publish(broker, "controller", topic, b"{not json")
        await eventually(lambda: "not valid JSON" in (agent.rejected or {}).get("error", ""))

        # The next good revision goes through.
        await publish(broker, "controller", topic, payload(7, [app_doc(name, "seven", **EDGE)]))
        await eventually(
            lambda: (
                agent.converged and env_of(docker_client, f"{name}-web-1")["VERSION"] == "seven"
            ),
            timeout=30,
        )
        assert agent.rejected is None


async def test_acl_an_agent_reads_only_its_own_state_and_secrets(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    a1, a2 = unique_name("edge"), unique_name("edge")
    apps += [a1, a2]
    src = tmp_path / "src"
    src.mkdir()
    (src / "token.txt").write_text("s3cret-for-edge-1")
    secret_app = on_agent(app_doc(a1, "one", secrets=[{"name": "token"}], **EDGE), "edge-1")
    secret_app["spec"]["secrets"] = [{"name": "token", "file": "token.txt"}]
    write(
        src,
        "fleet.yaml",
        [
            agent_host("edge-1"),
            agent_host("edge-2"),
            secret_app,
            on_agent(app_doc(a2, "one", **EDGE), "edge-2"),
        ],
    )
    async with (
        run_publisher(broker, src, tmp_path / "controller"),
        run_agent(broker, "edge-1", tmp_path / "agent-1") as agent1,
        run_agent(broker, "edge-2", tmp_path / "agent-2") as agent2,
    ):
        await eventually(lambda: agent1.converged and agent2.converged, timeout=30)
        out = docker_client.containers.get(f"{a1}-web-1").exec_run(["cat", "/run/secrets/token"])
        assert out.output == b"s3cret-for-edge-1"

        encoded = base64.b64encode(b"s3cret-for-edge-1")
        # The secret travels in edge-1's desired state (the controller may read it) …
        mine = await retained(broker, "controller", "dockyard/agents/edge-1/desired")
        assert mine and encoded in mine[-1]
        # … which edge-2 cannot read; its own state carries no secret of edge-1.
        assert await retained(broker, "edge-2", "dockyard/agents/edge-1/desired") == []
        everything = await retained(broker, "edge-2", "dockyard/agents/+/desired")
        assert [json.loads(m)["agent"] for m in everything] == ["edge-2"]
        own = await retained(broker, "edge-2", "dockyard/agents/edge-2/desired")
        assert own and encoded not in own[-1] and b"s3cret" not in own[-1]
        # Nor can edge-2 speak for edge-1.
        await publish(broker, "edge-2", "dockyard/agents/edge-1/status", {"converged": False})
        status = await retained(broker, "controller", "dockyard/agents/edge-1/status")
        assert status and json.loads(status[-1])["agent"] == "edge-1"
        # And the secret never shows in what the agent reports.
        assert b"s3cret" not in status[-1] and encoded not in status[-1]


async def test_client_certificate_login(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, apps: list[str]
) -> None:
    """On a listener that requires certificates, the CN is the username the ACL sees."""
    name = unique_name("edge")
    apps.append(name)
    await publish(
        broker,
        "controller",
        "dockyard/agents/edge-9/desired",
        payload(1, [app_doc(name, "one", **EDGE)], "edge-9"),
    )
    await publish(broker, "controller", "dockyard/agents/edge-8/desired", payload(1, [], "edge-8"))
    config = broker.cert_config("edge-9")
    async with run_agent(broker, "edge-9", tmp_path / "agent", config=config) as agent:
        await eventually(lambda: agent.converged and agent.connected, timeout=30)
    # The same certificate reads nothing of another agent.
    got: list[bytes] = []
    async with config.client("test-cert") as client:
        await client.subscribe("dockyard/agents/edge-8/desired", qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.5):
                async for message in client.messages:
                    got.append(bytes(message.payload))  # type: ignore[arg-type]
    assert got == []


async def test_a_wrong_password_is_reported_not_retried_silently(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = dataclasses.replace(broker.config("edge-1"), password="wrong-pw")
    async with run_agent(broker, "edge-1", tmp_path / "agent", config=config) as agent:
        await eventually(lambda: "authori" in agent.broker_error.lower(), timeout=15)
        assert not agent.connected
    warnings = [r.getMessage() for r in caplog.records if r.name == "dockyard.agent"]
    assert any("cannot reach the broker" in w for w in warnings), warnings
    assert len([w for w in warnings if "cannot reach the broker" in w]) == 1  # once, not per retry
    assert not any("wrong-pw" in r.getMessage() for r in caplog.records)


async def test_the_status_loop_ends_when_cancelled_as_the_status_changes(
    broker: Broker, tmp_path: Path
) -> None:
    """An agent stopping while its status changes (a reconcile finishing as it stops)
    must still stop: the status loop ends on the cancel that comes in the same tick."""
    config = broker.config("edge-1")
    agent = Agent(AgentOptions("edge-1", config, tmp_path, heartbeat=30.0), Engine())
    async with config.client("edge-1") as client:
        loop = asyncio.create_task(agent._status_loop(client))
        await asyncio.sleep(0.2)  # idle, waiting for a change
        agent._dirty.set()
        await asyncio.sleep(0)  # the wait sees the change ...
        loop.cancel()  # ... in the tick the agent is told to stop
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(loop, timeout=5)
