"""The MQTT pieces that need no broker: payloads, broker URLs, maintenance windows."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

import pytest

from dockyard.sources.mqtt import topics
from dockyard.sources.mqtt.broker import BrokerError, broker_config
from dockyard.sources.mqtt.gates import parse_window, window_open
from dockyard.sources.mqtt.payload import (
    PayloadError,
    agent_app,
    agent_secrets,
    content,
    decode,
    encode,
)
from dockyard.spec.load import load_text

APP = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: shop}
spec:
  secrets: [{name: token, env: TOKEN}]
  placement: {hostSelector: {matchLabels: {site: edge}}}
  services:
  - name: web
    image: busybox
    command: ["sh", "-c", "echo $$HOME"]
    replicas: 4
    envFiles: [web.env]
    env: [{name: MODE, value: "a$$b"}]
    secrets: [{name: token}]
"""


def loaded(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "web.env").write_text("FROM_FILE=1\n")
    return load_text(APP, "app.yaml", tmp_path, environ={"TOKEN": "t0ken"}).apps[0]


def test_round_trip_keeps_what_the_publisher_resolved(tmp_path: Path) -> None:
    app = loaded(tmp_path)
    doc, problems = agent_app(app, {"web": 2})
    assert problems == []
    data = encode("edge-1", 3, content([(doc, agent_secrets(app))]))
    assert b"t0ken" not in data  # base64, never plain (and only to this agent)
    state = decode(data, "edge-1", tmp_path / "elsewhere")
    got = state.apps["shop"].loaded
    svc = got.app.spec.services[0]
    assert state.revision == 3
    assert svc.replicas == 2 and svc.placement is None and got.app.spec.placement is None
    assert svc.command == ["sh", "-c", "echo $HOME"]
    assert dict(got.service_env("web")) == {"FROM_FILE": "1", "MODE": "a$b"}
    assert got.secrets["token"].reveal() == b"t0ken"
    assert "t0ken" not in repr(got)


def test_decode_names_every_problem(tmp_path: Path) -> None:
    body = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "AgentDesiredState",
        "agent": "edge-2",
        "revision": 9,
        "apps": [
            {
                "apiVersion": "dockyard.dev/v1alpha1",
                "kind": "App",
                "metadata": {"name": "a"},
                "spec": {"secrets": [{"name": "s"}], "services": [{"name": "x", "image": "i"}]},
            }
        ],
    }
    with pytest.raises(PayloadError) as exc:
        decode(json.dumps(body).encode(), "edge-1", tmp_path)
    text = exc.value.render()
    assert exc.value.revision == 9
    assert "agent: is 'edge-2', but this agent is 'edge-1'" in text
    assert "apps[a].spec.secrets[s]: no value was sent for this secret" in text
    body["agent"] = "edge-1"
    body["secrets"] = {"a": {"s": "not base64!"}}
    with pytest.raises(PayloadError, match="its value is not base64"):
        decode(json.dumps(body).encode(), "edge-1", tmp_path)
    body["secrets"] = {"a": {"s": base64.b64encode(b"v").decode()}}
    assert decode(json.dumps(body).encode(), "edge-1", tmp_path).apps["a"].revision == 9


def test_build_only_services_cannot_go_to_agents(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "web.env").write_text("")
    text = APP.replace("    image: busybox\n", "    build: {context: ctx}\n")
    app = load_text(text, "app.yaml", tmp_path, environ={"TOKEN": "x"}).apps[0]
    _, problems = agent_app(app, {"web": 1})
    assert "an agent cannot build" in problems[0]


def test_broker_urls() -> None:
    config = broker_config("mqtts://edge-1:pw@broker.example:8884")
    assert (config.host, config.port, config.tls, config.username) == (
        "broker.example",
        8884,
        True,
        "edge-1",
    )
    assert "pw" not in repr(config)
    assert broker_config("mqtt://b").port == 1883
    assert broker_config("mqtts://b").port == 8883
    with pytest.raises(BrokerError, match="use mqtts://"):
        broker_config("tcp://b")
    with pytest.raises(BrokerError, match="without a username"):
        broker_config("mqtts://:pw@b")
    with pytest.raises(BrokerError, match="need an mqtts://"):
        broker_config("mqtt://b", ca_file=Path("/etc/hostname"))


def test_topics_and_agent_ids() -> None:
    assert topics.desired("edge-1") == "dockyard/agents/edge-1/desired"
    assert topics.parse("site/a/agents/edge-1/status", "site/a") == ("edge-1", "status")
    assert topics.parse("dockyard/other/edge-1/status") is None
    for bad in ("a/b", "+", "#", "", "-x"):
        with pytest.raises(ValueError):
            topics.check_agent_id(bad)


def test_maintenance_windows() -> None:
    monday_3am = datetime(2026, 1, 5, 3, 0)  # a Monday
    assert window_open([parse_window("02:00-04:00")], monday_3am)
    assert not window_open([parse_window("04:00-05:00")], monday_3am)
    assert window_open([parse_window("Sun 22:00-04:00")], monday_3am)  # began on Sunday
    assert not window_open([parse_window("Mon 22:00-04:00")], monday_3am)
    assert window_open([parse_window("Sat,Sun,Mon-Tue 02:59-03:01")], monday_3am)
    assert window_open([], monday_3am)
    for bad in ("2-4", "25:00-26:00", "Funday 01:00-02:00", "01:00-01:00"):
        with pytest.raises(ValueError, match="maintenance window"):
            parse_window(bad)
