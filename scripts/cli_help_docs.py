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

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC = DOCS / "cli.md"
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
    failed = False
    for doc in sorted(DOCS.glob("*.md")):
        text = doc.read_text(encoding="utf-8")
        new, stale = refresh(text)
        if "--check" in sys.argv:
            for command in stale:
                print(f"docs/{doc.name}: `{command}` is stale; run scripts/cli_help_docs.py")
            failed = failed or bool(stale)
            continue
        if new != text:
            doc.write_text(new, encoding="utf-8")
            print(f"docs/{doc.name}: refreshed {len(stale)} help block(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
