"""Errors a user can cause in a manifest: each names the field path and what to do."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class FieldError:
    """One problem at one place in a manifest."""

    path: str
    message: str
    hint: str = ""
    source: str = ""
    line: int | None = None  # in `source`, 1-based, where known
    app: str = ""  # the App whose document this is, when its metadata names it

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
        return SpecError([replace(e, source=e.source or source) for e in self.errors])

    def by_app(self) -> dict[str, str]:
        """The errors of each App that names itself, rendered: the apps this leaves
        unapplied (errors in a document with no readable name are in no entry)."""
        found: dict[str, list[FieldError]] = {}
        for e in self.errors:
            if e.app:
                found.setdefault(e.app, []).append(e)
        return {name: SpecError(errors).render() for name, errors in found.items()}
