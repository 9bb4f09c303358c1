"""`dockyard operator` and `dockyard agent` serve the control port of `dockyard run`, with
its rules: probes open, /status behind the token in the state folder, a foreign Host
refused."""

from __future__ import annotations

import asyncio
import http.client
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from helpers import DOCKYARD
from k8s_fixtures import Cluster, Operator
from waiting import eventually


def ask(port: int, path: str, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def answers(port: int, state_dir: Path) -> list[int]:
    token = (state_dir / "control.token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    return [
        ask(port, "/healthz", {}),
        ask(port, "/status", {}),
        ask(port, "/status", auth),
        ask(port, "/status", {**auth, "Host": "rebound.example"}),
    ]


def test_the_operator_guards_its_port_like_dockyard_run(
    k8s: Cluster, start_operator: Callable[..., Operator], tmp_path: Path
):
    state = tmp_path / "state"
    op = start_operator(k8s.namespace("dy-sec"), "dockyard-operator", state_dir=state)
    assert op.port is not None
    assert answers(op.port, state) == [200, 401, 200, 403]


def test_the_agent_serves_the_same_port_when_asked(tmp_path: Path):
    state = tmp_path / "agent"
    # No broker answers on port 1: the agent works offline from its state folder.
    args = ["agent", "--broker", "mqtt://127.0.0.1:1", "--id", "edge-sec"]
    args += ["--state-dir", str(state), "--listen", "127.0.0.1:0"]
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(DOCKYARD), *args], stdout=out, stderr=subprocess.STDOUT)
    try:

        def serving() -> re.Match[str] | None:
            assert proc.poll() is None, log.read_text()
            return re.search(r"on http://127\.0\.0\.1:(\d+)", log.read_text())

        asyncio.run(eventually(lambda: serving() is not None, timeout=30))
        found = serving()
        assert found is not None
        assert answers(int(found.group(1)), state) == [200, 401, 200, 403]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
