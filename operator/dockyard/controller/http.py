"""The controller's loopback HTTP endpoints: /healthz, /readyz, /metrics, /status."""

from __future__ import annotations

import asyncio
import json
import logging

from .reconciler import Controller

log = logging.getLogger("dockyard.controller.http")


class HealthServer:
    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 9129) -> None:
        self.controller = controller
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

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
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else "/"
            status, ctype, body = self._route(parts[0] if parts else "", path)
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

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        c = self.controller
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
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
        return "404 Not Found", "text/plain", b"not found\n"
