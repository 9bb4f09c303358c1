"""The status page keeps the control port's rules: the token once for a session cookie that
opens the page and nothing else, no data without it, Host/Origin checks, read-only; and at
fleet scale it answers with counts and a page of devices, fast."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller_fixtures import DockyardRun, dockyard_run
from dockyard.controller.http import HealthServer
from dockyard.controller.page.view import PAGE_SIZE, app_state, devices_view, rollout_of
from dockyard.controller.reconciler import Controller, Settings
from dockyard.engine.client import Engine
from dockyard.sources.mqtt.publisher import agents_view
from dockyard.spec.models import DockerHost
from mqtt_fixtures import Broker, agent_host, broker, run_agent
from waiting import eventually

__all__ = ["broker"]

DEVICES = 10_000


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardRun]:
    root = tmp_path_factory.mktemp("page-http")
    (root / "apps").mkdir()
    args = [str(root / "apps"), "--listen", "127.0.0.1:0", "--state-dir", str(root / "state")]
    with dockyard_run(*args, "--interval", "100ms") as proc:
        asyncio.run(eventually(lambda: proc.port is not None and proc.token is not None))
        asyncio.run(eventually(lambda: proc.get("/readyz")[0] == 200, timeout=30))
        yield proc


def ask(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: str = ""
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body.encode() or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def session(proc: DockyardRun) -> dict[str, str]:
    """Sign in with `?token=` and return the Cookie header the browser would send."""
    assert proc.port is not None
    code, headers, _ = ask(proc.port, "GET", f"/ui/?token={proc.token}")
    assert code == 303 and headers["location"] == "/ui/"
    return {"Cookie": headers["set-cookie"].split(";")[0]}


def test_without_the_token_the_page_is_a_sign_in_form_and_no_data(running: DockyardRun):
    port = running.port
    assert port is not None
    code, _, body = ask(port, "GET", "/ui/")
    assert code == 200 and b'name="token"' in body and b"api/view" not in body
    code, _, body = ask(port, "GET", "/ui/api/view")
    assert code == 401 and b"sign in" in body
    assert ask(port, "GET", "/")[1]["location"] == "/ui/"


def test_a_wrong_token_gets_no_session(running: DockyardRun):
    port = running.port
    assert port is not None
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    code, headers, body = ask(port, "POST", "/ui/login", form, "token=nope")
    assert code == 401 and "set-cookie" not in headers and b"not the token" in body
    code, headers, _ = ask(port, "GET", "/ui/?token=nope")
    assert code == 401 and "set-cookie" not in headers
    assert ask(port, "GET", "/ui/api/view", {"Cookie": f"dockyard-page-{port}=nope"})[0] == 401


def test_the_token_becomes_a_strict_httponly_cookie_for_the_page_alone(running: DockyardRun):
    port = running.port
    assert port is not None and running.token is not None
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    code, headers, _ = ask(port, "POST", "/ui/login", form, f"token={running.token}")
    assert code == 303
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"dockyard-page-{port}=") and running.token not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    code, _, body = ask(port, "GET", "/ui/api/view", jar)
    assert code == 200 and json.loads(body)["apps"]["total"] == 0
    assert b"static/page.js" in ask(port, "GET", "/ui/", jar)[2]  # the page itself
    # The cookie is no bearer token: the control endpoints still refuse it.
    assert ask(port, "GET", "/status", jar)[0] == 401
    assert ask(port, "POST", "/rollback/web", jar)[0] == 401


def test_rebinding_hosts_and_foreign_origins_are_refused_on_the_page(running: DockyardRun):
    port = running.port
    assert port is not None
    jar = session(running)
    assert ask(port, "GET", "/ui/api/view", {**jar, "Host": "evil.example"})[0] == 403
    assert ask(port, "GET", "/ui/", {"Host": f"evil.example:{port}"})[0] == 403
    foreign = {**jar, "Origin": "http://evil.example"}
    assert ask(port, "GET", "/ui/api/view", foreign)[0] == 403
    login = {"Origin": "null", "Content-Type": "application/x-www-form-urlencoded"}
    assert ask(port, "POST", "/ui/login", login, f"token={running.token}")[0] == 403
    own = {**jar, "Origin": f"http://127.0.0.1:{port}"}
    assert ask(port, "GET", "/ui/api/view", own)[0] == 200


def test_the_page_is_read_only_and_loads_nothing_from_elsewhere(running: DockyardRun):
    port = running.port
    assert port is not None
    jar = session(running)
    for method in ("PUT", "DELETE", "POST"):
        assert ask(port, method, "/ui/api/view", jar)[0] == 405
    for path in ("/ui/", "/ui/static/page.js", "/ui/api/view"):
        code, headers, _ = ask(port, "GET", path, jar)
        assert code == 200, path
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"
    assert ask(port, "GET", "/ui/static/../../control.token", jar)[0] == 404
    code, headers, body = ask(port, "HEAD", "/ui/", jar)
    assert code == 200 and body == b""


# ---- fleet scale -------------------------------------------------------------------------


def fleet_of(n: int) -> dict[str, Any]:
    """`/agents` as the MQTT publisher would answer it for n devices, a few in trouble."""
    hosts = {
        f"dev-{i:05d}": DockerHost.model_validate(
            {
                "apiVersion": "dockyard.dev/v1alpha1",
                "kind": "DockerHost",
                "metadata": {"name": f"dev-{i:05d}", "labels": {"site": f"s{i % 10}"}},
                "spec": {"agent": {"id": f"dev-{i:05d}"}},
            }
        )
        for i in range(n)
    }
    reports: dict[str, dict[str, Any]] = {}
    online: dict[str, str] = {}
    for i, agent in enumerate(hosts):
        online[agent] = "offline" if i % 50 == 7 else "online"
        app = {"revision": 3, "converged": i % 97 != 5, "conditions": [], "services": []}
        if i % 97 == 5:
            app["lastError"] = "start container web-1: port 8080 is taken"
        reports[agent] = {"revision": 2 if i % 211 == 3 else 3, "converged": i % 97 != 5}
        reports[agent].update(at="2026-12-01T10:00:00Z", apps={"web": app})
    published = {agent: {"revision": 3} for agent in hosts}
    return agents_view(hosts, reports, online, published)


def test_ten_thousand_devices_are_counted_and_paged():
    agents = fleet_of(DEVICES)
    started = time.perf_counter()
    view = devices_view(agents, page=2)
    took = time.perf_counter() - started
    print(f"devices_view over {DEVICES} devices: {took * 1000:.0f} ms")
    assert view["devices"] == DEVICES and sum(view["counts"].values()) == DEVICES
    assert view["counts"]["offline"] == 200 and next(iter(view["counts"])) == "offline"
    attention = DEVICES - view["counts"]["converged"]
    assert view["total"] == attention and len(view["items"]) == PAGE_SIZE
    assert view["page"] == 2 and view["pages"] == -(-attention // PAGE_SIZE)
    assert took < 1.0
    only = devices_view(agents, query="converging")
    assert {d["state"] for d in only["items"]} == {"converging"}
    assert "port 8080 is taken" in only["items"][0]["detail"]


@contextlib.contextmanager
def serving_fleet(
    state_dir: Path, agents: dict[str, Any], host: str = "127.0.0.1"
) -> Iterator[HealthServer]:
    """A controller's control port (not reconciling: no source) whose /agents is `agents`,
    served from a thread's event loop."""
    loop = asyncio.new_event_loop()
    controller = Controller(Engine(), [], Settings(state_dir=state_dir))
    server = HealthServer(controller, host, 0, state_dir)
    server.routes["/agents"] = lambda: agents
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        controller.engine.close()


@pytest.fixture
def big_fleet_server(tmp_path: Path) -> Iterator[HealthServer]:
    with serving_fleet(tmp_path, fleet_of(DEVICES)) as server:
        yield server


def test_the_page_data_stays_small_and_fast_with_ten_thousand_devices(
    big_fleet_server: HealthServer,
):
    bearer = {"Authorization": f"Bearer {big_fleet_server.token}"}
    times = []
    for _ in range(5):
        started = time.perf_counter()
        code, _, body = ask(big_fleet_server.port, "GET", "/ui/api/view?devices=3", bearer)
        times.append(time.perf_counter() - started)
        assert code == 200
    fleet = json.loads(body)["fleet"]
    print(
        f"/ui/api/view with {DEVICES} devices: {len(body)} bytes, "
        f"median {sorted(times)[2] * 1000:.0f} ms, first {times[0] * 1000:.0f} ms"
    )
    assert fleet["devices"] == DEVICES and fleet["page"] == 3 and len(fleet["items"]) == PAGE_SIZE
    assert len(body) < 64_000
    assert sorted(times)[2] < 0.5


def test_beyond_loopback_without_mutual_tls_the_page_is_not_served(tmp_path: Path):
    with serving_fleet(tmp_path, {}, host="0.0.0.0") as server:
        for path in ("/ui/", f"/ui/?token={server.token}", "/ui/api/view"):
            code, headers, body = ask(server.port, "GET", path)
            assert code == 403 and "set-cookie" not in headers and b"mutual TLS" in body
        assert ask(server.port, "GET", "/healthz")[0] == 200


# ---- what the page calls an app ------------------------------------------------------------


def status_of(progressing: tuple[str, str, str], *containers: dict[str, Any]) -> dict[str, Any]:
    status, reason, message = progressing
    return {
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "NotReady", "message": ""},
            {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": ""},
            {"type": "Progressing", "status": status, "reason": reason, "message": message},
        ],
        "services": [{"name": "web", "desired": 3, "containers": list(containers)}],
        "rollout": {"revision": 4, "phase": "rolling-out"},
    }


STOPPED = {"name": "shop-web-2", "host": "edge-2", "state": "exited", "status": "Exited (137)"}


def test_a_container_stopped_by_a_rollout_is_not_called_degraded():
    wave = "wave 2/3: edge-2, edge-3"
    st = status_of(("True", "RollingUpdate", wave), STOPPED)
    assert app_state(st)[0] == "Progressing"
    rollout = rollout_of(st)
    assert rollout is not None
    assert rollout["wave"] == {"number": 2, "of": 3, "hosts": ["edge-2", "edge-3"]}
    batch = "service web: replacing shop-web-2 (stop-first, 1/3 done)"
    rollout = rollout_of(status_of(("True", "RollingUpdate", batch), STOPPED))
    assert rollout is not None and rollout["batch"] == {"done": 1, "of": 3}
    assert rollout["service"] == "web"


def test_a_container_left_down_makes_the_app_degraded_with_its_exit_code():
    st = status_of(("True", "Converging", "shop-web-2 is exited"), STOPPED)
    assert app_state(st) == (
        "Degraded",
        "ContainerFailed",
        "shop-web-2 on edge-2 is exited (exit code 137)",
    )
    done = {**STOPPED, "status": "Exited (0) 3 seconds ago"}  # a one-shot that finished
    assert app_state(status_of(("True", "Converging", ""), done))[0] == "Progressing"


# ---- the MQTT publisher's page -----------------------------------------------------------


async def test_the_publishers_page_counts_the_devices_and_lists_the_silent_one(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "apps"
    folder.mkdir()
    docs = [agent_host("edge-1", role="edge"), agent_host("edge-2", role="edge")]
    (folder / "hosts.yaml").write_text(yaml.safe_dump_all(docs))
    monkeypatch.setenv("DOCKYARD_MQTT_PASSWORD", broker.users["controller"])
    args = [str(folder), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")]
    url = f"mqtts://controller@127.0.0.1:{broker.port}"
    tls = ["--broker-ca-file", str(broker.ca_file)]
    with dockyard_run(*args, "--interval", "100ms", "--broker", url, *tls) as proc:
        await eventually(lambda: proc.port is not None and proc.token is not None)
        async with run_agent(broker, "edge-1", tmp_path / "edge-1"):

            def fleet() -> dict[str, Any]:
                code, body = proc.get("/ui/api/view")
                assert code == 200, body
                view = json.loads(body)["fleet"]
                assert view["counts"] == {"no report": 1, "converged": 1}, view
                return dict(view)

            view = await eventually(fleet, timeout=30)
    assert view["devices"] == 2 and [d["name"] for d in view["items"]] == ["edge-2"]
