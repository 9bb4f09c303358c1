"""dockyard installs and runs like a Python tool: `python -m dockyard`, a LICENSE that
matches what pyproject declares."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from helpers import REPO_ROOT


def test_python_dash_m_dockyard_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "dockyard", "validate", "-f", str(REPO_ROOT / "examples" / "hello")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello" in result.stdout


def test_license_file_matches_the_declared_license():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == {"text": "Apache-2.0"}
    text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
