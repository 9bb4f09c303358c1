"""Why an engine cannot be reached, said in the terms of the host's spec (its URL, spec.tls)."""

from __future__ import annotations

import socket
import ssl
import sys

from .tls import EngineTLS


def unreachable(name: str, url: str | None, tls: EngineTLS | None, exc: Exception) -> str:
    """The message for engine `name` at `url` failing with `exc`, with what to do."""
    where = url or "the local engine (DOCKER_HOST or /var/run/docker.sock)"
    tls_problem = _tls_problem(exc, tls)
    if tls_problem is not None:
        return f"cannot reach Docker engine {name} at {where}: {tls_problem}"
    if "HTTP request to an HTTPS server" in str(exc):
        return (
            f"cannot reach Docker engine {name} at {where}: the engine expects TLS "
            "on this port; give the host spec.tls (caFile, certFile, keyFile)"
        )
    if url and not url.startswith("unix://"):
        hint = "is dockerd running there, listening on that address, and reachable from here?"
    else:
        hint = "is dockerd running? (`make engine` starts one)"
    return f"cannot reach Docker engine {name} at {where}: {_reason(exc)}; {hint}"


# TLS alerts a server sends when it does not accept the client's certificate.
_CLIENT_CERT_ALERTS = (
    "bad certificate",
    "unknown ca",
    "certificate required",
    "certificate unknown",
)


def _inner(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (docker, requests and urllib3 each add a layer), outer first."""
    seen: set[int] = set()
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested.extend(current.args)
        todo.extend(e for e in nested if isinstance(e, BaseException))
    return found


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ssl.SSLError somewhere inside the wrappers of `exc`."""
    return next((e for e in _inner(exc) if isinstance(e, ssl.SSLError)), None)


def _reason(exc: Exception) -> str:
    """The root cause of a failed connection in a few words, else the (shortened) error."""
    # requests' Timeout only where the SDK (and so requests) was used: not imported for it.
    sdk = sys.modules.get("requests.exceptions")
    timeouts = (TimeoutError, sdk.Timeout) if sdk is not None else (TimeoutError,)
    for inner in _inner(exc):
        if isinstance(inner, ConnectionRefusedError):
            return "connection refused"
        if isinstance(inner, FileNotFoundError) and inner.errno is not None:
            return "no such socket"
        if isinstance(inner, socket.gaierror):
            return f"cannot resolve the host name ({inner.strerror})"
        if isinstance(inner, timeouts):
            return "timed out"
    return _short(exc).removeprefix("Error while fetching server API version: ")


def _tls_problem(exc: BaseException, tls: EngineTLS | None) -> str | None:
    """What went wrong in a TLS handshake, said in terms of the host's spec.tls files."""
    err = _ssl_error(exc)
    ca = f" ({tls.ca})" if tls is not None else ""
    cert = f" ({tls.cert})" if tls is not None else ""
    hung_up = (
        "the engine hung up during the handshake, which is how it refuses a client "
        f"certificate it does not trust: check that spec.tls.certFile{cert} is signed by "
        "the CA given to dockerd --tlscacert"
    )
    if err is None:
        if tls is not None and any(isinstance(e, ConnectionResetError) for e in _inner(exc)):
            return f"TLS handshake failed: {hung_up}"
        return None
    text = str(err)
    lowered = text.lower()
    if isinstance(err, ssl.SSLEOFError):
        # With TLS 1.3 the server checks our certificate after the client finished its part
        # of the handshake; a refusal then shows up as EOF or as the alert, whichever wins.
        detail = hung_up
    elif isinstance(err, ssl.SSLCertVerificationError):
        why = str(err.verify_message or err.reason or text)
        if "local issuer" in why or "self-signed" in why or "self signed" in why:
            detail = f"the engine's certificate is not signed by spec.tls.caFile{ca}"
        elif "mismatch" in why:
            detail = (
                "the engine's certificate does not name the address in spec.url "
                f"({why}); reissue it with that address in its subjectAltName"
            )
        elif "expired" in why:
            detail = "the engine's certificate has expired"
        else:
            detail = f"the engine's certificate was rejected: {why}"
    elif any(alert in lowered for alert in _CLIENT_CERT_ALERTS):
        detail = (
            f"the engine refused our client certificate spec.tls.certFile{cert}: it is not "
            "signed by a CA the engine trusts (dockerd --tlscacert)"
        )
    elif "wrong version number" in lowered or "record layer failure" in lowered:
        detail = "the engine does not speak TLS on this port (is dockerd started with --tlsverify?)"
    else:
        detail = str(err.reason or text)
    return f"TLS handshake failed: {detail}"


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"
