"""The docs tell the truth about the CLI: every `--help` shown in docs/cli.md is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cli_help_docs.py"


def test_cli_help_in_docs_matches_the_cli():
    spec = importlib.util.spec_from_file_location("cli_help_docs", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.DOC.read_text(encoding="utf-8")
    assert len(module.BLOCK.findall(text)) >= 8  # every command is documented
    for doc in sorted(module.DOCS.glob("*.md")):
        _, stale = module.refresh(doc.read_text(encoding="utf-8"))
        assert stale == [], f"docs/{doc.name}: run scripts/cli_help_docs.py to refresh: {stale}"
