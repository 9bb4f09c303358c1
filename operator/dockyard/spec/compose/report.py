"""What a Compose import gives back: the manifest, and the report of the keys it could not carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class UnsupportedKey:
    """A Compose key with no exact equivalent in dockyard: where it is and why."""

    path: str
    reason: str

    def render(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class ImportNote:
    """Something the user should know about the translation; nothing was lost."""

    path: str
    message: str

    def render(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class ComposeImport:
    """The result of an import: the App manifest as plain data, plus what did not map."""

    app: dict[str, Any]
    warnings: list[UnsupportedKey]
    base_dir: Path
    notes: list[ImportNote] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.app["metadata"]["name"])

    def to_yaml(self) -> str:
        """The manifest as YAML, with a comment at the top listing what had no equivalent."""
        lines: list[str] = []
        if self.sources:
            names = ", ".join(_display_path(p, self.base_dir) for p in self.sources)
            lines.append(f"# Imported from Compose ({names}) by `dockyard import compose`.")
        else:
            lines.append("# Imported from Compose by `dockyard import compose`.")
        if self.warnings:
            lines.append("# Compose keys with no exact equivalent in dockyard (not imported):")
            lines.extend(f"#   - {_one_line(w.render())}" for w in self.warnings)
        else:
            lines.append("# Every Compose key had an equivalent in dockyard.")
        if self.notes:
            lines.append("# Notes:")
            lines.extend(f"#   - {_one_line(n.render())}" for n in self.notes)
        body = yaml.safe_dump(
            self.app, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
        )
        return "\n".join(lines) + "\n" + body


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _display_path(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
