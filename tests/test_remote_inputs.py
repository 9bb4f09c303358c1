"""Secrets and files from the manifest's folder reach a DockerHost that is another machine
(its engine sees none of our files): copied into the container through the engine API,
with their content, mode and owner; never an empty folder; the same plan from any machine."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

from controller_fixtures import is_ready, run_controller
from dockyard.cli.main import app as cli
from engine_instance import PrivateEngine, ssh_client_env
from helpers import BASE_IMAGE, DOCKYARD
from manifests import write
from tls_certs import CA, issue, make_ca
from waiting import eventually

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def remote(pki: Path) -> Iterator[PrivateEngine]:
    engine = PrivateEngine(tls=make_ca(pki, "far"))
    try:
        engine.start()
        engine.load_base_image()
        yield engine
    finally:
        engine.destroy()


def host_doc(remote: PrivateEngine, pki: Path, transport: str) -> str:
    """A DockerHost manifest reaching `remote` over its unix socket, tcp with mutual TLS,
    or ssh."""
    spec = f'url: "{remote.url}"'
    if transport == "tls":
        ca = CA(pki / "far-ca.pem", pki / "far-ca-key.pem")  # made by `remote`
        client = issue(ca, pki, "client", server=False)
        spec = (
            f'url: "{remote.tcp_url}", tls: {{caFile: "{ca.cert}", '
            f'certFile: "{client.cert}", keyFile: "{client.key}"}}'
        )
    elif transport == "ssh":
        spec = f'url: "{remote.ssh_url}"'
    return (
        "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
        f"metadata: {{name: far, labels: {{role: edge}}}}\nspec: {{{spec}}}\n"
    )


@pytest.fixture
def far(remote: PrivateEngine) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=remote.url, timeout=60)
    yield client
    for c in client.containers.list(all=True, filters={"label": "dev.dockyard.managed-by"}):
        c.remove(force=True, v=True)
    for n in client.networks.list(filters={"label": "dev.dockyard.managed-by"}):
        n.remove()
    client.close()


def app_yaml(name: str, web: str, secrets: str = "") -> str:
    return (
        textwrap.dedent(
            f"""\
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata: {{name: {name}}}
        spec:
          placement: {{hostSelector: {{matchLabels: {{role: edge}}}}}}
          services:
            - name: web
              image: {BASE_IMAGE}
              pullPolicy: Never
              command: [sleep, "3600"]
              init: true
              stopGracePeriod: 1s
        """
        )
        + textwrap.indent(textwrap.dedent(web), "      ")
        + secrets
    )


SECRET = """\
secrets:
  - {name: token, mountPath: /run/secrets/token, mode: 0440, uid: 1000, gid: 1000}
"""
SECRETS = """\
  secrets:
    - {name: token, file: ./token.txt}
"""


def folder_for(
    tmp_path: Path,
    remote: PrivateEngine,
    name: str,
    web: str,
    secrets: str,
    host: str = "",
) -> Path:
    folder = tmp_path / "repo"
    write(folder, "hosts.yaml", host or host_doc(remote, tmp_path, "unix"))
    write(folder, "app.yaml", app_yaml(name, web, secrets))
    return folder


def cli_run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def sh(client: docker.DockerClient, container: str, script: str) -> str:
    result = client.containers.get(container).exec_run(["sh", "-c", script])
    assert result.exit_code == 0, result.output
    return bytes(result.output).decode()


@pytest.mark.parametrize("transport", ["unix", "tls", "ssh"])
def test_secret_arrives_on_another_machine_as_a_file_with_its_mode_and_owner(
    remote: PrivateEngine,
    far: docker.DockerClient,
    pki: Path,
    app_name: str,
    tmp_path: Path,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("PATH", ssh_client_env()["PATH"])
    host = host_doc(remote, pki, transport)
    folder = folder_for(tmp_path, remote, app_name, SECRET, SECRETS, host)
    write(folder, "token.txt", "s3cret-Value-42")
    code, out = cli_run("apply", "-f", str(folder))
    assert code == 0, out
    web = f"{app_name}-web-1"
    assert sh(far, web, "cat /run/secrets/token") == "s3cret-Value-42"
    assert sh(far, web, "stat -c '%a %u %g' /run/secrets/token").split() == ["440", "1000", "1000"]
    inspected = far.api.inspect_container(web)
    # Nothing bind-mounted from a path of ours (the engine there cannot see it) ...
    assert not inspected["HostConfig"].get("Binds")
    # ... and the value is nowhere in the container's config or in what apply printed.
    assert "s3cret-Value-42" not in repr(inspected) + out


def test_file_from_the_manifest_folder_arrives_by_content(
    remote: PrivateEngine, far: docker.DockerClient, app_name: str, tmp_path: Path
):
    web = """\
    volumeMounts:
      - {hostPath: ./conf, mountPath: /etc/app, readOnly: true}
      - {hostPath: ./motd.txt, mountPath: /etc/motd}
    """
    folder = folder_for(tmp_path, remote, app_name, web, "")
    write(folder / "conf", "app.conf", "level=1\n")
    write(folder / "conf" / "sub", "more.conf", "deep=yes\n")
    write(folder, "motd.txt", "hello from the repo\n")
    code, out = cli_run("apply", "-f", str(folder))
    assert code == 0, out
    name = f"{app_name}-web-1"
    assert sh(far, name, "cat /etc/app/app.conf /etc/app/sub/more.conf /etc/motd") == (
        "level=1\ndeep=yes\nhello from the repo\n"
    )
    assert sh(far, name, "test -f /etc/motd && echo file") == "file\n"
    assert not far.api.inspect_container(name)["HostConfig"].get("Binds")


def test_same_spec_from_a_second_machine_plans_nothing(
    remote: PrivateEngine, far: docker.DockerClient, app_name: str, tmp_path: Path
):
    web = SECRET + "volumeMounts:\n  - {hostPath: ./conf, mountPath: /etc/app}\n"
    folder = folder_for(tmp_path, remote, app_name, web, SECRETS)
    write(folder, "token.txt", "same-value")
    write(folder / "conf", "app.conf", "x\n")
    code, out = cli_run("apply", "-f", str(folder))
    assert code == 0, out
    # The other machine: its own checkout at another path, no /var/lib/dockyard or
    # /run/dockyard of ours (a mount namespace with fresh ones).
    laptop = tmp_path / "laptop" / "checkout"
    shutil.copytree(folder, laptop)
    script = (
        "mkdir -p /var/lib/dockyard /run/dockyard && mount -t tmpfs tmpfs /var/lib/dockyard "
        '&& mount -t tmpfs tmpfs /run/dockyard && exec "$0" diff -f "$1"'
    )
    diff = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            str(DOCKYARD),
            laptop,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert diff.returncode == 0, diff.stdout + diff.stderr  # 0 = up to date, 2 = changes


def test_read_only_root_with_a_secret_on_another_machine_fails_clearly(
    remote: PrivateEngine, far: docker.DockerClient, app_name: str, tmp_path: Path
):
    folder = folder_for(tmp_path, remote, app_name, SECRET + "readOnly: true\n", SECRETS)
    write(folder, "token.txt", "v")
    code, out = cli_run("apply", "-f", str(folder))
    assert code != 0
    flat = " ".join(out.split())
    assert "read-only root filesystem" in flat and "far" in flat and "readOnly: false" in flat
    assert not far.containers.list(filters={"label": f"dev.dockyard.app={app_name}"})


async def test_edited_config_file_with_on_change_restart_reaches_the_remote_container(
    remote: PrivateEngine, far: docker.DockerClient, app_name: str, tmp_path: Path
):
    web = "volumeMounts:\n  - {hostPath: ./conf, mountPath: /etc/app, onChange: restart}\n"
    folder = folder_for(tmp_path, remote, app_name, web, "")
    write(folder / "conf", "app.conf", "level=1\n")
    name = f"{app_name}-web-1"
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=60)
        started = far.api.inspect_container(name)["State"]["StartedAt"]
        container_id = far.containers.get(name).id
        write(folder / "conf", "app.conf", "level=2\n")
        await eventually(
            lambda: far.api.inspect_container(name)["State"]["StartedAt"] != started,
            timeout=60,
        )
        assert sh(far, name, "cat /etc/app/app.conf") == "level=2\n"
        assert far.containers.get(name).id == container_id  # restarted, not replaced


def test_a_secret_the_engine_refuses_fails_the_apply_and_nothing_runs(
    remote: PrivateEngine, far: docker.DockerClient, app_name: str, tmp_path: Path
):
    # /etc/passwd is a file in the image: the engine cannot unpack a file beneath it.
    web = "secrets:\n  - {name: token, mountPath: /etc/passwd/token}\n"
    folder = folder_for(tmp_path, remote, app_name, web, SECRETS)
    write(folder, "token.txt", "never-shown-value")
    code, out = cli_run("apply", "-f", str(folder))
    assert code != 0
    flat = " ".join(out.split())
    assert "copy /etc/passwd/token into" in flat and "on engine far" in flat, flat
    assert "never-shown-value" not in out
    # No container is left to be started later without its secret.
    assert not far.containers.list(all=True, filters={"label": f"dev.dockyard.app={app_name}"})


def test_absolute_host_path_is_the_hosts_own_path(
    remote: PrivateEngine, far: docker.DockerClient, app_name: str, tmp_path: Path
):
    on_host = f"/tmp/{app_name}-data"  # the machine has a /tmp of its own
    remote.run_inside(["sh", "-c", f"mkdir -p {on_host} && echo host-side > {on_host}/f"])
    # The client has a folder of the same name with other content: it must not be used.
    mine = Path(on_host)
    mine.mkdir(parents=True, exist_ok=True)
    (mine / "f").write_text("client-side\n")
    try:
        web = f"volumeMounts:\n  - {{hostPath: {on_host}, mountPath: /data}}\n"
        folder = folder_for(tmp_path, remote, app_name, web, "")
        code, out = cli_run("apply", "-f", str(folder))
        assert code == 0, out
        assert sh(far, f"{app_name}-web-1", "cat /data/f") == "host-side\n"
    finally:
        shutil.rmtree(mine, ignore_errors=True)
        remote.run_inside(["rm", "-rf", on_host], check=False)
