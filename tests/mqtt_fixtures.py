"""A real Mosquitto broker for the MQTT tests: TLS listener on 127.0.0.1 (certificates made
here), a password file and the pattern ACL of examples/edge, retained messages persisted
across a stop/start. Plus agents and a publishing controller running in-process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard.controller.reconciler import Controller, Settings
from dockyard.engine.client import Engine
from dockyard.sources.folder import FolderSource
from dockyard.sources.mqtt.agent import Agent, AgentOptions
from dockyard.sources.mqtt.broker import BrokerConfig, broker_config
from dockyard.sources.mqtt.publisher import AgentPublisher
from helpers import REPO_ROOT, free_port
from tls_certs import issue, make_ca
from waiting import GiveUp, wait_until

# The ACL shipped in examples/edge: what the tests check is what users copy.
ACL = (REPO_ROOT / "examples" / "edge" / "acl.conf").read_text()


@dataclass
class Broker:
    folder: Path
    port: int = field(default_factory=free_port)
    cert_port: int = field(default_factory=free_port)  # client certificates instead of passwords
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)

    def setup(self, users: dict[str, str]) -> None:
        self.users = dict(users)
        ca = make_ca(self.folder / "tls", "broker")
        self.ca_file = ca.cert
        server = issue(ca, self.folder / "tls", "server", server=True)
        self.ca = ca
        passwd = self.folder / "passwd"
        passwd.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
        subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)
        (self.folder / "acl").write_text(ACL)
        (self.folder / "data").mkdir(exist_ok=True)
        (self.folder / "mosquitto.conf").write_text(
            f"""\
user root
per_listener_settings false
allow_anonymous false
password_file {passwd}
acl_file {self.folder / "acl"}
persistence true
persistence_location {self.folder / "data"}/
autosave_interval 1
log_dest file {self.folder / "mosquitto.log"}
log_type error
log_type warning
log_type notice
listener {self.port} 127.0.0.1
cafile {ca.cert}
certfile {server.cert}
keyfile {server.key}
listener {self.cert_port} 127.0.0.1
cafile {ca.cert}
certfile {server.cert}
keyfile {server.key}
require_certificate true
use_identity_as_username true
"""
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self.process

        def listening() -> bool:
            if process.poll() is not None:
                log = (self.folder / "mosquitto.log").read_text(errors="replace")
                raise GiveUp(f"mosquitto exited {process.returncode}: {log}")
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True

        wait_until(listening, what=f"mosquitto listening on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # saves retained messages
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def cert_config(self, agent_id: str) -> BrokerConfig:
        """Log in with a client certificate whose CN is the agent id (no password)."""
        pair = issue(self.ca, self.folder / "tls", agent_id, server=False)
        return broker_config(
            f"mqtts://127.0.0.1:{self.cert_port}",
            ca_file=self.ca_file,
            cert_file=pair.cert,
            key_file=pair.key,
        )

    def config(self, user: str) -> BrokerConfig:
        config = broker_config(self.url, username=user, ca_file=self.ca_file)
        return dataclasses.replace(config, password=self.users[user])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed: run scripts/ensure-deps.sh")
    b = Broker(tmp_path / "broker")
    b.folder.mkdir(parents=True)
    b.setup({"controller": "controller-pw", **{f"edge-{i}": f"pw-{i}" for i in range(1, 51)}})
    b.start()
    try:
        yield b
    finally:
        b.stop()


def fast_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"resync": 600.0, "retry_base": 0.2, "retry_max": 2.0}
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def run_agent(
    broker: Broker, agent_id: str, state_dir: Path, **options: Any
) -> AsyncIterator[Agent]:
    options.setdefault("heartbeat", 2.0)
    options.setdefault("gate_interval", 0.2)
    options.setdefault("reconnect_max", 1.0)
    config = options.pop("config", None) or broker.config(agent_id)
    engine = Engine(options.pop("engine_url", None))
    agent = Agent(AgentOptions(agent_id, config, state_dir, **options), engine, fast_settings())
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        await agent.stop()
        await asyncio.wait_for(task, timeout=20)
        engine.close()


@contextlib.asynccontextmanager
async def run_publisher(
    broker: Broker, folder: Path, state_dir: Path
) -> AsyncIterator[tuple[Controller, AgentPublisher]]:
    """`dockyard run --broker`: a controller whose folder source goes through the publisher."""
    folder.mkdir(parents=True, exist_ok=True)
    publisher = AgentPublisher(broker.config("controller"), state_dir, settle=0.2)
    engine = Engine()
    controller = Controller(
        engine,
        [publisher.wrap(FolderSource(folder, interval=0.1))],
        fast_settings(state_dir=state_dir),
    )
    tasks = [asyncio.create_task(controller.run()), asyncio.create_task(publisher.run())]
    try:
        yield controller, publisher
    finally:
        await controller.stop(grace=10)
        tasks[1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        engine.close()


def agent_host(agent_id: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "DockerHost",
        "metadata": {"name": agent_id, "labels": {"agent": agent_id, **labels}},
        "spec": {"agent": {"id": agent_id}},
    }


def on_agent(app: dict[str, Any], agent_id: str) -> dict[str, Any]:
    """Place every replica of `app` on one agent host."""
    spec = {**app["spec"], "placement": {"hostSelector": {"matchLabels": {"agent": agent_id}}}}
    return {**app, "spec": spec}


async def retained(broker: Broker, user: str, topic: str, wait: float = 1.5) -> list[bytes]:
    """What `user` receives on `topic` within `wait` seconds of subscribing."""
    got: list[bytes] = []
    async with broker.config(user).client(f"test-{user}-{time.monotonic_ns()}") as client:
        await client.subscribe(topic, qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                async for message in client.messages:
                    payload = message.payload
                    got.append(payload if isinstance(payload, bytes) else str(payload).encode())
    return got


async def publish(broker: Broker, user: str, topic: str, payload: bytes | dict[str, Any]) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with broker.config(user).client(f"test-{user}-{time.monotonic_ns()}") as client:
        await client.publish(topic, body, qos=1, retain=True)
