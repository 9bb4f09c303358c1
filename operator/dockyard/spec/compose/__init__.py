"""Compose import: turn one or more Compose files into an equivalent `App` manifest.

This package's public API is what it exports here; its modules are split by concern:
`yamlfile`, `files`, `include` and `merge` load and merge the files (YAML as Compose reads
it, `.env` and interpolation, `include`, `extends`, profiles); `names` turns Compose names
into manifest names; `service` drives one service through the per-section translators
(`service_keys`, `ports`, `volumes`, `networks`, `secrets`, `configs`, `deploy`,
`hostconfig`); `report` is what comes back; `pipeline` runs the steps in order.

Pure translation, no Docker calls. The steps follow `docker compose config`:

1. read each file (YAML 1.2-like: `22:22` stays a string, `no` is not a boolean),
2. interpolate `${VAR}` with the process environment over `.env` (or `--env-file`s),
3. resolve `extends`, then merge the files with Compose's override rules,
4. drop services whose profiles are not active,
5. translate every key into the manifest (camelCase, lists of named items).

A key dockyard cannot honour becomes an `UnsupportedKey` (key path and why), never a silent
drop; with `strict=True` they are an error. Purely informational remarks (such as `expose`,
or a renamed service) are `ImportNote`s. Names that are not DNS-1123 labels (`web_app`) are
converted (`web-app`) consistently in every reference, and renamed services keep their old
name as a network alias so other containers still resolve it.

The resulting `app` is a manifest document as it would be written to a file: interpolation
has been done, so every literal `$` is written `$$` (the manifest loader interpolates again).
"""

from __future__ import annotations

from .names import to_dns_label
from .pipeline import import_compose
from .report import ComposeImport, ImportNote, UnsupportedKey
from .yamlfile import is_compose_document, load_compose_yaml

__all__ = [
    "ComposeImport",
    "ImportNote",
    "UnsupportedKey",
    "import_compose",
    "is_compose_document",
    "load_compose_yaml",
    "to_dns_label",
]
