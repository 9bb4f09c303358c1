"""Who may use the control port: the token file, the Host/Origin rules, mutual TLS.

Light on purpose (stdlib only): the CLI imports it to find the token without loading
the controller.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TOKEN_FILE = "control.token"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})
# The open endpoints: probes and Prometheus need them without a credential.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def token_path(state_dir: Path) -> Path:
    return state_dir / TOKEN_FILE


def create_token(state_dir: Path) -> str:
    """A fresh random token in `<state_dir>/control.token`, mode 0600, at every start (a
    token that leaked dies with the process that made it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path = token_path(state_dir)
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    os.replace(tmp, path)
    return token


def read_token(state_dir: Path) -> str | None:
    """The token a running controller wrote, or None when it cannot be read (no
    controller ran with this state folder, or this user may not read it)."""
    try:
        return token_path(state_dir).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def token_matches(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def split_host(value: str) -> str:
    """The host part of a Host header or an authority: `[::1]:9129` -> `::1`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


@dataclass(frozen=True)
class HostRule:
    """The names a request may address us by. A DNS-rebinding page makes the browser send
    its own domain in Host, so a name we do not know is refused. The port is not checked:
    the attacker cannot choose the name part, and a port-forward changes the port."""

    bind_host: str

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host = split_host(host_header)
        if is_loopback(host) or host == self.bind_host.strip("[]").lower():
            return True
        # Listening on every address: any address literal of ours is how a probe (kubelet:
        # the pod IP) or a client reaches us; a literal cannot be rebound.
        return _wildcard(self.bind_host) and _is_ip(host)

    def origin_allowed(self, origin: str | None) -> bool:
        """No Origin (curl, the CLI) or one naming us; `null` and other sites are refused."""
        if origin is None:
            return True
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        return self.allows(parts.netloc)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path

    def server_context(self) -> ssl.SSLContext:
        """TLS with client certificates checked against `client_ca`. A certificate is
        optional at the handshake so that probes reach /healthz, /readyz and /metrics;
        every other endpoint needs a verified one."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        context.load_verify_locations(cafile=str(self.client_ca))
        context.verify_mode = ssl.CERT_OPTIONAL
        return context


def tls_files(cert: Path | None, key: Path | None, client_ca: Path | None) -> TlsFiles | None:
    """All three or none: a half-configured mTLS listener would be plain TLS."""
    given = [p for p in (cert, key, client_ca) if p is not None]
    if not given:
        return None
    if cert is None or key is None or client_ca is None:
        raise ValueError("--tls-cert, --tls-key and --tls-client-ca go together (mutual TLS)")
    for flag, path in (("--tls-cert", cert), ("--tls-key", key), ("--tls-client-ca", client_ca)):
        if not path.is_file():
            raise ValueError(f"{flag} {path}: no such file")
    return TlsFiles(cert, key, client_ca)
