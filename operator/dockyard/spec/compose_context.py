"""What the Compose importer's per-concern translators (compose_keys, compose_configs) see
of it: where to report, and the service being translated."""

from __future__ import annotations

from typing import Any, Protocol


class Importer(Protocol):
    def error(self, path: str, message: str, hint: str = "", source: str | None = None) -> None:
        """An error at a Compose path."""

    def unsupported(self, path: str, reason: str) -> None:
        """A key dropped with a warning."""

    def note(self, path: str, message: str) -> None:
        """A remark; nothing lost."""


class Ctx(Protocol):
    raw: str
    path: str
    out: dict[str, Any]
