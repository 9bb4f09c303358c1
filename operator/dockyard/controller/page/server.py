"""The status page's routes on the control port: /ui/ and its data, behind the token.

A browser cannot send `Authorization: Bearer`, so the token is given once (the sign-in
form, or `/ui/?token=…` from a link the CLI user made) and exchanged for a session
cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page makes the
browser send it), Path=/ui, named after the port (cookies ignore ports). The cookie's
value is derived from the token (an HMAC), so it dies with the token at a restart, and it
opens the page and its read-only data only: never /status, /history or POST /rollback,
which still need the bearer token. The Host/Origin rules and the TLS rules of the control
port apply to every page request before it gets here (controller/http.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import html
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from dockyard import __version__
from dockyard.engine.errors import EngineError

from ..access import token_matches
from .events import EventLog
from .view import Devices, HostFacts, Live, app_row, apps_view, classify, devices_page, hosts_view

if TYPE_CHECKING:
    from ..hosts import Host
    from ..reconciler import Controller

log = logging.getLogger("dockyard.controller.page")

PREFIX = "/ui"
STATIC = {
    "page.css": "text/css; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Every page answer: no caching of fleet data, no framing (clickjacking), scripts and
# styles from us only, nothing loaded from elsewhere, no Referer to other sites (and not
# `no-referrer`: Chrome then sends `Origin: null` with the sign-in form, which is refused).
SECURITY_HEADERS = (
    "Cache-Control: no-store\r\n"
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: same-origin\r\n"
)
# Agents' reports are read at most this often, however many browsers poll.
FLEET_TTL = 2.0
MAX_QUERY = 100
_SESSION_SALT = b"dockyard status page session v1"
_APP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Reply:
    status: str
    ctype: str
    body: bytes
    headers: str = ""  # extra header lines, each ending in CRLF


def owns(path: str) -> bool:
    """The paths the page answers: `/` (a redirect to it) and everything under /ui."""
    return path in ("/", PREFIX) or path.startswith(PREFIX + "/")


def session_value(token: str) -> str:
    return hmac.new(token.encode(), _SESSION_SALT, hashlib.sha256).hexdigest()


def _cookies(header: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            found.setdefault(key, value)
    return found


@functools.cache
def _static(name: str) -> bytes:
    return (resources.files("dockyard.controller.page") / "static" / name).read_bytes()


class StatusPage:
    def __init__(self, controller: Controller, routes: Mapping[str, Callable[[], object]]) -> None:
        self.controller = controller
        self.routes = routes  # the server's extra routes: /agents when the publisher runs
        self.events = EventLog()
        self._versions: dict[str, str] = {}
        self._probing: dict[str, asyncio.Task[None]] = {}
        self._fleet: tuple[float, Devices] | None = None
        # Stubs of the controller in tests have no listeners: nothing to record then.
        listeners = getattr(controller, "status_listeners", None)
        if listeners is not None:
            listeners.append(self._on_status)

    def _on_status(self, name: str, status: Any) -> None:
        """After every reconcile: the app's change, and the hosts' (a dark host is seen by
        the reconciles of its apps, whether or not a browser is looking)."""
        self.events.on_status(name, status)
        for host in list(self.controller.hosts.values()):
            self.events.host_seen(host.name, host.cache.connected and not host.dark)

    # ---- requests ------------------------------------------------------------------------

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        token: str,
        port: int,
        secure: bool,
    ) -> Reply:
        cookie = f"dockyard-page-{port}"
        expected = session_value(token)
        given = _cookies(headers.get("cookie")).get(cookie, "")
        signed_in = hmac.compare_digest(given.encode(), expected.encode()) or token_matches(
            headers.get("authorization"), token
        )
        params = {k: v[0][:MAX_QUERY] for k, v in parse_qs(query).items()}
        if path in ("/", PREFIX):
            return _redirect(PREFIX + "/")
        if method == "POST":
            if path == f"{PREFIX}/login":
                form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                return self._sign_in(form.get("token", ""), token, cookie, expected, secure)
            if path == f"{PREFIX}/logout":
                gone = f"{cookie}=; Path={PREFIX}; Max-Age=0; HttpOnly; SameSite=Strict"
                return _redirect(PREFIX + "/", f"Set-Cookie: {gone}\r\n")
            return _text("405 Method Not Allowed", "the status page is read-only\n")
        if method not in ("GET", "HEAD"):
            return _text("405 Method Not Allowed", "the status page is read-only\n")
        if path == f"{PREFIX}/":
            if "token" in params:
                return self._sign_in(params["token"], token, cookie, expected, secure)
            if not signed_in:
                return _login("200 OK", "")
            return Reply("200 OK", "text/html; charset=utf-8", _static("index.html"))
        if path.startswith(f"{PREFIX}/static/"):
            name = path[len(f"{PREFIX}/static/") :]
            if name not in STATIC:
                return _text("404 Not Found", "not found\n")
            # The page's own files, the same for everyone: no fleet data, no credential.
            return Reply("200 OK", STATIC[name], _static(name))
        if path.startswith(f"{PREFIX}/api/"):
            if not signed_in:
                return _json("401 Unauthorized", {"error": "sign in again (the token changed?)"})
            if path == f"{PREFIX}/api/view":
                return _json("200 OK", self.view(params))
            if path.startswith(f"{PREFIX}/api/app/"):
                detail = self.app_detail(path[len(f"{PREFIX}/api/app/") :])
                if detail is None:
                    return _json("404 Not Found", {"error": "no such app"})
                return _json("200 OK", detail)
        return _text("404 Not Found", "not found\n")

    def _sign_in(self, given: str, token: str, cookie: str, value: str, secure: bool) -> Reply:
        if not token or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _login("401 Unauthorized", "That is not the token this controller wrote.")
        flags = "; Secure" if secure else ""
        return _redirect(
            PREFIX + "/",
            f"Set-Cookie: {cookie}={value}; Path={PREFIX}; HttpOnly; SameSite=Strict{flags}\r\n",
        )

    # ---- data ----------------------------------------------------------------------------

    def view(self, params: Mapping[str, str]) -> dict[str, Any]:
        c = self.controller
        statuses: dict[str, dict[str, Any]] = c.statuses()
        live = self._live()
        for name, status in statuses.items():
            self.events.app_seen(name, status)
        hosts = [self._host_facts(h) for h in list(c.hosts.values())]
        for h in hosts:
            self.events.host_seen(h.name, h.reachable)
        apps = apps_view(statuses, live, _page(params.get("apps")), params.get("q", ""))
        view: dict[str, Any] = {
            "generatedAt": time.time(),
            "controller": {
                "version": __version__,
                "ready": c.ready,
                "queue": len(c.queue),
                "apps": len(statuses),
                "hosts": len(hosts),
            },
            "apps": apps,
            "sources": _broken_sources(c),
            "hosts": hosts_view(hosts),
            "events": self.events.recent(),
            "fleet": None,
        }
        devices = self._devices()
        if devices is not None:
            view["fleet"] = devices_page(
                devices, _page(params.get("devices")), params.get("dq", "")
            )
        return view

    def app_detail(self, name: str) -> dict[str, Any] | None:
        if not _APP_NAME.match(name):
            return None
        statuses: dict[str, dict[str, Any]] = self.controller.statuses()
        status = statuses.get(name)
        if status is None:
            return None
        row = app_row(name, status, self._live().get(name))
        row["conditions"] = status.get("conditions") or []
        row["lastError"] = status.get("lastError", "")
        row["services"] = [
            {
                "name": s.get("name"),
                "desired": s.get("desired", 0),
                "running": s.get("running", 0),
                "healthy": s.get("healthy", 0),
                "restarts": s.get("restarts", 0),
                "containers": [
                    {k: c.get(k) for k in ("name", "host", "state", "health", "status")}
                    for c in s.get("containers") or []
                ],
            }
            for s in status.get("services") or []
        ]
        history = self.controller.history_of(name) or {}
        row["history"] = {
            "current": history.get("current"),
            "pin": history.get("pin"),
            "revisions": list(reversed(history.get("revisions") or [])),
        }
        return row

    def _live(self) -> dict[str, dict[str, Live]]:
        """app -> host -> counts, in one pass over each host's cache."""
        counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for host in list(self.controller.hosts.values()):
            if not host.cache.synced:
                continue
            for ctr in host.cache.state.containers:
                app = ctr.app
                if app is None:
                    continue
                n = counts[app].setdefault(host.name, [0, 0, 0])
                n[0] += 1
                n[1] += ctr.running
                n[2] += ctr.health == "healthy"
        return {app: {h: Live(*n) for h, n in by_host.items()} for app, by_host in counts.items()}

    def _host_facts(self, host: Host) -> HostFacts:
        reachable = host.cache.connected and not host.dark
        if reachable:
            self._probe_version(host)
        else:
            self._versions.pop(host.name, None)  # it may come back upgraded
        down_for = time.monotonic() - host.down_since if host.down_since is not None else None
        return HostFacts(
            name=host.name,
            reachable=reachable,
            declared=host.declared,
            labels=dict(host.labels),
            engine_version=self._versions.get(host.name),
            containers=len(host.cache.state.containers) if host.cache.synced else 0,
            down_for=down_for,
        )

    def _probe_version(self, host: Host) -> None:
        """Ask the engine its version once (in the background; the next poll shows it)."""
        if host.name in self._versions or host.name in self._probing:
            return

        async def probe() -> None:
            try:
                self._versions[host.name] = await asyncio.to_thread(host.engine.version)
            except EngineError as exc:
                log.debug("engine version of host %s: %s", host.name, exc)
            finally:
                self._probing.pop(host.name, None)

        with contextlib.suppress(RuntimeError):  # no running loop: not served
            self._probing[host.name] = asyncio.get_running_loop().create_task(probe())

    def _devices(self) -> Devices | None:
        """The edge devices classified, at most once per FLEET_TTL however many poll."""
        source = self.routes.get("/agents")
        if source is None:
            return None
        now = time.monotonic()
        if self._fleet is None or now - self._fleet[0] > FLEET_TTL:
            agents = source()
            self._fleet = (now, classify(agents if isinstance(agents, Mapping) else {}))
        return self._fleet[1]


def _broken_sources(c: Controller) -> list[dict[str, str]]:
    """The sources whose newest read failed, and why (a stub controller has none)."""
    view = getattr(c, "sources_view", None)
    if view is None:
        return []
    return [{"id": k, "error": v["error"]} for k, v in view().items() if v["error"]]


def _page(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() else 1


def _redirect(location: str, headers: str = "") -> Reply:
    return Reply("303 See Other", "text/plain", b"", f"Location: {location}\r\n{headers}")


def _text(status: str, text: str) -> Reply:
    return Reply(status, "text/plain; charset=utf-8", text.encode())


def _json(status: str, body: object) -> Reply:
    return Reply(status, "application/json", json.dumps(body).encode() + b"\n")


def _login(status: str, message: str) -> Reply:
    text = _static("login.html").decode()
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return Reply(status, "text/html; charset=utf-8", text.replace("<!--message-->", note).encode())
