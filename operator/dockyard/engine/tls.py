"""How to reach an engine securely: plain values, no Docker SDK, so callers stay pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineTLS:
    """Mutual TLS to a `tcp://` engine: verify the engine against `ca`, prove who we are
    with `cert` and `key` (PEM files)."""

    ca: str
    cert: str
    key: str
    verify: bool = True
