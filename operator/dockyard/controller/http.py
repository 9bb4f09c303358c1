"""The controller's loopback HTTP endpoints: /healthz, /readyz, /metrics, /status,
/history/<app>, and POST /rollback/<app>[?to=N]."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from .reconciler import Controller

log = logging.getLogger("dockyard.controller.http")


class HealthServer:
    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 9129) -> None:
        self.controller = controller
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        # More GET endpoints, path -> JSON body (e.g. /agents from the MQTT publisher).
        self.routes: dict[str, Callable[[], object]] = {}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        log.info("serving /healthz /readyz /metrics /status on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass
            parts = request.decode("latin-1").split()
            target = parts[1] if len(parts) >= 2 else "/"
            path, _, query = target.partition("?")
            method = parts[0] if parts else ""
            if method == "POST":
                status, ctype, body = self._post(path, query)
            else:
                status, ctype, body = self._route(method, path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _post(self, path: str, query: str) -> tuple[str, str, bytes]:
        if not path.startswith("/rollback/"):
            return "405 Method Not Allowed", "text/plain", b"POST only to /rollback/<app>\n"
        name = path[len("/rollback/") :]
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        raw = params.get("to", "")
        if raw and not raw.isdigit():
            return _json("400 Bad Request", {"error": f"to must be a revision number, not {raw}"})
        try:
            message = self.controller.rollback(name, int(raw) if raw else None)
        except ValueError as exc:
            return _json("409 Conflict", {"error": str(exc)})
        return _json("200 OK", {"message": message})

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        c = self.controller
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path in self.routes:
            return _json("200 OK", self.routes[path]())
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            if c.ready:
                return "200 OK", "text/plain", b"ready\n"
            return "503 Service Unavailable", "text/plain", b"not ready: syncing\n"
        if path == "/metrics":
            c.metrics.queue_depth.set(len(c.queue))
            c.metrics.engine_up.set(1 if c.cache.connected else 0)
            c.metrics.engine_requests.set(c.engine.requests)
            return "200 OK", "text/plain; version=0.0.4", c.metrics.render()
        if path == "/status" or path.startswith("/status/"):
            statuses = c.statuses()
            name = path[len("/status/") :] if path.startswith("/status/") else ""
            if name:
                if name not in statuses:
                    return "404 Not Found", "application/json", b'{"error": "no such app"}\n'
                return "200 OK", "application/json", json.dumps(statuses[name]).encode()
            return "200 OK", "application/json", json.dumps(statuses).encode()
        if path.startswith("/history/"):
            history = c.history_of(path[len("/history/") :])
            if history is None:
                return _json("404 Not Found", {"error": "no such app"})
            return _json("200 OK", history)
        return "404 Not Found", "text/plain", b"not found\n"


def _json(status: str, body: object) -> tuple[str, str, bytes]:
    return status, "application/json", json.dumps(body).encode() + b"\n"
