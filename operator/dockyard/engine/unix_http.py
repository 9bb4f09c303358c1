"""Read-only GETs on a local engine's unix socket, with the standard library only.

A snapshot (four list calls) is all a no-op `apply` or `diff` asks of the engine; the
Docker SDK (requests, urllib3) takes longer to import than those four calls take. So an
engine on a unix socket is read this way, and the SDK is imported only when something
is created, changed or watched (engine/client.py). Each GET is one HTTP/1.0 request on a
fresh connection (the engine closes it after the answer): nothing is shared between
threads, and nothing goes stale in a long-running controller.

Paths carry no API version: the engine answers in its own, which is what the SDK's
`version="auto"` negotiates too.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

LOCAL_SOCKET = "/var/run/docker.sock"


class UnixHTTPError(Exception):
    """The engine answered with an error status; `explanation` is its message."""

    def __init__(self, status: int, explanation: str) -> None:
        super().__init__(f"{status} {explanation}")
        self.status = status
        self.explanation = explanation


def socket_path(url: str | None, env: dict[str, str] | None = None) -> str | None:
    """The socket an Engine(url) talks to when it is a local unix socket, else None (tcp://,
    ssh://, TLS: those go through the SDK). `url` None means DOCKER_HOST, else the local
    socket, as the SDK's `kwargs_from_env` finds it."""
    if url is None:
        url = (os.environ if env is None else env).get("DOCKER_HOST") or f"unix://{LOCAL_SOCKET}"
    if not url.startswith("unix://"):
        return None
    path = url.removeprefix("unix://")
    return path or None


class UnixReader:
    """GET JSON from the engine at unix socket `path`; counts its requests."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.requests = 0

    def get(self, url: str) -> Any:
        """The decoded JSON of GET `url`. Raises OSError (TimeoutError among them) when the
        socket cannot be used, UnixHTTPError when the engine answers with an error."""
        self.requests += 1
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\n\r\n".encode("ascii"))
            chunks = []
            while chunk := sock.recv(262144):
                chunks.append(chunk)
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split(None, 2)
        try:
            status = int(status_line[1])
        except (IndexError, ValueError):
            raise UnixHTTPError(0, f"the engine sent no HTTP answer ({head[:80]!r})") from None
        if status >= 400:
            raise UnixHTTPError(status, _explanation(body))
        if b"\r\nTransfer-Encoding: chunked" in head or b"\r\ntransfer-encoding: chunked" in head:
            body = _unchunk(body)  # an HTTP/1.0 answer is never chunked, but be safe
        try:
            return json.loads(body)
        except ValueError:
            raise UnixHTTPError(status, f"the engine sent no JSON ({body[:80]!r})") from None


def _explanation(body: bytes) -> str:
    """The engine's `{"message": ...}` of an error answer, else its text."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else body.decode("utf-8", "replace").strip()


def _unchunk(body: bytes) -> bytes:
    out = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)
