"""The CLI starts at once: help and version load none of the heavy parts (pydantic, the
Docker SDK, asyncio, rich, YAML), and `--version` / `version` not even typer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dockyard import __version__

HEAVY = ("pydantic", "docker", "asyncio", "rich", "yaml", "requests", "paramiko", "kopf")

# Runs the real entry point and prints, at exit, the top-level packages it imported.
PROBE = """
import atexit, json, sys
def loaded():  # a name mapped to None was kept from loading
    return sorted({m.split('.')[0] for m, v in sys.modules.items() if v})
atexit.register(lambda: sys.__stderr__.write("MODULES " + json.dumps(loaded()) + "\\n"))
from dockyard.cli.startup import main
sys.argv = ["dockyard", *sys.argv[1:]]
main()
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc.returncode, proc.stdout, set(json.loads(line.removeprefix("MODULES ")))


COMMANDS = [
    [],
    ["apply"],
    ["diff"],
    ["validate"],
    ["status"],
    ["hosts"],
    ["delete"],
    ["run"],
    ["agent"],
    ["operator"],
    ["history"],
    ["import", "compose"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "dockyard")
def test_help_loads_none_of_the_heavy_parts(command: list[str]):
    code, out, modules = run_cli(*command, "--help")
    assert code == 0, out
    assert "Usage: dockyard" in out
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


TYPER = """
import sys
from dockyard.cli.main import main
sys.argv = ["dockyard", *sys.argv[1:]]
main()
"""


def typer_help(*args: str, columns: int) -> str:
    """What typer itself prints for `dockyard ARGS --help` (no pre-rendered page)."""
    proc = subprocess.run(
        [sys.executable, "-c", TYPER, *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_pre_rendered_help_pages_are_what_typer_prints():
    from dockyard.cli.help_pages import PAGES
    from dockyard.cli.help_render import command_paths, render

    fix = "regenerate them: python -m dockyard.cli.help_render (see its docstring)"
    assert sorted(PAGES) == sorted(" ".join(p) for p in command_paths()), fix
    for path in command_paths():
        assert PAGES[" ".join(path)] == render(path), f"dockyard {' '.join(path)}: {fix}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "dockyard")
def test_help_is_answered_without_typer_and_reads_as_typers(command: list[str]):
    code, out, modules = run_cli(*command, "--help")
    assert (code, out) == (0, typer_help(*command, columns=80))
    assert "typer" not in modules


def test_help_on_a_narrow_terminal_is_typers_own_wrapping():
    narrow = typer_help("apply", columns=60)
    code, out, modules = run_cli("apply", "--help", env={"COLUMNS": "60"})
    assert (code, out) == (0, narrow)
    assert "typer" in modules


def test_dash_dash_version_prints_the_client_version_without_typer():
    code, out, modules = run_cli("--version")
    assert (code, out) == (0, f"dockyard {__version__}\n")
    assert "typer" not in modules


def test_version_without_an_engine_still_prints_the_client_version(tmp_path):
    code, out, modules = run_cli(
        "version", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock", "DOCKER_CONTEXT": ""}
    )
    assert code == 0
    first, second = out.splitlines()
    assert first == f"dockyard {__version__}"
    assert second.startswith("engine unreachable: ") and "no such socket" in second
    assert not modules & {"typer", *HEAVY}


@pytest.mark.engine
def test_version_names_the_local_engine_version(docker_client):
    code, out, modules = run_cli("version", env={"DOCKER_HOST": "", "DOCKER_CONTEXT": ""})
    assert code == 0
    assert out.splitlines()[1] == f"engine {docker_client.version()['Version']}"
    assert not modules & {"typer", *HEAVY}


def test_version_with_options_goes_through_typer_and_says_the_same(tmp_path):
    sock = f"unix://{tmp_path}/no.sock"
    code, out, _ = run_cli("version", "--host", sock)
    assert code == 0
    assert out.splitlines()[0] == f"dockyard {__version__}"
    assert "engine unreachable" in out.splitlines()[1]


def test_cli_default_concurrency_is_the_executors():
    from dockyard.apply.executor import DEFAULT_CONCURRENCY
    from dockyard.cli.common import DEFAULT_CONCURRENCY as CLI_DEFAULT

    assert CLI_DEFAULT == DEFAULT_CONCURRENCY


def test_completion_script_completes_commands_and_options():
    code, script, _ = run_cli("completion", "bash")
    assert code == 0 and "_DOCKYARD_COMPLETE=complete_bash" in script
    for words, cword, want in (
        ("dockyard ap", "1", "apply"),
        ("dockyard apply --con", "2", "--concurrency"),
    ):
        proc = subprocess.run(
            [sys.executable, "-c", PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **os.environ,
                "COMP_WORDS": words,
                "COMP_CWORD": cword,
                "_DOCKYARD_COMPLETE": "complete_bash",
            },
        )
        assert proc.stdout.split() == [want], proc.stderr


@pytest.mark.engine
def test_no_op_apply_loads_neither_rich_nor_the_ssh_library(app_name: str, tmp_path):
    from helpers import BASE_IMAGE

    path = tmp_path / "app.yaml"
    path.write_text(
        f"apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {{name: {app_name}}}\n"
        f"spec:\n  services:\n    - name: web\n      image: {BASE_IMAGE}\n"
        "      pullPolicy: Never\n      command: [sleep, '3600']\n      init: true\n"
        "      stopGracePeriod: 1s\n      labels: {dev.dockyard.test: '1'}\n"
    )
    code, _, _ = run_cli("apply", "-q", "-f", str(path))
    assert code == 0
    code, out, modules = run_cli("apply", "-q", "-f", str(path))
    assert (code, out) == (0, f"{app_name}: up to date, nothing to do\n")
    assert not modules & {"rich", "paramiko", "cryptography", "invoke"}
    # Nor the Docker SDK (the snapshot is read on the socket) or asyncio (nothing to run).
    assert not modules & {"docker", "requests", "urllib3", "asyncio"}
    code, out, modules = run_cli("diff", "-f", str(path))
    assert code == 0, out
    assert not modules & {"rich", "docker", "requests", "urllib3", "asyncio"}
