"""Compose-style interpolation: `${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR:?message}`, `$$`."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import FieldError

_PATTERN = re.compile(
    r"""
    \$(?:
        (?P<escaped>\$) |
        (?P<named>[_a-zA-Z][_a-zA-Z0-9]*) |
        \{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)
            (?:(?P<op>:?[-?+])(?P<arg>(?:[^{}]|\{[^{}]*\})*))?\} |  # one level of nesting
        (?P<invalid>)
    )
    """,
    re.VERBOSE,
)


class InterpolationError(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute variables in one string, as Compose does."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "$"
        name = match.group("named") or match.group("braced")
        if name is None:
            raise InterpolationError(
                f"invalid interpolation in {text!r}",
                "write ${NAME}, ${NAME:-default} or ${NAME:?message}; use $$ for a literal $",
            )
        op = match.group("op")
        arg = match.group("arg") or ""
        value = env.get(name)
        if op is None:
            return value or ""
        unset_or_empty = ":" in op
        missing = value is None or (unset_or_empty and value == "")
        if op.endswith("-"):
            return interpolate(arg, env) if missing else (value or "")
        if op.endswith("+"):
            return "" if missing else interpolate(arg, env)
        # "?" — required
        if missing:
            raise InterpolationError(
                f"required variable {name} is not set: {arg or 'no message given'}",
                f"export {name}=… or add it to the .env file beside the manifest",
            )
        return value or ""

    return _PATTERN.sub(replace, text)


def interpolate_tree(
    node: object, env: Mapping[str, str], path: str, errors: list[FieldError]
) -> object:
    """Interpolate every string in a parsed YAML tree; collect errors with their paths."""
    if isinstance(node, str):
        try:
            return interpolate(node, env)
        except InterpolationError as exc:
            errors.append(FieldError(path, exc.message, exc.hint))
            return node
    if isinstance(node, list):
        return [
            interpolate_tree(item, env, f"{path}[{_item_key(item, i)}]", errors)
            for i, item in enumerate(node)
        ]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env, f"{path}.{k}", errors) for k, v in node.items()}
    return node


def _item_key(item: object, index: int) -> str:
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return str(item["name"])
    return str(index)
