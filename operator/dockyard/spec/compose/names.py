"""Names: the app's, and the manifest names of Compose services, volumes, networks and
secrets."""

from __future__ import annotations

import re
from typing import Any

from ..models import OBJECT_NAME_PATTERN
from .context import Importer

_OBJECT_NAME = re.compile(OBJECT_NAME_PATTERN)


def is_object_name(name: str) -> bool:
    return len(name) <= 63 and _OBJECT_NAME.match(name) is not None


def to_dns_label(name: str) -> str:
    """A Compose name as a DNS-1123 label: lower-case, `_`/`.`/spaces to `-`, others dropped."""
    text = name.lower()
    text = re.sub(r"[_.\s]", "-", text)
    text = re.sub(r"[^a-z0-9-]", "", text)
    text = text.strip("-")[:63].rstrip("-")
    return text


def compose_project(raw: str) -> str:
    """The project name Compose uses: lower-case, only [a-z0-9_-], no leading '_'/'-'."""
    return re.sub(r"[^a-z0-9_-]", "", raw.lower()).lstrip("_-")[:63]


def app_name(imp: Importer, doc: dict[str, Any]) -> tuple[str, str]:
    """The app's name (a DNS-1123 label) and its Compose project (the prefix of the engine
    names, `spec.project` where the two differ: `my_stack` runs as app `my-stack`)."""
    raw: str | None = imp.project_name or imp.env.get("COMPOSE_PROJECT_NAME") or None
    where = "project name"
    if raw is None and isinstance(doc.get("name"), str) and doc["name"]:
        raw, where = doc["name"], "name"
    if raw is None:
        raw, where = imp.base_dir.name, f"folder name {imp.base_dir.name!r}"
    project = compose_project(raw)
    name = to_dns_label(project)
    if not name:
        imp.error(
            "name",
            f"cannot make an app name from {where} {raw!r}",
            "set name: in the Compose file or pass a project name",
        )
    elif project != raw:
        imp.note("name", f"project name {raw!r} is {project!r} (as Compose names it)")
    if name and name != project:
        imp.note(
            "name",
            f"project {project!r} becomes app name {name!r} (app names are DNS-1123 labels) "
            f"with spec.project {project!r}: containers, networks and volumes keep Compose's "
            f"names ({project}-<service>-1, {project}_<volume>), so a running project is "
            "taken over",
        )
    return name, project


def rename(imp: Importer, kind: str, names: list[str], table: dict[str, str]) -> None:
    # Services, volumes and networks keep their Compose names (`db_data` stays
    # `<app>_db_data` on the engine, so Compose's data is found); only a name Docker
    # could not carry, and secret names (DNS-1123 in a manifest), are converted.
    keep = kind != "secrets"
    taken: dict[str, str] = {}
    for raw in names:
        new = raw if keep and is_object_name(raw) else to_dns_label(raw)
        if not new:
            imp.error(f"{kind}.{raw}", f"cannot turn {raw!r} into a DNS-1123 name")
            continue
        if new in taken:
            imp.error(
                f"{kind}.{raw}",
                f"{raw!r} and {taken[new]!r} would both become {new!r}",
                "rename one of them in the Compose file",
            )
            continue
        taken[new] = raw
        table[raw] = new
        if new != raw:
            rule = "DNS-1123 labels" if not keep else "letters, digits, _ . - (Docker's rule)"
            imp.note(
                f"{kind}.{raw}",
                f"renamed to {new!r} (dockyard names are {rule}); every reference is renamed too",
            )


def resource_name(
    imp: Importer,
    path: str,
    raw: str,
    custom: Any,
    external: bool,
    out: dict[str, Any],
    table: dict[str, str],
) -> None:
    """Compose uses `name:` (or the key, for external ones) literally on the engine."""
    what = "volume" if path.startswith("volumes") else "network"
    if external:
        # dockyard uses an external resource's name as is, so it must be the engine name.
        engine_name = str(custom) if custom else raw
        if engine_name == out["name"]:
            return
        if is_object_name(engine_name):
            imp.note(path, f"external {what} {engine_name!r} is named {engine_name!r}")
            table[raw] = engine_name
            out["name"] = engine_name
        else:
            imp.unsupported(
                f"{path}.name" if custom else path,
                f"external {what} {engine_name!r} is not a name dockyard can hold; dockyard "
                f"would look for {out['name']!r} instead",
            )
    elif custom is not None and is_object_name(str(custom)):
        out["engineName"] = str(custom)  # used as is on the engine, as Compose does
    elif custom is not None:
        imp.unsupported(
            f"{path}.name",
            f"{custom!r} is not a name dockyard can hold (letters, digits, _ . -); "
            f"the {what} is named <app>_{raw} instead",
        )
