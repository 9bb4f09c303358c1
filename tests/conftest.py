"""Fixtures for tests that talk to a real Docker engine.

``docker_client`` makes sure an engine answers (starting ``dockerd`` through
``scripts/ensure-engine.sh`` when none does, so a bare ``pytest`` works) and
that the local base image exists. ``app_name`` hands out a unique App name and
removes everything labelled with it afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import docker
import docker.errors
import pytest
from docker import DockerClient

from dockyard.engine.secrets import SecretStore
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


def _remove_all(objects: Iterable[Any], remove: Callable[[Any], None]) -> None:
    """Call ``remove`` on each object, ignoring ones already gone."""
    for obj in objects:
        try:
            remove(obj)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            warnings.warn(f"cleanup: could not remove {obj!r}: {exc}", stacklevel=2)


def remove_labelled(client: DockerClient, label: str) -> None:
    """Remove containers, then networks, volumes and images matching ``label``.

    ``label`` is a Docker label filter: ``key`` or ``key=value``.
    """
    filters = {"label": label}
    _remove_all(
        client.containers.list(all=True, filters=filters),
        lambda c: c.remove(force=True, v=True),
    )
    _remove_all(client.networks.list(filters=filters), lambda n: n.remove())
    _remove_all(client.volumes.list(filters=filters), lambda v: v.remove(force=True))
    _remove_all(
        client.images.list(filters=filters),
        lambda i: client.images.remove(i.id, force=True),
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Test hosts (tests/engine_instance.py) that a killed earlier run left are removed."""
    from engine_instance import sweep_dead_hosts

    swept = sweep_dead_hosts()
    if swept:
        print(f"removed test hosts left by a killed run: {swept}", file=sys.stderr)


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
        remove_labelled(client, f"{TEST_LABEL}=1")
        client.close()


@pytest.fixture
def app_name(docker_client: DockerClient) -> Iterator[str]:
    """A unique App name; every Docker object labelled with it is removed afterwards."""
    name = unique_name("t")
    yield name
    remove_labelled(docker_client, f"{APP_LABEL}={name}")
    # Secret files dockyard wrote for the app's containers on the host's tmpfs.
    SecretStore().forget_app(name)
