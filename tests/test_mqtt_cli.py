"""`dockyard agent` as a process, and `dockyard hosts --broker` reading what agents report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from docker import DockerClient

from cleanup import remove_app
from helpers import DOCKYARD, free_port, unique_name
from manifests import service
from mqtt_fixtures import Broker, agent_host, broker, publish, run_agent
from waiting import eventually

__all__ = ["broker"]

pytestmark = pytest.mark.engine


@pytest.fixture
def name(docker_client: DockerClient) -> Iterator[str]:
    app = unique_name("edge")
    yield app
    remove_app(docker_client, app)


def hosts_cmd(broker: Broker, hosts_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(DOCKYARD), "hosts", "-f", str(hosts_file), "-o", "json",
            "--broker", f"mqtts://controller@127.0.0.1:{broker.port}",
            "--broker-ca-file", str(broker.ca_file),
        ],
        env={**os.environ, "DOCKYARD_MQTT_PASSWORD": "controller-pw"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


async def test_agent_process_reports_and_hosts_shows_it(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, name: str
) -> None:
    app = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {"services": [service("web", networkMode="none")]},
    }
    desired = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "AgentDesiredState",
        "agent": "edge-7",
        "revision": 1,
        "apps": [app],
    }
    await publish(broker, "controller", "dockyard/agents/edge-7/desired", desired)
    hosts_file = tmp_path / "hosts.yaml"
    hosts_file.write_text(yaml.safe_dump(agent_host("edge-7", site="lab")))
    agent = subprocess.Popen(
        [
            str(DOCKYARD), "agent", "--broker", broker.url, "--id", "edge-7",
            "--state-dir", str(tmp_path / "agent"), "--ca-file", str(broker.ca_file),
            "--labels", "site=lab", "--heartbeat", "1s",
        ],
        env={**os.environ, "DOCKYARD_MQTT_PASSWORD": "pw-7"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def converged() -> dict[str, object]:
            result = hosts_cmd(broker, hosts_file)
            shown: dict[str, object] = json.loads(result.stdout)[0]["agent"]
            assert shown.get("converged"), shown
            return shown

        shown = await eventually(converged, interval=0.5)
        assert shown["online"] is True, shown
        assert shown["revision"] == 1
        assert shown["apps"][name]["converged"] is True  # type: ignore[index]
        assert docker_client.containers.get(f"{name}-web-1").status == "running"
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=30)
    assert agent.returncode == 0, err
    assert "pw-7" not in err
    # A clean stop says goodbye: the agent shows offline, and hosts exits 1.
    result = hosts_cmd(broker, hosts_file)
    assert json.loads(result.stdout)[0]["agent"]["online"] is False
    assert result.returncode == 1
    # Its containers keep running: the device works on without its agent process.
    assert docker_client.containers.get(f"{name}-web-1").status == "running"


def test_agent_rejects_bad_options(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(DOCKYARD), "agent", "--broker", "http://x", "--id", "edge-1"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "use mqtts://HOST[:8883]" in result.stderr
    result = subprocess.run(
        [str(DOCKYARD), "agent", "--broker", "mqtts://b", "--id", "a/b"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "agent id 'a/b' is not valid" in result.stderr


async def test_run_with_broker_serves_agents_to_status_and_hosts(
    broker: Broker, tmp_path: Path, docker_client: DockerClient, name: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    app = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {
            "placement": {"hostSelector": {"matchLabels": {"agent": "edge-3"}}},
            "services": [service("web", networkMode="none")],
        },
    }
    (src / "fleet.yaml").write_text(yaml.safe_dump_all([agent_host("edge-3"), app]))
    port = free_port()
    controller_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DOCKYARD_MQTT_PASSWORD": "controller-pw",
        "DOCKYARD_CONTROLLER": controller_url,
        # The control port wants the token in the controller's state folder.
        "DOCKYARD_STATE_DIR": str(tmp_path / "controller"),
    }
    run = subprocess.Popen(
        [
            str(DOCKYARD), "run", str(src), "--listen", f"127.0.0.1:{port}",
            "--state-dir", str(tmp_path / "controller"),
            "--broker", f"mqtts://controller@127.0.0.1:{broker.port}",
            "--broker-ca-file", str(broker.ca_file),
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        async with run_agent(broker, "edge-3", tmp_path / "agent") as agent:
            await eventually(lambda: agent.converged, timeout=30)

            def shown() -> str:
                out = subprocess.run(
                    [str(DOCKYARD), "status"], env=env, capture_output=True, text=True, timeout=30
                ).stdout
                assert f"{name}@" in out and "online" in out and " yes " in out, out
                return out

            await eventually(shown, timeout=20, interval=0.5)
            hosts = subprocess.run(
                [str(DOCKYARD), "hosts", "-f", str(src)],
                env=env, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert "edge-3" in hosts.stdout and "online" in hosts.stdout, hosts.stdout
            assert hosts.returncode == 0, hosts.stdout + hosts.stderr
    finally:
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert "controller-pw" not in err
