"""The hosts inventory: how to reach each DockerHost, safely, and whether it answers.

`connect_params` turns a DockerHost into the parameters of a connection, and is where
the security rules live:

- `unix:///path` is used as is.
- `tcp://HOST[:PORT]` needs mutual TLS: `spec.tls` with `caFile` (the engine's
  certificate must be signed by it), `certFile` and `keyFile` (ours, which the engine
  checks with `dockerd --tlsverify --tlscacert`). Plain TCP is refused unless
  `spec.insecure: true`, and then comes with a warning: whoever reaches the port
  controls the engine as root.
- `ssh://[USER@]HOST[:PORT]` runs the system `ssh` binary (`docker system dial-stdio` on
  the far side), so keys, known hosts, jump hosts and users come from ssh-agent and
  `~/.ssh/config`, never from the manifest.
- `agent: {id: …}` hosts are reached over MQTT by `dockyard agent`: not connectable here.

It imports no Docker SDK (only `engine_for_host`, lazily), so it is tested without Docker.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from dockyard.engine.tls import EngineTLS
from dockyard.spec.models import DockerHost

if TYPE_CHECKING:
    from dockyard.engine.client import Engine

log = logging.getLogger(__name__)

DEFAULT_TLS_PORT = 2376
DEFAULT_PLAIN_PORT = 2375
AGENT_NOT_CONNECTABLE = (
    "reached over MQTT by `dockyard agent` (docs/edge.md); not connectable directly"
)


class HostError(Exception):
    """A DockerHost that cannot be connected to as declared; names the host and the field."""

    def __init__(self, host: str, message: str, field: str | None = None, hint: str = "") -> None:
        self.host = host
        self.field = field
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.field}: " if self.field else ""
        hint = f"; {self.hint}" if self.hint else ""
        return f"host {self.host}: {where}{self.message}{hint}"


@dataclass(frozen=True)
class EngineParams:
    """How to connect to one engine: what `Engine(url, tls=…, use_ssh_client=…)` takes."""

    url: str
    tls: EngineTLS | None = None
    use_ssh_client: bool = False
    # Risks the user accepted (insecure: true), to show them every time.
    warnings: tuple[str, ...] = ()


def connect_params(host: DockerHost) -> EngineParams | None:
    """The connection to `host`, or None for an agent host; HostError if it is unsafe or
    wrong. TLS paths are expected resolved (the loader resolves them against the manifest).

    `spec.tls.secretRef` is for hosts read from Kubernetes, whose source turns the Secret
    into files before calling this; a host from files that names one is refused."""
    spec = host.spec
    name = host.metadata.name
    if spec.agent is not None:
        return None
    raw = spec.url or ""
    try:
        url = urlsplit(raw)
        port = url.port
    except ValueError as exc:
        raise HostError(name, f"{raw!r} is not a valid URL ({exc})", "spec.url") from None
    scheme = url.scheme.lower()
    if scheme == "unix":
        return _unix(name, raw, url, host)
    if scheme == "tcp":
        return _tcp(name, url, port, host)
    if scheme == "ssh":
        return _ssh(name, raw, url, host)
    if scheme in ("http", "https"):
        raise HostError(
            name,
            f"{raw!r}: write tcp://{url.netloc} (dockyard decides on TLS from spec.tls)",
            "spec.url",
        )
    raise HostError(
        name,
        f"{raw!r} is not a URL dockyard can connect to",
        "spec.url",
        "use unix:///path/to/docker.sock, tcp://HOST:PORT with spec.tls, or ssh://USER@HOST",
    )


def _no_tls(name: str, host: DockerHost, kind: str) -> None:
    if host.spec.tls is not None:
        raise HostError(
            name,
            f"TLS files are only used with tcp:// URLs, not {kind}",
            "spec.tls",
            "remove spec.tls, or use a tcp:// URL",
        )


def _unix(name: str, raw: str, url: SplitResult, host: DockerHost) -> EngineParams:
    if url.netloc or not url.path.startswith("/"):
        raise HostError(
            name,
            f"{raw!r}: a unix socket URL has three slashes and an absolute path",
            "spec.url",
            "e.g. unix:///var/run/docker.sock",
        )
    _no_tls(name, host, "unix://")
    return EngineParams(url=f"unix://{url.path}")


def _tcp(name: str, url: SplitResult, port: int | None, host: DockerHost) -> EngineParams:
    raw = host.spec.url
    if not url.hostname or url.username or url.password or url.path not in ("", "/"):
        raise HostError(
            name,
            f"{raw!r}: write tcp://HOST:PORT (no user, no path)",
            "spec.url",
            f"e.g. tcp://10.0.0.17:{DEFAULT_TLS_PORT}",
        )
    address = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    tls = host.spec.tls
    if tls is not None and tls.secret_ref is not None:
        raise HostError(
            name,
            f"secretRef {tls.secret_ref!r} names a Kubernetes Secret, which only hosts read "
            "from Kubernetes can use",
            "spec.tls.secretRef",
            "for a host declared in a file, give caFile, certFile and keyFile instead",
        )
    has_files = tls is not None and any((tls.ca_file, tls.cert_file, tls.key_file))
    if tls is None or not has_files:
        where = f"{address}:{port or DEFAULT_PLAIN_PORT}"
        if not host.spec.insecure:
            raise HostError(
                name,
                f"{raw} is plain TCP without TLS, which dockyard refuses: anyone who can "
                f"reach {where} would control the engine as root",
                "spec.tls",
                "give spec.tls {caFile, certFile, keyFile} for mutual TLS (dockerd "
                "--tlsverify), or use ssh://; set spec.insecure: true only on a network "
                "you fully trust",
            )
        warning = (
            f"host {name}: {raw} is plain TCP without TLS (spec.insecure: true): anyone "
            f"who can reach {where} controls the engine as root"
        )
        return EngineParams(
            url=f"tcp://{address}:{port or DEFAULT_PLAIN_PORT}", warnings=(warning,)
        )
    files: dict[str, str] = {}
    for attr, alias in (("ca_file", "caFile"), ("cert_file", "certFile"), ("key_file", "keyFile")):
        value = getattr(tls, attr)
        where = f"spec.tls.{alias}"
        if value is None:
            raise HostError(
                name,
                "required for mutual TLS",
                where,
                "give caFile (the CA that signed the engine's certificate), certFile and "
                "keyFile (this client's certificate and key)",
            )
        if not os.path.isfile(value):
            raise HostError(name, f"no such file {value!r}", where, "check the path")
        if not os.access(value, os.R_OK):
            raise HostError(name, f"cannot read {value!r}", where, "check its permissions")
        files[alias] = value
    return EngineParams(
        url=f"tcp://{address}:{port or DEFAULT_TLS_PORT}",
        tls=EngineTLS(ca=files["caFile"], cert=files["certFile"], key=files["keyFile"]),
    )


def _ssh(name: str, raw: str, url: SplitResult, host: DockerHost) -> EngineParams:
    if not url.hostname or url.password or url.path not in ("", "/") or url.query:
        raise HostError(
            name,
            f"{raw!r}: write ssh://USER@HOST[:PORT] (no password, no path)",
            "spec.url",
            "keys come from ssh-agent and ~/.ssh/config",
        )
    _no_tls(name, host, "ssh://")
    return EngineParams(url=f"ssh://{url.netloc}", use_ssh_client=True)


def check_hosts(hosts: Sequence[DockerHost]) -> list[HostError]:
    """Every problem with the inventory at once: unsafe or wrong hosts, duplicate names."""
    problems: list[HostError] = []
    seen: set[str] = set()
    for host in hosts:
        name = host.metadata.name
        if name in seen:
            problems.append(
                HostError(name, "defined twice", "metadata.name", "give each host its own name")
            )
        seen.add(name)
        try:
            connect_params(host)
        except HostError as exc:
            problems.append(exc)
    return problems


def engine_for_host(host: DockerHost, **engine_kwargs: Any) -> Engine:
    """An Engine for `host` (not yet connected). HostError for agent hosts and unsafe ones;
    the accepted risks (insecure: true) are logged as warnings."""
    params = connect_params(host)
    if params is None:
        raise HostError(host.metadata.name, AGENT_NOT_CONNECTABLE, "spec.agent")
    for warning in params.warnings:
        log.warning("%s", warning)
    return _engine(host.metadata.name, params, **engine_kwargs)


def _engine(name: str, params: EngineParams, **engine_kwargs: Any) -> Engine:
    from dockyard.engine.client import Engine

    # A DockerHost is another machine: nothing of this machine's files reaches it by path.
    engine_kwargs.setdefault("copies_files", True)
    return Engine(
        params.url,
        name=name,
        tls=params.tls,
        use_ssh_client=params.use_ssh_client,
        **engine_kwargs,
    )


# ---- probing: is each host there, and what does it run? ---------------------------------


@dataclass(frozen=True)
class HostStatus:
    """What one probe found. `reachable` is None when the host cannot be probed from here
    (an agent host)."""

    name: str
    url: str
    labels: Mapping[str, str] = field(default_factory=dict)
    reachable: bool | None = None
    version: str | None = None
    running: int | None = None
    last_contact: datetime | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "labels": dict(self.labels),
            "reachable": self.reachable,
            "engineVersion": self.version,
            "runningContainers": self.running,
            "lastContact": _iso(self.last_contact),
            "error": self.error,
        }


def _iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


@dataclass(frozen=True)
class ProbeTarget:
    """One host to probe: `engine` makes its Engine (None: not probeable, see `error`)."""

    name: str
    url: str
    labels: Mapping[str, str]
    engine: Callable[[int], Engine] | None
    error: str | None = None
    warnings: tuple[str, ...] = ()


def target_for_host(host: DockerHost) -> ProbeTarget:
    """A probe target for a DockerHost (HostError if it cannot be connected to as declared).
    The target carries the warnings for the caller to show."""
    name = host.metadata.name
    labels = dict(host.metadata.labels)
    params = connect_params(host)
    if params is None:
        agent = host.spec.agent.id if host.spec.agent is not None else "?"
        return ProbeTarget(name, f"agent:{agent}", labels, None, AGENT_NOT_CONNECTABLE)

    def make(timeout: int) -> Engine:
        return _engine(name, params, timeout=timeout, pool_size=2)

    return ProbeTarget(name, params.url, labels, make, warnings=params.warnings)


def probe(target: ProbeTarget, timeout: float) -> HostStatus:
    """Ask one engine its version and running containers (one `info` call)."""
    base = HostStatus(target.name, target.url, target.labels)
    if target.engine is None:
        return replace(base, error=target.error)
    from dockyard.engine.errors import EngineError

    engine = None
    try:
        engine = target.engine(max(1, math.ceil(timeout)))
        info = engine.info()
    except (EngineError, HostError) as exc:
        return replace(base, reachable=False, error=str(exc))
    finally:
        if engine is not None:
            engine.close()
    return replace(
        base,
        reachable=True,
        version=str(info.get("ServerVersion") or "?"),
        running=int(info.get("ContainersRunning") or 0),
        last_contact=datetime.now(UTC),
    )


def probe_all(targets: Sequence[ProbeTarget], timeout: float = 5.0) -> list[HostStatus]:
    """Probe every target at once; a host silent after `timeout` seconds is reported
    unreachable, and never delays the others or the caller.

    One daemon thread per engine host rather than a pool: a thread stuck on a dark host
    (a blackholed address, an ssh waiting on the network) is abandoned at the deadline,
    and a daemon thread does not keep the process alive on exit. Agent hosts are not
    probed (they are reached over MQTT): answered here, no thread, so a fleet of 10,000
    devices starts none."""
    results: dict[int, HostStatus] = {
        i: probe(t, timeout) for i, t in enumerate(targets) if t.engine is None
    }

    def work(index: int, target: ProbeTarget) -> None:
        try:
            results[index] = probe(target, timeout)
        except Exception as exc:  # a bug or an unexpected SDK error: report, never crash
            results[index] = HostStatus(
                target.name, target.url, target.labels, reachable=False, error=repr(exc)
            )

    threads = [
        threading.Thread(target=work, args=(i, t), name=f"probe-{t.name}", daemon=True)
        for i, t in enumerate(targets)
        if t.engine is not None
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    statuses: list[HostStatus] = []
    for index, target in enumerate(targets):
        found = results.get(index)
        if found is None:
            found = HostStatus(
                target.name,
                target.url,
                target.labels,
                reachable=False,
                error=f"no answer within {timeout:g}s",
            )
        statuses.append(found)
    return statuses
