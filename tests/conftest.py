"""Fixtures for tests that talk to a real Docker engine.

``docker_client`` makes sure an engine answers (starting ``dockerd`` through
``scripts/ensure-engine.sh`` when none does, so a bare ``pytest`` works) and
that the local base image exists. ``app_name`` hands out a unique App name and
removes everything labelled with it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from docker import DockerClient

from cleanup import HISTORY_LABEL, remove_all, remove_app, remove_labelled
from helpers import APP_LABEL, BASE_IMAGE, SCRIPTS_DIR, TEST_LABEL, unique_name

# The registry fixtures (a real docker-registry), shared by tests/test_registry_*.py;
# the Kubernetes API server and operators, shared by tests/test_k8s_*.py.
pytest_plugins = ["registry_fixtures", "k8s_fixtures"]


def _run_script(name: str) -> None:
    script = SCRIPTS_DIR / name
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        pytest.exit(
            f"{script} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}",
            returncode=3,
        )


def _connect() -> DockerClient | None:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException:
        return None
    return client


# Each running test session's pid: the end-of-session sweep of everything labelled
# dev.dockyard.test would otherwise remove the containers of another session running at
# the same time on the same engine (two developers' runs, or a bench beside the tests).
SESSIONS = Path("/run/dockyard-test-sessions")


def _other_sessions() -> list[int]:
    others = []
    for entry in SESSIONS.glob("*"):
        pid = int(entry.name) if entry.name.isdigit() else 0
        if pid == os.getpid():
            continue
        if pid and Path(f"/proc/{pid}").exists():
            others.append(pid)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()  # a session that died
    return others


def pytest_sessionstart(session: pytest.Session) -> None:
    """Test hosts (tests/engine_instance.py) that a killed earlier run left are removed."""
    from engine_instance import sweep_dead_hosts

    SESSIONS.mkdir(parents=True, exist_ok=True)
    (SESSIONS / str(os.getpid())).touch()
    # The no-op memos (cli/noop_memo.py) of this session's commands, in and out of process,
    # kept apart from the user's own (~/.cache) and removed with the session's tmp folder.
    import tempfile

    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="dockyard-test-cache-")

    swept = sweep_dead_hosts()
    if swept:
        print(f"removed test hosts left by a killed run: {swept}", file=sys.stderr)


def pytest_sessionfinish(session: pytest.Session) -> None:
    import shutil

    cache = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.basename(cache).startswith("dockyard-test-cache-"):
        shutil.rmtree(cache, ignore_errors=True)


def _remove_orphan_histories(client: DockerClient) -> None:
    """Revision records (engine/records.py) of apps no longer on the engine (the apps of
    tests whose own cleanup removes only what carries the app label), and the helpers of
    a writer that was killed."""
    label = HISTORY_LABEL
    helpers = client.api.containers(all=True, filters={"label": f"{label}-helper"})
    remove_all(helpers, lambda c: client.api.remove_container(c["Id"], force=True, v=True))
    listed = [*client.api.containers(all=True), *client.api.networks()]
    live = {(obj.get("Labels") or {}).get(APP_LABEL) for obj in listed}
    orphans = [
        v
        for v in client.volumes.list(filters={"label": label})
        if v.attrs["Labels"].get(label) not in live
    ]
    remove_all(orphans, lambda v: v.remove(force=True))


@pytest.fixture(scope="session")
def docker_client() -> Iterator[DockerClient]:
    """A client for the local engine, started on demand; sweeps test leftovers at the end."""
    client = _connect()
    if client is None:
        _run_script("ensure-engine.sh")
        client = _connect()
        if client is None:
            pytest.exit("Docker engine still unreachable after ensure-engine.sh", returncode=3)
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        _run_script("base-image.sh")
    try:
        yield client
    finally:
        # Leftovers of this session are swept, unless another session is still running:
        # its objects carry the same label (each test also removes its own).
        if not _other_sessions():
            remove_labelled(client, f"{TEST_LABEL}=1")
            _remove_orphan_histories(client)
        with contextlib.suppress(OSError):
            (SESSIONS / str(os.getpid())).unlink()
        client.close()


@pytest.fixture
def app_name(docker_client: DockerClient) -> Iterator[str]:
    """A unique App name; every Docker object labelled with it is removed afterwards."""
    name = unique_name("t")
    yield name
    remove_app(docker_client, name)
