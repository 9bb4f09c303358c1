"""A command whose extra is not installed says which one to install, in one line, exit 2.

The missing package is made unimportable for the real CLI process (None in sys.modules,
as Python does for a module that must not load); dockyard itself runs unchanged."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from dockyard.cli.startup import main
sys.argv = ["dockyard", *sys.argv[2:]]
main()
"""


def run_without(modules: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, modules, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize("missing", ["kopf", "kubernetes"])
def test_operator_without_the_kubernetes_extra_names_it(missing: str):
    proc = run_without(missing, "operator")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: dockyard operator needs the kubernetes extra: pip install 'dockyard[kubernetes]'"
    ]


def test_agent_without_the_edge_extra_names_it(tmp_path):
    proc = run_without(
        "aiomqtt", "agent", "--broker", "mqtt://127.0.0.1:1", "--id", "a1",
        "--state-dir", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: dockyard agent needs the edge extra: pip install 'dockyard[edge]'"
    ]


def test_run_with_a_broker_without_the_edge_extra_names_it(tmp_path):
    proc = run_without(
        "aiomqtt", "run", str(tmp_path), "--broker", "mqtt://127.0.0.1:1",
        "--state-dir", str(tmp_path / "state"), "--listen", "127.0.0.1:0",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --broker (MQTT edge agents) needs the edge extra: pip install 'dockyard[edge]'"
    )


def test_core_commands_need_no_extra(tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {name: core}\n"
        "spec:\n  services:\n    - {name: web, image: busybox}\n"
    )
    proc = run_without("kopf,kubernetes,aiomqtt", "validate", "-f", str(manifest))
    assert proc.returncode == 0, proc.stderr
    assert "App core is valid" in proc.stdout
