"""The control port refuses what a hostile neighbour sends: no token, a wrong one, a
rebinding Host, a cross-site POST; probes stay open; the CLI still works with the token
it reads from the state folder; beyond loopback, only mutual TLS serves the rest."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from controller_fixtures import DockyardRun, dockyard_run
from dockyard.controller.access import TlsFiles
from dockyard.controller.http import HealthServer
from dockyard.controller.reconciler import Controller
from helpers import DOCKYARD
from tls_certs import issue, make_ca
from waiting import eventually


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DockyardRun, Path]]:
    root = tmp_path_factory.mktemp("control")
    (root / "apps").mkdir()
    state = root / "state"
    args = [str(root / "apps"), "--listen", "127.0.0.1:0", "--state-dir", str(state)]
    with dockyard_run(*args, "--interval", "100ms") as proc:
        asyncio.run(eventually(lambda: proc.port is not None and proc.token is not None))
        asyncio.run(eventually(lambda: proc.get("/readyz")[0] == 200, timeout=30))
        yield proc, state


def ask(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def bearer(proc: DockyardRun) -> dict[str, str]:
    return {"Authorization": f"Bearer {proc.token}"}


def test_the_token_file_is_private_to_the_controller_user(running: tuple[DockyardRun, Path]):
    _, state = running
    mode = stat.S_IMODE((state / "control.token").stat().st_mode)
    assert mode == 0o600


def test_status_without_or_with_a_wrong_token_is_refused(running: tuple[DockyardRun, Path]):
    proc, _ = running
    assert proc.port is not None
    assert ask(proc.port, "GET", "/status", {})[0] == 401
    assert ask(proc.port, "GET", "/status", {"Authorization": "Bearer nope"})[0] == 401
    assert ask(proc.port, "POST", "/rollback/web", {"Authorization": "Basic eDp5"})[0] == 401
    code, body = ask(proc.port, "GET", "/status", bearer(proc))
    assert code == 200 and json.loads(body) == {}


def test_probes_and_metrics_need_no_token(running: tuple[DockyardRun, Path]):
    proc, _ = running
    assert proc.port is not None
    assert ask(proc.port, "GET", "/healthz", {}) == (200, b"ok\n")
    code, body = ask(proc.port, "GET", "/metrics", {})
    assert code == 200 and b"dockyard_queue_depth" in body


def test_a_rebinding_host_is_refused_without_leaking_the_status(
    running: tuple[DockyardRun, Path],
):
    proc, _ = running
    assert proc.port is not None
    headers = {**bearer(proc), "Host": f"evil.example:{proc.port}"}
    assert ask(proc.port, "GET", "/status", headers) == (403, b"forbidden\n")
    assert ask(proc.port, "GET", "/metrics", headers) == (403, b"forbidden\n")
    for name in ("localhost", "127.0.0.1", "[::1]"):
        ok = ask(proc.port, "GET", "/status", {**bearer(proc), "Host": f"{name}:{proc.port}"})
        assert ok[0] == 200, name


def test_a_cross_origin_post_is_refused_even_with_the_token(running: tuple[DockyardRun, Path]):
    proc, _ = running
    assert proc.port is not None
    # What a page can send without a preflight: a "simple" text/plain POST.
    headers = {**bearer(proc), "Origin": "http://evil.example", "Content-Type": "text/plain"}
    assert ask(proc.port, "POST", "/rollback/web", headers, b"x") == (403, b"forbidden\n")
    assert ask(proc.port, "POST", "/rollback/web", {**headers, "Origin": "null"})[0] == 403
    same = {**bearer(proc), "Origin": f"http://127.0.0.1:{proc.port}"}
    assert ask(proc.port, "POST", "/rollback/web", same)[0] == 409  # no such app: it got in


def test_head_answers_carry_no_body(running: tuple[DockyardRun, Path]):
    proc, _ = running
    assert proc.port is not None
    with socket.create_connection(("127.0.0.1", proc.port), timeout=5) as sock:
        sock.sendall(f"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1:{proc.port}\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(4096):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""


def test_the_cli_sends_the_token_from_the_state_folder(running: tuple[DockyardRun, Path]):
    proc, state = running
    url = f"http://127.0.0.1:{proc.port}"

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(DOCKYARD), *argv, "--controller", url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    shown = cli("status", "-o", "json", "--state-dir", str(state))
    assert shown.returncode == 0 and json.loads(shown.stdout) == {}, shown.stderr
    refused = cli("rollback", "web", "--state-dir", str(state / "elsewhere"))
    assert refused.returncode == 1
    assert "refused the request (HTTP 401" in refused.stderr
    assert proc.token is not None and proc.token not in refused.stderr
    known = cli("rollback", "web", "--state-dir", str(state))
    assert known.returncode == 1 and "refused" not in known.stderr, known.stderr


# ---- beyond loopback ------------------------------------------------------------------


def stub_controller() -> Controller:
    # The HTTP rules do not depend on what the controller holds: a stand-in that answers
    # /readyz and /status keeps these tests off the engine.
    return cast(Controller, SimpleNamespace(ready=True, statuses=lambda: {"web": {}}))


async def _serve(server: HealthServer, call: Any) -> Any:
    await server.start()
    try:
        return await asyncio.to_thread(call)
    finally:
        await server.stop()


def test_beyond_loopback_without_mtls_only_probes_are_served(tmp_path: Path):
    server = HealthServer(stub_controller(), "0.0.0.0", 0, tmp_path)

    def calls() -> list[int]:
        token = (tmp_path / "control.token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        return [
            ask(server.port, "GET", "/healthz", {})[0],
            ask(server.port, "GET", "/status", auth)[0],
        ]

    assert asyncio.run(_serve(server, calls)) == [200, 403]


def test_beyond_loopback_mutual_tls_serves_status_to_a_client_certificate(tmp_path: Path):
    ca = make_ca(tmp_path / "tls", "control")
    pair = issue(ca, tmp_path / "tls", "server", server=True)
    client = issue(ca, tmp_path / "tls", "client", server=False)
    tls = TlsFiles(pair.cert, pair.key, ca.cert)
    server = HealthServer(stub_controller(), "0.0.0.0", 0, tmp_path / "state", tls)

    def get(path: str, with_cert: bool) -> int:
        context = ssl.create_default_context(cafile=str(ca.cert))
        if with_cert:
            context.load_cert_chain(client.cert, client.key)
        token = (tmp_path / "state" / "control.token").read_text().strip()
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            return conn.getresponse().status
        finally:
            conn.close()

    def calls() -> list[int]:
        return [get("/healthz", False), get("/status", False), get("/status", True)]

    assert asyncio.run(_serve(server, calls)) == [200, 403, 200]


def test_the_cli_reaches_a_mutual_tls_controller_with_its_certificate(tmp_path: Path):
    ca = make_ca(tmp_path / "tls", "control")
    pair = issue(ca, tmp_path / "tls", "server", server=True)
    client = issue(ca, tmp_path / "tls", "client", server=False)
    state = tmp_path / "state"
    tls = TlsFiles(pair.cert, pair.key, ca.cert)
    server = HealthServer(stub_controller(), "127.0.0.1", 0, state, tls)

    def status(with_cert: bool) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKYARD_CONTROLLER_CA": str(ca.cert)}
        if with_cert:
            env |= {"DOCKYARD_CONTROLLER_CERT": str(client.cert)}
            env |= {"DOCKYARD_CONTROLLER_KEY": str(client.key)}
        url = f"https://127.0.0.1:{server.port}"
        cmd = [str(DOCKYARD), "status", "-o", "json", "--controller", url]
        cmd += ["--state-dir", str(state)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)

    def calls() -> list[subprocess.CompletedProcess[str]]:
        return [status(True), status(False)]

    shown, refused = asyncio.run(_serve(server, calls))
    assert shown.returncode == 0 and json.loads(shown.stdout) == {"web": {}}, shown.stderr
    assert "refused the request (HTTP 403" in refused.stderr
