"""Durations (`10s`, `1m30s`, `500ms`) and sizes (`256Mi`, `1g`) as Compose users write them."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?)([bB]?)$")
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_duration(value: object) -> float:
    """Seconds from `1m30s`, `500ms`, `10` (seconds) or a number; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '10s' or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration is a string like '10s' or a number of seconds")
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"{value!r} is not a duration; write it like '10s', '1m30s', '500ms' or '2h'"
        )
    return total


def parse_size(value: object) -> int:
    """Bytes from `256Mi`, `1g`, `512m`, `64k`, `1024` or a number; raises ValueError.

    Like Compose and Docker, `m` and `Mi` both mean 2**20: sizes are binary.
    """
    if isinstance(value, bool):
        raise ValueError("a size is a string like '256Mi' or a number of bytes")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    if not isinstance(value, str):
        raise ValueError("a size is a string like '256Mi' or a number of bytes")
    match = _SIZE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a size; write it like '256Mi', '1g' or '64k'")
    number, unit, _, _ = match.groups()
    return int(float(number) * 1024 ** _SIZE_POWERS[unit.lower()])


def format_duration(seconds: float) -> str:
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{int(seconds * 1000)}ms"
