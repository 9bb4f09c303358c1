"""A local engine's snapshot is read straight on its unix socket (engine/unix_http.py), not
through the Docker SDK: the same view of the engine, the same errors, the same count of
requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError, EngineUnavailable
from dockyard.engine.unix_http import socket_path
from helpers import BASE_IMAGE, TEST_LABELS

pytestmark = pytest.mark.engine


def test_the_socket_snapshot_sees_what_the_sdk_sees(docker_client, app_name: str) -> None:
    container = docker_client.containers.create(
        BASE_IMAGE, ["sleep", "3600"], name=app_name, labels={**TEST_LABELS, "x.y": "z"}
    )
    try:
        engine = Engine()
        raw = engine.snapshot()
        assert engine.requests == 4  # four list calls, no version negotiation
        assert engine._api is None  # the SDK client was never made
        engine._reader = None  # the SDK's way
        sdk = engine.snapshot()
        engine.close()
        mine = next(c for c in raw.containers if c.id == container.id)
        assert mine == next(c for c in sdk.containers if c.id == container.id)
        assert (mine.name, mine.state, mine.labels["x.y"]) == (app_name, "created", "z")
        assert BASE_IMAGE in raw.images and raw.image_ids == sdk.image_ids
        assert {n.name for n in raw.networks} >= {"bridge", "host", "none"}
        assert {n.id for n in raw.networks} == {n.id for n in sdk.networks}
    finally:
        container.remove(force=True)


def test_a_missing_socket_is_said_as_the_sdk_says_it(tmp_path: Path) -> None:
    engine = Engine(f"unix://{tmp_path}/nope.sock")
    with pytest.raises(EngineUnavailable) as raw:
        engine.snapshot()
    engine._reader = None
    with pytest.raises(EngineUnavailable) as sdk:
        engine.snapshot()
    assert str(raw.value) == str(sdk.value)
    assert "no such socket" in str(raw.value) and f"{tmp_path}/nope.sock" in str(raw.value)


def test_an_error_answer_is_an_engine_error_with_the_engines_message(docker_client) -> None:
    engine = Engine()
    with pytest.raises(EngineError, match=r"^inspect it: No such container: dy-no-such-"):
        engine.get("inspect it", "/containers/dy-no-such-container/json", lambda: None)


def test_only_a_local_socket_is_read_without_the_sdk() -> None:
    assert socket_path(None, {}) == "/var/run/docker.sock"
    assert socket_path(None, {"DOCKER_HOST": "unix:///run/x.sock"}) == "/run/x.sock"
    assert socket_path(None, {"DOCKER_HOST": "tcp://h:2376"}) is None
    assert socket_path("ssh://deploy@edge") is None
    assert Engine("tcp://127.0.0.1:2375")._reader is None
