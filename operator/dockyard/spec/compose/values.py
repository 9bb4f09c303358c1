"""Small value helpers shared by the translators: scalars, mappings, ordering."""

from __future__ import annotations

from typing import Any


def key_values(value: Any) -> dict[str, Any]:
    """environment, labels, build args: a mapping, or a list of `KEY=VALUE` (or bare
    `KEY`: no value, None)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    result: dict[str, Any] = {}
    for item in value:
        key, sep, val = str(item).partition("=")
        result[key] = val if sep else None
    return result


def label_map(value: Any) -> dict[str, str]:
    return {k: "" if v is None else scalar(v) for k, v in key_values(value).items()}


def definitions(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in value.items()}


def scalar(value: Any) -> str:
    """A YAML scalar as Compose turns it into a string (`true`, `8000`, `1.5`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def cpus_value(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def tmpfs_size(value: str) -> Any:
    return int(value) if value.isdigit() else value


def port_range(text: str, whole: str) -> list[int]:
    text = text.strip()
    start, sep, end = text.partition("-")
    try:
        first = int(start)
        last = int(end) if sep else first
    except ValueError:
        raise ValueError(f"invalid port {whole!r}") from None
    if last < first or not (0 < first <= 65535 and 0 < last <= 65535):
        raise ValueError(f"invalid port range in {whole!r}")
    return list(range(first, last + 1))


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def ordered(item: dict[str, Any], order: list[str]) -> dict[str, Any]:
    rank = {k: i for i, k in enumerate(order)}
    return dict(sorted(item.items(), key=lambda kv: rank.get(kv[0], len(order))))


def escape_dollars(node: Any) -> Any:
    """Manifests are interpolated when loaded: write every literal `$` as `$$`."""
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, list):
        return [escape_dollars(v) for v in node]
    if isinstance(node, dict):
        return {k: escape_dollars(v) for k, v in node.items()}
    return node
