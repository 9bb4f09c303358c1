"""The engine a command talks to is the one the docker CLI would use: --host, DOCKER_HOST with
DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, DOCKER_CONTEXT, the config's currentContext."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.cli.docker_env import DockerEnvError, resolve


def certs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (folder / name).write_text("PEM")
    return folder


def context(config: Path, name: str, host: str, tls: bool = False, skip_verify: bool = False):
    """A context as `docker context create NAME --docker host=HOST` stores it."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_verify}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    if tls:
        certs(config / "contexts" / "tls" / digest / "docker")


def use(config: Path, name: str) -> None:
    (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


def test_nothing_set_is_the_local_socket(tmp_path: Path):
    target = resolve(None, {"DOCKER_CONFIG": str(tmp_path)})
    assert (target.url, target.tls, target.copies_files) == (None, None, False)
    assert target.socket_path == "/var/run/docker.sock"


def test_docker_host_unix_socket_is_this_machine(tmp_path: Path):
    target = resolve(None, {"DOCKER_HOST": "unix:///run/other.sock"})
    assert (target.url, target.source, target.copies_files) == (
        "unix:///run/other.sock",
        "DOCKER_HOST",
        False,
    )


def test_docker_host_tcp_with_tls_verify_takes_the_cert_path(tmp_path: Path):
    folder = certs(tmp_path / "certs")
    target = resolve(
        None,
        {
            "DOCKER_HOST": "tcp://10.0.0.7:2376",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(folder),
        },
    )
    assert target.url == "tcp://10.0.0.7:2376"
    assert target.tls is not None and target.tls.verify
    assert (target.tls.ca, target.tls.cert, target.tls.key) == tuple(
        str(folder / n) for n in ("ca.pem", "cert.pem", "key.pem")
    )
    assert target.copies_files  # another machine: files are copied, never bind-mounted


def test_tls_verify_without_the_files_names_them(tmp_path: Path):
    env = {
        "DOCKER_HOST": "tcp://h:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path),
    }
    with pytest.raises(DockerEnvError, match=r"ca\.pem.*DOCKER_CERT_PATH"):
        resolve(None, env)


def test_tls_verify_defaults_to_the_docker_config_folder(tmp_path: Path):
    certs(tmp_path)
    env = {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CONFIG": str(tmp_path)}
    target = resolve(None, env)
    assert target.tls is not None and target.tls.ca == str(tmp_path / "ca.pem")


def test_plain_tcp_docker_host_has_no_tls(tmp_path: Path):
    target = resolve(None, {"DOCKER_HOST": "tcp://127.0.0.1:2375", "DOCKER_TLS_VERIFY": ""})
    assert (target.url, target.tls) == ("tcp://127.0.0.1:2375", None)


def test_ssh_docker_host_uses_the_ssh_binary_like_a_docker_host():
    target = resolve(None, {"DOCKER_HOST": "ssh://deploy@edge-3"})
    assert (target.url, target.use_ssh_client, target.copies_files) == (
        "ssh://deploy@edge-3",
        True,
        True,
    )


def test_host_flag_wins_over_everything(tmp_path: Path):
    context(tmp_path, "prod", "tcp://prod:2375")
    use(tmp_path, "prod")
    env = {
        "DOCKER_HOST": "tcp://env:2375",
        "DOCKER_CONTEXT": "prod",
        "DOCKER_CONFIG": str(tmp_path),
    }
    target = resolve("unix:///flag.sock", env)
    assert (target.url, target.source) == ("unix:///flag.sock", "--host")


def test_docker_host_wins_over_the_context(tmp_path: Path):
    context(tmp_path, "prod", "tcp://prod:2375")
    env = {
        "DOCKER_HOST": "tcp://env:2375",
        "DOCKER_CONTEXT": "prod",
        "DOCKER_CONFIG": str(tmp_path),
    }
    assert resolve(None, env).url == "tcp://env:2375"


def test_current_context_of_the_config_is_used(tmp_path: Path):
    context(tmp_path, "staging", "tcp://staging:2376", tls=True)
    use(tmp_path, "staging")
    target = resolve(None, {"DOCKER_CONFIG": str(tmp_path)})
    assert (target.url, target.source) == ("tcp://staging:2376", "context staging")
    assert target.tls is not None and target.tls.verify
    assert target.tls.ca.endswith("/docker/ca.pem")


def test_docker_context_wins_over_the_current_context(tmp_path: Path):
    context(tmp_path, "a", "tcp://a:2375")
    context(tmp_path, "b", "ssh://me@b", skip_verify=True)
    use(tmp_path, "a")
    target = resolve(None, {"DOCKER_CONTEXT": "b", "DOCKER_CONFIG": str(tmp_path)})
    assert (target.url, target.use_ssh_client) == ("ssh://me@b", True)


def test_context_skip_tls_verify_keeps_tls_without_verifying(tmp_path: Path):
    context(tmp_path, "lab", "tcp://lab:2376", tls=True, skip_verify=True)
    target = resolve(None, {"DOCKER_CONTEXT": "lab", "DOCKER_CONFIG": str(tmp_path)})
    assert target.tls is not None and not target.tls.verify


def test_default_context_is_the_local_socket(tmp_path: Path):
    use(tmp_path, "default")
    assert resolve(None, {"DOCKER_CONFIG": str(tmp_path)}).url is None


def test_unknown_context_says_so(tmp_path: Path):
    with pytest.raises(DockerEnvError, match=r"context 'gone' does not exist.*docker context ls"):
        resolve(None, {"DOCKER_CONTEXT": "gone", "DOCKER_CONFIG": str(tmp_path)})


def test_docker_host_that_is_no_url_is_refused():
    with pytest.raises(DockerEnvError, match="DOCKER_HOST 'localhost:2375'"):
        resolve(None, {"DOCKER_HOST": "localhost:2375"})


@pytest.mark.engine
def test_status_reaches_the_engine_of_the_current_context(tmp_path: Path, docker_client):
    """The CLI itself, in a process whose docker config names a context for the engine."""
    context(tmp_path, "local-sock", "unix:///var/run/docker.sock")
    use(tmp_path, "local-sock")
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env["DOCKER_CONFIG"] = str(tmp_path)
    probe = "import sys; from dockyard.cli.startup import main; sys.argv[0]='dockyard'; main()"
    alone = ["--controller", "http://127.0.0.1:1"]  # no controller: the engine answers
    ok = subprocess.run(
        [sys.executable, "-c", probe, "status", "-o", "json", *alone],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    json.loads(ok.stdout)
    use(tmp_path, "nowhere")
    bad = subprocess.run(
        [sys.executable, "-c", probe, "status", *alone],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "docker context 'nowhere' does not exist" in bad.stderr
