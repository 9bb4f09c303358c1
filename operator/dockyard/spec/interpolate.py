"""Compose-style interpolation, as compose-go's `template` package does it.

`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
`${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}` and `$$`. A default, an alternative or a
message is itself interpolated, to any depth (`${X:-${Y:-${Z:-d}}}`), and only when it
is used. A `$` that starts no variable (`$1`, `cost $`, `$-`) is kept literally, as
Compose keeps it; `${` that is not a valid variable (`${1}`, `${X`, `${X.Y}`,
`${X:=d}`) is an error. tests/test_interpolation.py compares with the Compose binary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import FieldError

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATOR = re.compile(r":?[-?+]")
_HINT = "write ${NAME}, ${NAME:-default} or ${NAME:?message}; use $$ for a literal $"


class InterpolationError(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute variables in one string, as Compose does."""
    if "$" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        dollar = text.find("$", pos)
        if dollar < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:dollar])
        after = text[dollar + 1 : dollar + 2]
        if after == "$":
            out.append("$")
            pos = dollar + 2
        elif after == "{":
            value, pos = _braced(text, dollar + 2, env)
            out.append(value)
        elif named := _NAME.match(text, dollar + 1):
            out.append(env.get(named.group(0), ""))
            pos = named.end()
        else:
            out.append("$")
            pos = dollar + 1


def _braced(text: str, start: int, env: Mapping[str, str]) -> tuple[str, int]:
    """The value of the `${…}` whose name starts at `start`, and the position after it."""
    named = _NAME.match(text, start)
    if named is None:
        raise InterpolationError(f"invalid interpolation in {text!r}", _HINT)
    name = named.group(0)
    pos = named.end()
    if text[pos : pos + 1] == "}":
        return env.get(name, ""), pos + 1
    operator = _OPERATOR.match(text, pos)
    close = _closing_brace(text, operator.end()) if operator else -1
    if operator is None or close < 0:
        raise InterpolationError(f"invalid interpolation in {text!r}", _HINT)
    op, arg = operator.group(0), text[operator.end() : close]
    value = env.get(name)
    missing = value is None or (op.startswith(":") and value == "")
    if op.endswith("-"):
        return (interpolate(arg, env) if missing else value or ""), close + 1
    if op.endswith("+"):
        return ("" if missing else interpolate(arg, env)), close + 1
    if missing:  # "?": required
        reason = interpolate(arg, env)
        raise InterpolationError(
            f"required variable {name} is not set: {reason or 'no message given'}",
            f"export {name}=… or add it to the .env file beside the manifest",
        )
    return value or "", close + 1


def _closing_brace(text: str, start: int) -> int:
    """The `}` that closes a `${` whose argument starts at `start`; braces inside nest."""
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


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
