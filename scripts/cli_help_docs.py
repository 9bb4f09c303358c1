"""Refresh the `dockyard … --help` blocks in docs/cli.md from the real CLI.

Usage: .venv/bin/python scripts/cli_help_docs.py [--check]
With --check, exit 1 (and name the stale blocks) instead of rewriting.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from typer.testing import CliRunner

from dockyard.cli.main import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
BLOCK = re.compile(r"```text\n\$ (dockyard[^\n]*--help)\n(.*?)```", re.S)


def help_text(command: str) -> str:
    os.environ["COLUMNS"] = "80"
    result = CliRunner().invoke(app, shlex.split(command)[1:], env={"COLUMNS": "80"})
    return result.output


def refresh(text: str) -> tuple[str, list[str]]:
    stale: list[str] = []

    def replace(match: re.Match[str]) -> str:
        command, old = match.group(1), match.group(2)
        new = help_text(command)
        if new != old:
            stale.append(command)
        return f"```text\n$ {command}\n{new}```"

    return BLOCK.sub(replace, text), stale


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    new, stale = refresh(text)
    if "--check" in sys.argv:
        for command in stale:
            print(f"docs/cli.md: `{command}` is stale; run scripts/cli_help_docs.py")
        return 1 if stale else 0
    DOC.write_text(new, encoding="utf-8")
    print(f"refreshed {len(BLOCK.findall(text))} help blocks ({len(stale)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
