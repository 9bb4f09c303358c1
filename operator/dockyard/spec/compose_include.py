"""Compose `include`: other Compose files whose services, networks, volumes, secrets and
configs join this project, as `docker compose` reads them (relative paths inside an
included file are relative to its own folder, or to its `project_directory`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["SECTIONS", "Include", "entries"]

SECTIONS = ("services", "volumes", "networks", "secrets", "configs")


class _Importer(Protocol):
    def error(self, path: str, message: str, hint: str = "", source: str | None = None) -> None:
        """An error at a Compose path."""

    def unsupported(self, path: str, reason: str) -> None:
        """A key dropped with a warning."""


@dataclass(frozen=True)
class Include:
    path: str  # where it is written, for messages
    files: tuple[Path, ...]  # merged in order, as `-f a -f b`
    project_dir: Path  # what the included files' relative paths are relative to


def entries(imp: _Importer, value: Any, file: Path) -> list[Include]:
    """The `include:` list of `file`: a path, or a mapping with `path` (one or a list),
    `project_directory` and `env_file`."""
    out: list[Include] = []
    if not isinstance(value, list):
        imp.error("include", "include is a list of files", "write include: [other.yaml]", str(file))
        return out
    for index, item in enumerate(value):
        path = f"include[{index}]"
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or not item.get("path"):
            imp.error(path, "an include is a path or a mapping with path:", "", str(file))
            continue
        raw = item["path"]
        paths = [str(p) for p in raw] if isinstance(raw, list) else [str(raw)]
        files = tuple((file.parent / Path(p).expanduser()) for p in paths)
        project = item.get("project_directory")
        project_dir = (file.parent / str(project)) if project else files[0].parent
        for key in item:
            if key == "env_file":
                imp.unsupported(
                    f"{path}.env_file",
                    "the included files are interpolated with this project's environment "
                    "(its .env and the process environment), not with their own env_file",
                )
            elif key not in ("path", "project_directory"):
                imp.unsupported(f"{path}.{key}", "not an include option")
        out.append(Include(path, files, project_dir))
    return out
