"""An engine's version with one raw request on its unix socket, without the Docker SDK.

`dockyard version` answers in a few milliseconds this way; every other call goes through
`Engine`, whose SDK takes longer to import than this whole request takes.
"""

from __future__ import annotations

import json
import socket

from .errors import EngineError, EngineUnavailable


def unix_engine_version(path: str, timeout: float = 5.0) -> str:
    """The `Version` that GET /version on the socket at `path` answers."""
    where = f"cannot reach Docker engine local at unix://{path}"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            # HTTP/1.0: the engine closes the connection after the answer, so read to EOF.
            sock.sendall(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except FileNotFoundError:
        raise EngineUnavailable(f"{where}: no such socket; is dockerd running?") from None
    except ConnectionRefusedError:
        raise EngineUnavailable(f"{where}: connection refused; is dockerd running?") from None
    except TimeoutError:
        raise EngineUnavailable(f"{where}: timed out") from None
    except OSError as exc:
        raise EngineUnavailable(f"{where}: {exc.strerror or exc}") from None
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise EngineError(f"version: the engine at unix://{path} answered {head[:80]!r}")
    try:
        return str(json.loads(body).get("Version", "?"))
    except (ValueError, AttributeError):
        raise EngineError(f"version: the engine at unix://{path} sent no JSON") from None
