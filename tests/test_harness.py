"""The harness itself: the engine answers, the local base image works, and every test host
is a machine of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker import DockerClient

from engine_instance import STATE_ROOT, PrivateEngine, ssh_client_env, sweep_dead_hosts
from helpers import BASE_IMAGE, BASE_INDEX_TEXT, REPO_ROOT, TEST_LABELS, unique_name
from waiting import wait_until


def test_unique_name_is_dns_label() -> None:
    names = {unique_name("My_App.x") for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith("my-app-x-")
        assert len(name) <= 63
        assert all(ch.isdigit() or ch == "-" or "a" <= ch <= "z" for ch in name)


@pytest.mark.engine
def test_base_image_httpd_wget_round_trip(docker_client: DockerClient) -> None:
    container = docker_client.containers.run(
        BASE_IMAGE,
        ["httpd", "-f", "-p", "8080", "-h", "/www"],
        name=unique_name("harness"),
        labels=TEST_LABELS,
        network_mode="none",
        detach=True,
    )
    try:

        def fetched() -> bytes:
            code, output = container.exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"])
            assert code == 0, output
            return bytes(output)

        assert BASE_INDEX_TEXT in wait_until(fetched).decode()
    finally:
        container.remove(force=True, v=True)


@pytest.mark.engine
def test_base_image_users_and_applets(docker_client: DockerClient) -> None:
    script = (
        "for a in sh httpd wget nc sleep; do command -v $a >/dev/null || exit 1; done; "
        "id -u app; id -u nobody; stat -c %a /tmp"
    )
    output = docker_client.containers.run(
        BASE_IMAGE, ["sh", "-c", script], labels=TEST_LABELS, network_mode="none", remove=True
    )
    assert output.decode().split() == ["1000", "65534", "1777"]


# ---- test hosts: every extra engine is a machine of its own -------------------------------


@pytest.fixture
def host() -> Iterator[PrivateEngine]:
    engine = PrivateEngine()
    try:
        engine.start()
        engine.load_base_image()
        yield engine
    finally:
        engine.destroy()


def listing_on(engine: PrivateEngine, folder: Path) -> list[str]:
    """What a container on `engine` finds at `folder` bind-mounted from its host."""
    client = docker.DockerClient(base_url=engine.url, timeout=30)
    try:
        out = client.containers.run(
            BASE_IMAGE,
            ["ls", "-A", "/seen"],
            volumes={str(folder): {"bind": "/seen", "mode": "ro"}},
            labels=TEST_LABELS,
            network_mode="none",
            remove=True,
        )
    finally:
        client.close()
    return out.decode().split()


@pytest.mark.engine
def test_a_test_host_sees_none_of_the_clients_files(host: PrivateEngine, tmp_path: Path) -> None:
    for hidden in ("/tmp", "/root", "/run/dockyard", "/var/lib/dockyard", "/var/lib/docker"):
        listing = host.run_inside(["sh", "-c", f"ls -A {hidden} 2>/dev/null || true"]).stdout
        assert listing == "", hidden
    (tmp_path / "client-file").write_text("mine")
    in_checkout = REPO_ROOT / ".cache" / unique_name("harness")
    in_checkout.mkdir(parents=True)
    (in_checkout / "client-file").write_text("mine")
    try:
        assert listing_on(host, tmp_path) == []
        assert listing_on(host, in_checkout) == []
        # (the engine made the missing folders, empty, as Docker does for a bind source)
        seen = host.run_inside(["test", "-e", str(in_checkout / "client-file")], check=False)
        assert seen.returncode == 1
        # Its own docker.sock, dockerd and CLI: `docker` on the machine talks to its engine.
        info = host.run_inside(["docker", "info", "--format", "{{.DockerRootDir}}"])
        assert info.stdout.strip() == str(host.dir / "data")
    finally:
        shutil.rmtree(in_checkout)


@pytest.mark.engine
def test_a_test_host_answers_over_ssh_and_publishes_on_its_own_address(
    host: PrivateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", ssh_client_env()["PATH"])
    version = subprocess.run(
        ["docker", "-H", host.ssh_url, "version", "--format", "{{.Server.Version}}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert version == docker.APIClient(base_url=host.url).version()["Version"]

    client = docker.DockerClient(base_url=host.url, timeout=30)
    web = client.containers.run(
        BASE_IMAGE,
        ["httpd", "-f", "-p", "8080", "-h", "/www"],
        ports={"8080/tcp": ("127.0.0.1", 18080)},
        labels=TEST_LABELS,
        detach=True,
    )
    try:
        fetch = ["wget", "-q", "-T", "2", "-O", "-", "http://127.0.0.1:18080/"]

        def fetched() -> str:
            got = host.run_inside(fetch, check=False)
            assert got.returncode == 0, got.stderr
            return str(got.stdout)

        assert BASE_INDEX_TEXT in wait_until(fetched)
    finally:
        web.remove(force=True)
        client.close()


@pytest.mark.engine
def test_a_full_disk_on_a_test_host_is_its_own(docker_client: DockerClient) -> None:
    engine = PrivateEngine(disk_mb=64)
    try:
        engine.start()
        engine.load_base_image()
        client = docker.DockerClient(base_url=engine.url, timeout=60)

        def write(mb: int) -> int:
            # (the container's log is on the full disk too: its exit status tells)
            container = client.containers.run(
                BASE_IMAGE,
                ["dd", "if=/dev/zero", "of=/big", "bs=1M", f"count={mb}"],
                labels=TEST_LABELS,
                network_mode="none",
                detach=True,
            )
            try:
                return int(container.wait(timeout=60)["StatusCode"])
            finally:
                container.remove(force=True)

        assert write(8) == 0
        assert write(100) == 1
        assert write(8) == 0  # the layer went with its container
        client.close()
    finally:
        engine.destroy()


@pytest.mark.engine
def test_test_hosts_leave_the_main_engine_and_nothing_else_behind(
    docker_client: DockerClient, tmp_path: Path
) -> None:
    engine = PrivateEngine()
    engine.start()
    engine.stop()
    engine.start()  # a restart comes back on the same machine
    netns = os.readlink(f"/proc/{engine.holder.pid}/ns/net")  # type: ignore[union-attr]
    engine.destroy()
    assert not engine.dir.exists() and not engine.share.exists()
    assert not Path(f"/sys/class/net/{engine.veth}").exists()
    assert not in_netns(netns)
    assert Path("/sys/class/net/docker0").exists()
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN echo built > /built\n")
    image, _ = docker_client.images.build(path=str(tmp_path), labels=TEST_LABELS, rm=True)
    out = docker_client.containers.run(image.id, ["cat", "/built"], remove=True)
    assert out == b"built\n"
    docker_client.images.remove(image.id, force=True)


@pytest.mark.engine
def test_a_test_host_left_by_a_killed_run_is_swept() -> None:
    orphan = subprocess.Popen(
        [sys.executable, "-c", ORPHAN],
        cwd=REPO_ROOT / "tests",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert orphan.stdout is not None
    host_id, netns, pid = orphan.stdout.readline().split()
    orphan.kill()  # kill -9: no destroy(), no atexit
    orphan.wait()
    assert (STATE_ROOT / host_id).exists() and in_netns(netns)
    assert running(int(pid))  # its container runs on
    assert host_id in sweep_dead_hosts()
    assert not (STATE_ROOT / host_id).exists() and not in_netns(netns)
    assert not running(int(pid))


ORPHAN = f"""
import os, docker
from engine_instance import PrivateEngine
engine = PrivateEngine(prefix="orphan")
engine.start()
engine.load_base_image()
client = docker.DockerClient(base_url=engine.url)
box = client.containers.run("{BASE_IMAGE}", ["sleep", "600"], network_mode="none", detach=True)
box.reload()
holder = engine.holder.pid
print(engine.id, os.readlink(f"/proc/{{holder}}/ns/net"), box.attrs["State"]["Pid"], flush=True)
os.read(0, 1)
"""


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for init to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def in_netns(netns: str) -> bool:
    """Whether any live process is still in the network namespace `netns`."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "ns" / "net") == netns:
                return True
        except OSError:
            continue
    return False
