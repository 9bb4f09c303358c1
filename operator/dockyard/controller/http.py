"""The control port of `dockyard run`, `dockyard operator` and `dockyard agent`.

Open to anyone who can connect: /healthz, /readyz, /metrics (probes, Prometheus).
Behind the bearer token in `<state-dir>/control.token`: /status[/APP], /sources,
/history/APP,
the extra routes (/agents) and POST /rollback/APP[?to=N]. The status page (/ui/, see
page/server.py) takes the token once and keeps a read-only session cookie. Every
request must name us in Host (a loopback name, the --listen address, an address literal
when listening on all addresses) and carry no foreign Origin: that stops DNS rebinding
and cross-site POSTs from a browser on the same machine. Beyond loopback, the
token-protected endpoints are served only over mutual TLS; without it the port answers
the open endpoints alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from . import page
from .access import OPEN_PATHS, HostRule, TlsFiles, create_token, is_loopback, token_matches
from .reconciler import Controller

log = logging.getLogger("dockyard.controller.http")

MAX_HEADERS = 100
MAX_FORM = 4096  # the status page's sign-in form: the only request body we read
Answer = tuple[str, str, bytes]


class HealthServer:
    def __init__(
        self,
        controller: Controller,
        host: str = "127.0.0.1",
        port: int = 9129,
        state_dir: Path | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.controller = controller
        self.host = host
        self.port = port
        self.state_dir = state_dir or controller.settings.state_dir
        self.tls = tls
        self.token = ""
        self.rule = HostRule(host)
        self._server: asyncio.Server | None = None
        # More GET endpoints, path -> JSON body (e.g. /agents from the MQTT publisher).
        self.routes: dict[str, Callable[[], object]] = {}
        self.page = page.StatusPage(controller, self.routes)

    @property
    def control_served(self) -> bool:
        """Whether /status, /history and /rollback are answered on this listener."""
        return is_loopback(self.host) or self.tls is not None

    async def start(self) -> None:
        self.token = create_token(self.state_dir)
        context = self.tls.server_context() if self.tls is not None else None
        self._server = await asyncio.start_server(self._handle, self.host, self.port, ssl=context)
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        scheme = "https" if context is not None else "http"
        log.info(
            "serving /healthz /readyz /metrics /status on %s://%s:%d", scheme, self.host, self.port
        )
        if self.control_served:
            log.info("control endpoints need the token in %s", self.state_dir / "control.token")
            log.info(
                "status page: %s://%s:%d/ui/ (sign in with that token)",
                scheme,
                self.host,
                self.port,
            )
        else:
            log.warning(
                "listening beyond loopback without mutual TLS: only /healthz, /readyz and "
                "/metrics are served (give --tls-cert, --tls-key and --tls-client-ca for the rest)"
            )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            headers: dict[str, str] = {}
            for _ in range(MAX_HEADERS):
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                if line in (b"\r\n", b"\n", b""):
                    break
                key, _, value = line.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            parts = request.decode("latin-1").split()
            method = parts[0] if parts else ""
            target = parts[1] if len(parts) >= 2 else "/"
            path, _, query = target.partition("?")
            if page.owns(path):
                length = headers.get("content-length", "")
                form = b""
                if method == "POST" and length.isdigit() and 0 < int(length) <= MAX_FORM:
                    form = await asyncio.wait_for(reader.readexactly(int(length)), timeout=5)
                status, ctype, body, extra = self._page_answer(
                    method, path, query, headers, writer, form
                )
            else:
                status, ctype, body = self._answer(method, path, query, headers, writer)
                extra = "WWW-Authenticate: Bearer\r\n" if status.startswith("401") else ""
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _refused(
        self, path: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> Answer | None:
        """Why a request may not go on, before any credential is looked at."""
        # The same terse 403 for both: a rebinding page learns nothing from the body.
        if not self.rule.allows(headers.get("host")) or not self.rule.origin_allowed(
            headers.get("origin")
        ):
            return "403 Forbidden", "text/plain", b"forbidden\n"
        if path not in OPEN_PATHS:
            if not self.control_served:
                return (
                    "403 Forbidden",
                    "text/plain",
                    b"served on loopback or over mutual TLS only (see docs/security.md)\n",
                )
            if self.tls is not None and not writer.get_extra_info("peercert"):
                return "403 Forbidden", "text/plain", b"a client certificate is needed\n"
        return None

    def _page_answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        writer: asyncio.StreamWriter,
        form: bytes,
    ) -> tuple[str, str, bytes, str]:
        refused = self._refused(path, headers, writer)
        if refused is not None:
            return (*refused, "")
        reply = self.page.answer(
            method, path, query, headers, form, self.token, self.port, self.tls is not None
        )
        return reply.status, reply.ctype, reply.body, page.SECURITY_HEADERS + reply.headers

    def _answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        writer: asyncio.StreamWriter,
    ) -> Answer:
        refused = self._refused(path, headers, writer)
        if refused is not None:
            return refused
        if path not in OPEN_PATHS and not token_matches(headers.get("authorization"), self.token):
            return (
                "401 Unauthorized",
                "text/plain",
                b"a bearer token is needed (the CLI reads it from the state folder)\n",
            )
        if method == "POST":
            return self._post(path, query)
        return self._route(method, path)

    def _post(self, path: str, query: str) -> Answer:
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

    def _route(self, method: str, path: str) -> Answer:
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
        if path == "/sources":
            return _json("200 OK", c.sources_view())
        if path.startswith("/history/"):
            history = c.history_of(path[len("/history/") :])
            if history is None:
                return _json("404 Not Found", {"error": "no such app"})
            return _json("200 OK", history)
        return "404 Not Found", "text/plain", b"not found\n"


def _json(status: str, body: object) -> Answer:
    return status, "application/json", json.dumps(body).encode() + b"\n"
