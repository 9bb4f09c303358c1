"""What changed in a container's config: the fields of the config a container was made
with (its `dev.dockyard.config` label) against the desired one, as short lines a person
reads (`env LOG_LEVEL: info -> debug`, `image: a:1 -> a:2`). Pure."""

from __future__ import annotations

import json
import re
from typing import Any

# Longest rendering of one value before its middle is cut (both ends tell: a tag's end).
VALUE_WIDTH = 64
# Most changes named in one cause; the rest are counted.
MOST = 4
# Env and label names whose values a plan never prints (they end up in CI logs).
SENSITIVE = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE", re.IGNORECASE)


def config_changes(old: str | None, new: str) -> list[str]:
    """Each changed field of two `ContainerConfig.summary()` JSON texts; [] when `old` is
    missing or unreadable (a container made before the label existed)."""
    try:
        before = json.loads(old) if old else None
        after = json.loads(new)
    except ValueError:
        return []
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    lines: list[str] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if key == "inputs":
            lines.extend(_inputs(a or {}, b or {}))
        elif isinstance(a, dict) and isinstance(b, dict):
            lines.extend(_mapping(key, a, b))
        else:
            lines.append(f"{key}: {_show(a)} -> {_show(b)}")
    return lines


def describe(changes: list[str]) -> str:
    """The changes as one cause: the first few, then how many more."""
    shown = "; ".join(changes[:MOST])
    more = len(changes) - MOST
    return shown + (f"; and {more} more" if more > 0 else "")


def _mapping(key: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name in sorted(a.keys() | b.keys()):
        hidden = SENSITIVE.search(name) is not None
        if name not in a:
            out.append(f"{key} {name} added" + ("" if hidden else f": {_show(b[name])}"))
        elif name not in b:
            out.append(f"{key} {name} removed")
        elif a[name] != b[name]:
            change = "changed" if hidden else f"{_show(a[name])} -> {_show(b[name])}"
            out.append(f"{key} {name}: {change}")
    return out


def _inputs(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Inputs by name only: their hashes tell a person nothing."""
    out: list[str] = []
    for name in sorted(a.keys() | b.keys()):
        kind, _, what = name.partition(":")
        if name not in a:
            out.append(f"{kind} {what} now recreates on change")
        elif name not in b:
            out.append(f"{kind} {what} no longer recreates on change")
        elif a[name] != b[name]:
            out.append(f"{kind} {what} content changed")
    return out


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if len(text) <= VALUE_WIDTH:
        return text
    half = VALUE_WIDTH // 2
    return text[: half - 1] + "…" + text[-half:]
