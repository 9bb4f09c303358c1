"""Compose `include`: other Compose files whose services, networks, volumes, secrets and
configs join this project, as `docker compose` reads them (relative paths inside an
included file are relative to its own folder, or to its `project_directory`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context import Importer
from .files import read_file, resolve_extends
from .merge import merge, rebase_doc

__all__ = ["SECTIONS", "Include", "entries", "with_includes"]

SECTIONS = ("services", "volumes", "networks", "secrets", "configs")


@dataclass(frozen=True)
class Include:
    path: str  # where it is written, for messages
    files: tuple[Path, ...]  # merged in order, as `-f a -f b`
    project_dir: Path  # what the included files' relative paths are relative to


def entries(imp: Importer, value: Any, file: Path) -> list[Include]:
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


def with_includes(
    imp: Importer, doc: dict[str, Any], file: Path, stack: tuple[Path, ...]
) -> dict[str, Any]:
    """`doc` with the definitions of the files it includes (recursively) added; one
    defined both here and in an included file, differently, is an error (as Compose)."""
    value = doc.pop("include", None)
    if value is None:
        return doc
    added: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for inc in entries(imp, value, file):
        sub: dict[str, Any] = {}
        for i, part in enumerate(inc.files):
            if part.resolve() in stack:
                imp.error(inc.path, f"{part} includes itself", "remove the cycle", str(file))
                continue
            if not part.is_file():
                imp.error(
                    inc.path, f"included file {part} does not exist", "fix the path", str(file)
                )
                continue
            part_doc = read_file(imp, part)
            if part_doc is None:
                continue
            part_doc = with_includes(imp, part_doc, part, (*stack, part.resolve()))
            part_doc = resolve_extends(imp, part_doc, part, set())
            sub = part_doc if i == 0 else merge(sub, part_doc, ())
        sub = rebase_doc(sub, inc.project_dir, imp.base_dir)
        for section in SECTIONS:
            for name, definition in (sub.get(section) or {}).items():
                mine = (doc.get(section) or {}).get(name, added[section].get(name))
                if mine is not None and mine != definition:
                    imp.error(
                        f"{section}.{name}",
                        f"defined both in {file.name} and in the included {inc.path} "
                        f"({', '.join(p.name for p in inc.files)}), differently",
                        "define it in one place, as Compose requires",
                        str(file),
                    )
                    continue
                added[section][name] = definition
    for section, defs in added.items():
        if defs:
            doc[section] = {**defs, **(doc.get(section) or {})}
    return doc
