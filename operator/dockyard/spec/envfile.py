"""Reading `.env` and `env_file` files the way compose-go's dotenv parser reads them.

The format has no formal grammar; Compose's reading is the reference users know, so
this follows it statement by statement (tests/test_dotenv.py runs compose-go's own
fixtures and compares with the Compose binary):

- `KEY=VALUE`, `KEY: VALUE` (YAML style), `export KEY=VALUE`; spaces around `=` are
  dropped; a key is letters, digits, `_`, `.`, `-`, `[`, `]`.
- `KEY` alone on a line is inherited: it takes the value the environment gives it,
  and is left out when the environment has none.
- Unquoted values end at the newline, an inline comment starts at ` #`; `${VAR}` and
  `$VAR` are expanded from the environment first, then from earlier lines.
- `'single'` quotes keep everything literally (only `\\'` escapes the quote) and may
  span lines; `"double"` quotes may span lines, understand `\\n`, `\\t`, `\\\\`, `\\"`,
  `\\$` and other shell escapes, and are expanded like unquoted values.
- A UTF-8 byte order mark is skipped; `#` lines are comments.
"""

from __future__ import annotations

import re
import unicodedata
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

from .interpolate import InterpolationError, interpolate

_BOM = "\ufeff"
_EXPORT = re.compile(r"export[\t\n\f\r ]+")
# Blanks inside a line; a newline ends a statement, so it is not one of them.
_BLANKS = "\t\v\f\r \x85\xa0"
_KEY_PUNCTUATION = "_.-[]"
_ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    '"': '"',
    "\\": "\\",
    "$": "$$",  # a literal $ for the interpolation that follows
}


def parse_env_text(
    text: str,
    where: str,
    lookup: Mapping[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> dict[str, str]:
    """Parse one env file. `lookup` (the environment) is consulted before the file's own
    earlier lines, for `${VAR}` and for inherited keys; `values` are lines already read
    (from an earlier file of the same list) and is filled in place."""
    out: dict[str, str] = {} if values is None else values
    resolve: Mapping[str, str] = ChainMap({} if lookup is None else lookup, out)  # type: ignore[arg-type]
    text = text.removeprefix(_BOM)
    pos = 0
    while True:
        pos = _statement_start(text, pos)
        if pos < 0:
            return out
        line = text.count("\n", 0, pos) + 1
        key, pos, inherited = _key(text, pos, where, line)
        if inherited:
            if key in resolve:
                out[key] = resolve[key]
            continue
        value, pos = _value(text, pos, resolve, where, line)
        out[key] = value


def read_env_file(
    path: Path, lookup: Mapping[str, str] | None = None, values: dict[str, str] | None = None
) -> dict[str, str]:
    """Read one env file (see `parse_env_text`); OSError when unreadable, ValueError when
    invalid, with the file and line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_env_text(text, str(path), lookup, values)


def _statement_start(text: str, pos: int) -> int:
    """Skip blank space and comment lines; -1 at the end of the text."""
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return -1
        if text[pos] != "#":
            return pos
        pos = text.find("\n", pos)
        if pos < 0:
            return -1


def _key(text: str, pos: int, where: str, line: int) -> tuple[str, int, bool]:
    """The key of the statement at `pos`, where its value starts, and whether it is inherited."""
    export = _EXPORT.match(text, pos)
    if export:
        pos += len("export")
        while pos < len(text) and text[pos] in _BLANKS:
            pos += 1
    start = pos
    end = -1
    inherited = False
    for index in range(start, len(text)):
        char = text[index]
        if char in _BLANKS:
            continue
        if char in "=:\n":
            end, inherited = index, char == "\n"
            break
        if char in _KEY_PUNCTUATION or unicodedata.category(char)[0] in "LN":
            continue
        first_line = text[start:].split("\n", 1)[0]
        raise ValueError(
            f"{where}:{line}: unexpected character {char!r} in variable name {first_line!r}"
            " (names are letters, digits, _ . - [ ])"
        )
    if end < 0:
        # The last line, a bare KEY without a newline: compose-go files it under an
        # empty name; it is inherited here, as it is on any other line.
        end, inherited = len(text), True
    key = text[start:end].rstrip()
    if " " in key:
        raise ValueError(f"{where}:{line}: expected KEY=VALUE: key cannot contain a space: {key!r}")
    if not key and not inherited:
        raise ValueError(f"{where}:{line}: expected KEY=VALUE, found no name before the value")
    pos = end + 1
    while pos < len(text) and text[pos] in _BLANKS:
        pos += 1
    return key, pos, inherited


def _value(
    text: str, pos: int, resolve: Mapping[str, str], where: str, line: int
) -> tuple[str, int]:
    """The value starting at `pos` and where the next statement may start."""
    quote = text[pos] if pos < len(text) and text[pos] in "'\"" else ""
    if not quote:
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        value = text[pos:end].split(" #", 1)[0].rstrip()
        return _expand(value, resolve, where, line), end + 1
    chars: list[str] = []
    escaped = False
    for index in range(pos + 1, len(text)):
        char = text[index]
        if char == quote and not escaped:
            value = "".join(chars)
            if quote == '"':
                value = _expand(_unescape(value), resolve, where, line)
            return value, index + 1
        if char == "\\" and not escaped:
            escaped = True
            continue
        if escaped and char != quote:
            # Only the quote loses its backslash here; other escapes are read below.
            chars.append("\\")
        escaped = False
        chars.append(char)
    first_line = text[pos:].split("\n", 1)[0]
    raise ValueError(
        f"{where}:{line}: unterminated quoted value {first_line}"
        f" (close it with {quote}, or escape the quote inside with \\{quote})"
    )


def _unescape(value: str) -> str:
    def one(match: re.Match[str]) -> str:
        body = match.group(0)[1:]
        if body in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[body]
        if body[0] == "c":
            return match.group(0)  # not an escape in Go either: kept as written
        # `\0NNN` is an octal byte; anything shorter or out of range stays as written
        # without its 0, as compose-go leaves it.
        digits = body[1:]
        if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) < 256:
            return chr(int(digits, 8))
        return "\\" + digits

    return _ESCAPE.sub(one, value)


def _expand(value: str, resolve: Mapping[str, str], where: str, line: int) -> str:
    try:
        return interpolate(value, resolve)
    except InterpolationError as exc:
        raise ValueError(f"{where}:{line}: {exc.message}") from None
