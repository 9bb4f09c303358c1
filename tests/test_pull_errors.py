"""What a failed pull is called: the engine's words become a reason a user can act on.

The address of a registry is part of the engine's message, so its digits must never be
read as a status: a registry on port 54015 that is down is unreachable, not a 401."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dockyard.cli.main import app
from dockyard.engine.registry import pull_error
from helpers import bindable
from manifests import manifest, service, write

runner = CliRunner()


@pytest.mark.parametrize(
    ("explanation", "reason"),
    [
        # dockerd 20.10's words for a registry nobody listens on, its port holding "401"
        (
            'Get "http://127.0.0.1:54015/v2/": dial tcp 127.0.0.1:54015: '
            "connect: connection refused",
            "unreachable",
        ),
        (
            'Get "https://r.example:4010/v2/": dial tcp: lookup r.example: no such host',
            "unreachable",
        ),
        ("unauthorized: authentication required", "auth"),
        ("Head http://127.0.0.1:54015/v2/a/manifests/1: no basic auth credentials", "auth"),
        ("unexpected status code 401 Unauthorized", "auth"),
        ("unexpected status: 401", "auth"),
        (
            "pull access denied for a, repository does not exist or may require 'docker login'",
            "auth",
        ),
        ("manifest for 127.0.0.1:54015/a:1 not found: manifest unknown", "not-found"),
        ("http: server gave HTTP response to HTTPS client", "unreachable"),
    ],
)
def test_the_engine_words_map_to_the_reason(explanation: str, reason: str) -> None:
    assert pull_error("127.0.0.1:54015/a:1", None, explanation).reason == reason


def closed_port_holding_401() -> int:
    """A loopback port nobody listens on whose number holds the digits 401."""
    for port in [*range(40100, 40200), *range(14010, 14020), *range(54010, 54020)]:
        if bindable(port):
            return port
    pytest.skip("no free loopback port holding 401")


@pytest.mark.engine
def test_apply_from_a_registry_that_is_down_says_unreachable_whatever_its_port(
    app_name: str, tmp_path: Path
) -> None:
    port = closed_port_holding_401()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody answers there
    ref = f"127.0.0.1:{port}/{app_name}:1"
    services = [service("web", image=ref, pullPolicy="Always", networkMode="none")]
    path = write(tmp_path, f"{app_name}.yaml", manifest(app_name, services))

    result = runner.invoke(app, ["apply", "-f", str(path)])

    assert result.exit_code == 1, result.output
    assert f"registry 127.0.0.1:{port} is unreachable, pulling {ref}" in result.output
    assert "credentials" not in result.output
