"""Hosts inventory and secure connections: the rules (pure) and real engines over mutual TLS."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
from typer.testing import CliRunner

from dockyard.cli.main import app
from dockyard.engine.errors import EngineUnavailable
from dockyard.engine.tls import EngineTLS
from dockyard.fleet.hosts import (
    AGENT_NOT_CONNECTABLE,
    EngineParams,
    HostError,
    ProbeTarget,
    check_hosts,
    connect_params,
    engine_for_host,
    probe_all,
    target_for_host,
)
from dockyard.spec.load import load_paths
from dockyard.spec.models import DockerHost
from engine_instance import PrivateEngine
from tls_certs import CA, Pair, issue, make_ca

runner = CliRunner()


def host(name: str = "h1", labels: dict[str, str] | None = None, **spec: Any) -> DockerHost:
    return DockerHost.model_validate(
        {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}
    )


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    files = {}
    for alias in ("caFile", "certFile", "keyFile"):
        path = tmp_path / f"{alias}.pem"
        path.write_text("PEM")
        files[alias] = str(path)
    return files


# ---- connect_params: pure ----------------------------------------------------------------


def test_unix_url_is_used_as_is():
    assert connect_params(host(url="unix:///var/run/docker.sock")) == EngineParams(
        url="unix:///var/run/docker.sock"
    )


@pytest.mark.parametrize("url", ["unix://var/run/docker.sock", "unix://", "unix:relative.sock"])
def test_unix_url_needs_an_absolute_path(url: str):
    with pytest.raises(HostError, match=r"host h1: spec.url: .*absolute path"):
        connect_params(host(url=url))


def test_tls_files_are_refused_beside_a_unix_url(tls_files: dict[str, str]):
    with pytest.raises(HostError, match=r"spec.tls: .*only used with tcp://"):
        connect_params(host(url="unix:///var/run/docker.sock", tls=tls_files))


def test_tcp_with_mutual_tls(tls_files: dict[str, str]):
    params = connect_params(host(url="tcp://10.0.0.17:2376", tls=tls_files))
    assert params == EngineParams(
        url="tcp://10.0.0.17:2376",
        tls=EngineTLS(ca=tls_files["caFile"], cert=tls_files["certFile"], key=tls_files["keyFile"]),
    )
    assert params.tls is not None and params.tls.verify is True
    assert params.warnings == ()


def test_tcp_port_defaults_to_dockers_tls_port(tls_files: dict[str, str]):
    params = connect_params(host(url="tcp://edge-17.lan", tls=tls_files))
    assert params is not None and params.url == "tcp://edge-17.lan:2376"


def test_plain_tcp_is_refused_naming_the_host_the_risk_and_the_fix():
    with pytest.raises(HostError) as caught:
        connect_params(host("edge-17", url="tcp://10.0.0.17:2375"))
    message = str(caught.value)
    assert message.startswith("host edge-17: spec.tls: tcp://10.0.0.17:2375 is plain TCP")
    assert "anyone who can reach 10.0.0.17:2375 would control the engine as root" in message
    assert "caFile, certFile, keyFile" in message and "spec.insecure: true" in message


def test_empty_tls_is_plain_tcp_too():
    with pytest.raises(HostError, match="plain TCP"):
        connect_params(host(url="tcp://10.0.0.17:2375", tls={}))


def test_insecure_tcp_is_allowed_with_a_warning_that_names_the_risk():
    params = connect_params(host("lab", url="tcp://192.168.1.5", insecure=True))
    assert params is not None
    assert params.url == "tcp://192.168.1.5:2375" and params.tls is None
    (warning,) = params.warnings
    assert warning.startswith("host lab: tcp://192.168.1.5 is plain TCP without TLS")
    assert "anyone who can reach 192.168.1.5:2375 controls the engine as root" in warning


def test_insecure_does_not_switch_tls_off(tls_files: dict[str, str]):
    params = connect_params(host(url="tcp://10.0.0.17:2376", tls=tls_files, insecure=True))
    assert params is not None and params.tls is not None and params.warnings == ()


@pytest.mark.parametrize("missing", ["caFile", "certFile", "keyFile"])
def test_mutual_tls_needs_all_three_files(tls_files: dict[str, str], missing: str):
    del tls_files[missing]
    with pytest.raises(HostError, match=rf"host h1: spec.tls.{missing}: required for mutual TLS"):
        connect_params(host(url="tcp://10.0.0.17:2376", tls=tls_files))


def test_a_missing_tls_file_is_named_with_its_field(tls_files: dict[str, str], tmp_path: Path):
    tls_files["caFile"] = str(tmp_path / "gone.pem")
    with pytest.raises(HostError) as caught:
        connect_params(host(url="tcp://10.0.0.17:2376", tls=tls_files))
    assert caught.value.field == "spec.tls.caFile"
    assert f"no such file '{tmp_path / 'gone.pem'}'" in str(caught.value)


def test_a_missing_tls_file_is_reported_when_loading_too(tmp_path: Path):
    (tmp_path / "hosts.yaml").write_text(
        textwrap.dedent(
            """
            apiVersion: dockyard.dev/v1alpha1
            kind: DockerHost
            metadata: {name: edge}
            spec:
              url: tcp://10.0.0.17:2376
              tls: {caFile: ca.pem, certFile: cert.pem, keyFile: key.pem}
            """
        )
    )
    result = runner.invoke(app, ["hosts", "-f", str(tmp_path / "hosts.yaml")])
    assert result.exit_code == 1
    assert "spec.tls.caFile: no such file 'ca.pem'" in result.stderr
    assert "Traceback" not in result.output


def test_secret_ref_is_only_for_hosts_from_kubernetes():
    with pytest.raises(HostError, match=r"spec.tls.secretRef: .*Kubernetes Secret"):
        connect_params(host(url="tcp://10.0.0.17:2376", tls={"secretRef": "edge-17-tls"}))


def test_ssh_uses_the_system_ssh_client():
    params = connect_params(host(url="ssh://deploy@edge-17.lan:2222"))
    assert params == EngineParams(url="ssh://deploy@edge-17.lan:2222", use_ssh_client=True)
    assert connect_params(host(url="ssh://edge-17")) == EngineParams(
        url="ssh://edge-17", use_ssh_client=True
    )


@pytest.mark.parametrize(
    "url", ["ssh://deploy:secret@edge-17", "ssh://deploy@edge-17/var/run/docker.sock", "ssh://"]
)
def test_ssh_urls_carry_no_password_or_path(url: str):
    with pytest.raises(HostError, match=r"spec.url: .*ssh://USER@HOST"):
        connect_params(host(url=url))


def test_ssh_takes_no_tls_files(tls_files: dict[str, str]):
    with pytest.raises(HostError, match=r"spec.tls: TLS files are only used with tcp://"):
        connect_params(host(url="ssh://deploy@edge-17", tls=tls_files))


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("https://10.0.0.17:2376", r"write tcp://10.0.0.17:2376"),
        ("npipe:////./pipe/docker_engine", r"not a URL dockyard can connect to"),
        ("10.0.0.17:2376", r"not a URL dockyard can connect to"),
        ("tcp://10.0.0.17:port", r"not a valid URL"),
        ("tcp://root@10.0.0.17:2376", r"no user, no path"),
    ],
)
def test_other_urls_are_refused_with_the_accepted_forms(url: str, match: str):
    with pytest.raises(HostError, match=match):
        connect_params(host(url=url, insecure=True))


def test_agent_hosts_are_not_connectable_here():
    agent = host("edge-9", agent={"id": "edge-9"})
    assert connect_params(agent) is None
    with pytest.raises(HostError, match="reached over MQTT by `dockyard agent`"):
        engine_for_host(agent)
    target = target_for_host(agent)
    assert target.engine is None and target.url == "agent:edge-9"
    (status,) = probe_all([target], timeout=1)
    assert status.reachable is None and status.error == AGENT_NOT_CONNECTABLE


def test_check_hosts_lists_every_problem_at_once():
    problems = check_hosts(
        [
            host("a", url="unix:///var/run/docker.sock"),
            host("b", url="tcp://10.0.0.1:2375"),
            host("a", url="unix:///run/docker.sock"),
        ]
    )
    assert [(p.host, p.field) for p in problems] == [("b", "spec.tls"), ("a", "metadata.name")]


def test_engine_for_host_builds_an_engine_with_tls(tls_files: dict[str, str]):
    engine = engine_for_host(host("edge", url="tcp://10.0.0.17:2376", tls=tls_files), timeout=3)
    assert (engine.name, engine.url) == ("edge", "tcp://10.0.0.17:2376")
    assert engine.tls == EngineTLS(tls_files["caFile"], tls_files["certFile"], tls_files["keyFile"])
    assert engine.use_ssh_client is False
    ssh = engine_for_host(host("far", url="ssh://deploy@far"))
    assert ssh.use_ssh_client is True and ssh.tls is None


def test_insecure_hosts_log_their_warning(caplog: pytest.LogCaptureFixture):
    engine_for_host(host("lab", url="tcp://192.168.1.5:2375", insecure=True))
    assert "controls the engine as root" in caplog.text


# ---- probing: a dark host does not stall the others -------------------------------------


@dataclass
class FakeEngine:
    running: int

    def info(self) -> dict[str, Any]:
        return {"ServerVersion": "99.0", "ContainersRunning": self.running}

    def close(self) -> None:
        pass


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_dark_host_costs_its_timeout_and_nothing_more(silent_port: int):
    dark = target_for_host(host("dark", url=f"tcp://127.0.0.1:{silent_port}", insecure=True))
    fast = ProbeTarget("fast", "fake://", {"role": "x"}, lambda _t: FakeEngine(3))  # type: ignore[arg-type,return-value]
    started = time.monotonic()
    statuses = probe_all([dark, fast], timeout=1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    by_name = {s.name: s for s in statuses}
    assert by_name["fast"].reachable is True
    assert (by_name["fast"].version, by_name["fast"].running) == ("99.0", 3)
    assert by_name["fast"].last_contact is not None
    assert by_name["dark"].reachable is False
    assert by_name["dark"].error is not None and "Traceback" not in by_name["dark"].error
    assert by_name["dark"].last_contact is None


# ---- real engines: mutual TLS to a test host of its own -----------------------------------


@dataclass(frozen=True)
class Certs:
    ca: CA
    server: Pair
    client: Pair
    other_ca: CA
    other_client: Pair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("tls")
    ca = make_ca(folder, "fleet")
    other = make_ca(folder, "other")
    return Certs(
        ca=ca,
        server=issue(ca, folder, "server", server=True),
        client=issue(ca, folder, "client", server=False),
        other_ca=other,
        other_client=issue(other, folder, "intruder", server=False),
    )


@pytest.fixture(scope="module")
def tls_engine(certs: Certs) -> Iterator[PrivateEngine]:
    engine = PrivateEngine(tls=certs.ca)  # it issues its server certificate for its address
    try:
        engine.start()
        yield engine
    finally:
        engine.destroy()


def tls_host(name: str, url: str, ca: Path, client: Pair, labels: str = "{}") -> str:
    return f"""
        apiVersion: dockyard.dev/v1alpha1
        kind: DockerHost
        metadata: {{name: {name}, labels: {labels}}}
        spec:
          url: {url}
          tls: {{caFile: {ca}, certFile: {client.cert}, keyFile: {client.key}}}
        """


LOCAL = """
    apiVersion: dockyard.dev/v1alpha1
    kind: DockerHost
    metadata: {name: local, labels: {role: dev}}
    spec: {url: "unix:///var/run/docker.sock"}
    """


def write_hosts(folder: Path, *docs: str) -> Path:
    path = folder / "hosts.yaml"
    path.write_text("---".join(textwrap.dedent(d) for d in docs))
    return path


@pytest.mark.engine
def test_hosts_shows_a_tls_engine_with_its_version(
    docker_client: docker.DockerClient, tls_engine: PrivateEngine, certs: Certs, tmp_path: Path
):
    assert tls_engine.tcp_url is not None
    path = write_hosts(
        tmp_path,
        LOCAL,
        tls_host("secure", tls_engine.tcp_url, certs.ca.cert, certs.client, "{site: lab}"),
    )
    result = runner.invoke(app, ["hosts", "-f", str(path)])
    assert result.exit_code == 0, result.output
    version = docker.APIClient(base_url=tls_engine.url).version()["Version"]
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAME", "URL", "REACHABLE", "VERSION", "RUNNING", "LAST", "CONTACT", "LABELS",
    ]  # fmt: skip
    secure = next(line.split() for line in lines if line.startswith("secure"))
    assert secure[:5] == ["secure", tls_engine.tcp_url, "yes", version, "0"]
    assert secure[-1] == "site=lab"
    local = next(line.split() for line in lines if line.startswith("local"))
    assert local[2] == "yes" and local[-1] == "role=dev"

    data = json.loads(runner.invoke(app, ["hosts", "-f", str(path), "-o", "json"]).stdout)
    by_name = {h["name"]: h for h in data}
    assert by_name["secure"]["reachable"] is True
    assert by_name["secure"]["engineVersion"] == version
    assert by_name["secure"]["runningContainers"] == 0
    assert by_name["secure"]["lastContact"].endswith("Z")
    assert by_name["secure"]["labels"] == {"site": "lab"}
    assert by_name["secure"]["error"] is None


@pytest.mark.engine
def test_a_client_certificate_from_another_ca_is_refused_and_the_others_still_answer(
    docker_client: docker.DockerClient, tls_engine: PrivateEngine, certs: Certs, tmp_path: Path
):
    assert tls_engine.tcp_url is not None
    url = tls_engine.tcp_url
    path = write_hosts(
        tmp_path,
        LOCAL,
        tls_host("secure", url, certs.ca.cert, certs.client),
        tls_host("intruder", url, certs.ca.cert, certs.other_client),
        tls_host("gullible", url, certs.other_ca.cert, certs.client),
    )
    result = runner.invoke(app, ["hosts", "-f", str(path), "-o", "json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    by_name = {h["name"]: h for h in json.loads(result.stdout)}
    assert by_name["local"]["reachable"] is True
    assert by_name["secure"]["reachable"] is True
    assert by_name["intruder"]["reachable"] is False
    # With TLS 1.3 the engine's refusal arrives as an alert or as a hang-up, whichever wins.
    refused = by_name["intruder"]["error"]
    assert refused in (
        f"cannot reach Docker engine intruder at {url}: TLS handshake failed: the engine "
        f"refused our client certificate spec.tls.certFile ({certs.other_client.cert}): it "
        "is not signed by a CA the engine trusts (dockerd --tlscacert)",
        f"cannot reach Docker engine intruder at {url}: TLS handshake failed: the engine "
        "hung up during the handshake, which is how it refuses a client certificate it does "
        f"not trust: check that spec.tls.certFile ({certs.other_client.cert}) is signed by "
        "the CA given to dockerd --tlscacert",
    ), refused
    assert by_name["gullible"]["reachable"] is False
    assert by_name["gullible"]["error"] == (
        f"cannot reach Docker engine gullible at {url}: TLS handshake failed: the engine's "
        f"certificate is not signed by spec.tls.caFile ({certs.other_ca.cert})"
    )

    text = runner.invoke(app, ["hosts", "-f", str(path)])
    assert text.exit_code == 1
    assert f"intruder: cannot reach Docker engine intruder at {url}: TLS handshake" in text.stdout


@pytest.mark.engine
def test_plain_tcp_without_insecure_is_refused_before_any_host_is_asked(
    tls_engine: PrivateEngine, tmp_path: Path
):
    path = write_hosts(
        tmp_path,
        LOCAL,
        f"""
        apiVersion: dockyard.dev/v1alpha1
        kind: DockerHost
        metadata: {{name: naked}}
        spec: {{url: "tcp://{tls_engine.address}:{tls_engine.port}"}}
        """,
    )
    result = runner.invoke(app, ["hosts", "-f", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == "invalid DockerHost (1 problem(s)):"
    where = f"{tls_engine.address}:{tls_engine.port}"
    assert (
        f"host naked: spec.tls: tcp://{where} is plain TCP without TLS, "
        f"which dockyard refuses: anyone who can reach {where} would "
        "control the engine as root" in result.stderr
    )
    assert "Traceback" not in result.output


@pytest.mark.engine
def test_an_insecure_host_on_a_tls_port_is_told_the_engine_wants_tls(
    tls_engine: PrivateEngine, tmp_path: Path
):
    path = write_hosts(
        tmp_path,
        f"""
        apiVersion: dockyard.dev/v1alpha1
        kind: DockerHost
        metadata: {{name: lab}}
        spec: {{url: "tcp://{tls_engine.address}:{tls_engine.port}", insecure: true}}
        """,
    )
    result = runner.invoke(app, ["hosts", "-f", str(path), "-o", "json"])
    assert result.exit_code == 1
    assert "warning: host lab: " in result.stderr and "controls the engine as root" in result.stderr
    (status,) = json.loads(result.stdout)
    assert "the engine expects TLS on this port; give the host spec.tls" in status["error"]


@pytest.mark.engine
def test_the_engine_checks_the_server_against_cafile_whatever_requests_ca_bundle_says(
    tls_engine: PrivateEngine, certs: Certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # requests would let REQUESTS_CA_BUNDLE replace spec.tls.caFile; the engine must not.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.other_ca.cert))
    path = write_hosts(
        tmp_path, tls_host("secure", str(tls_engine.tcp_url), certs.ca.cert, certs.client)
    )
    (secure,) = load_paths([path]).hosts
    engine = engine_for_host(secure, timeout=5)
    try:
        assert engine.version() == docker.APIClient(base_url=tls_engine.url).version()["Version"]
        assert engine.snapshot().containers == ()
    finally:
        engine.close()

    wrong = secure.model_copy(
        update={
            "spec": secure.spec.model_copy(
                update={
                    "tls": secure.spec.tls.model_copy(  # type: ignore[union-attr]
                        update={"ca_file": str(certs.other_ca.cert)}
                    )
                }
            )
        }
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca.cert))
    engine = engine_for_host(wrong, timeout=5)
    with pytest.raises(EngineUnavailable, match=r"not signed by spec\.tls\.caFile"):
        engine.version()
    engine.close()


def test_validate_checks_hosts_without_contacting_them(tmp_path: Path):
    (tmp_path / "good").mkdir()
    write_hosts(tmp_path / "good", LOCAL)
    result = runner.invoke(app, ["validate", "-f", str(tmp_path / "good")])
    assert result.exit_code == 0, result.output
    assert result.stdout == "DockerHost local is valid (unix:///var/run/docker.sock)\n"

    (tmp_path / "bad").mkdir()
    bad = write_hosts(
        tmp_path / "bad",
        LOCAL,
        """
        apiVersion: dockyard.dev/v1alpha1
        kind: DockerHost
        metadata: {name: naked}
        spec: {url: "tcp://10.0.0.17:2375"}
        """,
    )
    result = runner.invoke(app, ["validate", "-f", str(bad)])
    assert result.exit_code == 1
    assert "host naked: spec.tls: tcp://10.0.0.17:2375 is plain TCP" in result.stderr
