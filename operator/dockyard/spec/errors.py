"""Errors a user can cause in a manifest: each names the field path and what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem at one place in a manifest."""

    path: str
    message: str
    hint: str = ""
    source: str = ""
    line: int | None = None  # in `source`, 1-based, where known

    def render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if self.source and self.line:
            where = f"{self.source}:{self.line}: "  # FILE:LINE, as compilers and editors do
        text = f"{where}{self.path}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class SpecError(Exception):
    """A manifest (or a set of them) is invalid; nothing has been applied."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)

    def with_source(self, source: str) -> SpecError:
        return SpecError(
            [FieldError(e.path, e.message, e.hint, e.source or source, e.line) for e in self.errors]
        )
