"""dockyard installs like a Python tool: its wheel, in a clean venv, with dependencies from
PyPI and no Makefile, validates and applies a manifest; the extras it lacks are named."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from docker import DockerClient

from helpers import BASE_IMAGE

ROOT = Path(__file__).resolve().parents[1]
# What pip says when no index answers: only then is the test skipped.
OFFLINE = (
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
    "Could not find a version that satisfies",
    "ProxyError",
)


def sh(*cmd: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv where only the built wheel (and what it depends on) is."""
    work = tmp_path_factory.mktemp("wheel")
    # A copy of the sources: a build in place would leave build/ in the checkout.
    src = work / "src"
    skip = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "site", "tests")
    shutil.copytree(ROOT, src, ignore=skip)
    built = sh(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", work / "dist", src, cwd=work
    )
    made = sh(sys.executable, "-m", "venv", work / "venv", cwd=work)
    assert made.returncode == 0, made.stderr
    wheels = list((work / "dist").glob("dockyard-*.whl"))
    pip = sh(work / "venv/bin/python", "-m", "pip", "install", "-q", *wheels, cwd=work)
    for step in (built, pip):
        if step.returncode != 0 and any(s in step.stdout + step.stderr for s in OFFLINE):
            pytest.skip(f"PyPI cannot be reached for the wheel and its dependencies: {step.stderr}")
        assert step.returncode == 0, step.stdout + step.stderr
    return work / "venv/bin"


def test_installed_wheel_has_the_cli_and_no_extras(installed: Path, tmp_path: Path):
    help_ = sh(installed / "dockyard", "--help", cwd=tmp_path)
    assert help_.returncode == 0 and "Usage: dockyard" in help_.stdout, help_.stderr
    assert sh(installed / "dockyard", "--version", cwd=tmp_path).stdout.startswith("dockyard ")
    missing = sh(installed / "python", "-c", "import kopf", cwd=tmp_path)
    assert missing.returncode != 0, "kopf came without the kubernetes extra"
    operator = sh(installed / "dockyard", "operator", cwd=tmp_path, timeout=60)
    assert operator.returncode == 2
    assert "pip install 'dockyard[kubernetes]'" in operator.stderr


@pytest.mark.engine
def test_installed_wheel_validates_and_applies(
    installed: Path, tmp_path: Path, app_name: str, docker_client: DockerClient
):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        textwrap.dedent(f"""\
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata: {{name: {app_name}}}
        spec:
          services:
            - name: web
              image: {BASE_IMAGE}
              pullPolicy: Never
              command: [sleep, "3600"]
              init: true
              stopGracePeriod: 1s
              labels: {{dev.dockyard.test: "1"}}
        """)
    )
    valid = sh(installed / "dockyard", "validate", "-f", manifest, cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert f"App {app_name} is valid" in valid.stdout
    applied = sh(installed / "dockyard", "apply", "-q", "-f", manifest, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    (container,) = docker_client.containers.list(filters={"label": f"dev.dockyard.app={app_name}"})
    assert container.status == "running"
