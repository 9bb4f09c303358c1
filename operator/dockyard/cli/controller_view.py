"""`dockyard status` as a running controller sees it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import Format, console, emit, errors, escape, fail

DEFAULT_CONTROLLER = "http://127.0.0.1:9129"
DEFAULT_STATE_DIR = Path("/var/lib/dockyard/controller")

StateDirOpt = Annotated[
    Path,
    typer.Option(
        envvar="DOCKYARD_STATE_DIR",
        metavar="DIR",
        help="The controller's state folder (its `dockyard run --state-dir`): the "
        "control.token in it authenticates the request ($DOCKYARD_CONTROL_TOKEN instead, "
        "if set); `history` reads revisions from it when no controller answers.",
    ),
]


TlsCertOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Serve the control port over TLS with this certificate; with --tls-key and "
        "--tls-client-ca it is mutual TLS, needed to serve /status, /history and /rollback "
        "beyond loopback (see docs/security.md).",
    ),
]
TlsKeyOpt = Annotated[Path | None, typer.Option(metavar="FILE", help="The key of --tls-cert.")]
TlsClientCAOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE", help="CA that signed the client certificates the control port accepts."
    ),
]

if TYPE_CHECKING:
    import ssl

    from dockyard.controller.access import TlsFiles

# ssl and urllib load inside the functions that talk to a controller: every command
# imports this module, `dockyard apply` among them.


def listen_options(
    listen: str, cert: Path | None, key: Path | None, client_ca: Path | None
) -> tuple[str, int, TlsFiles | None]:
    """--listen HOST:PORT and the --tls-* files, checked before anything starts."""
    from dockyard.controller.access import tls_files

    bind_host, _, bind_port = listen.rpartition(":")
    if not bind_host or not bind_port.isdigit():
        raise fail(f"--listen {listen!r}: write HOST:PORT, e.g. 127.0.0.1:9129")
    try:
        tls = tls_files(cert, key, client_ca)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return bind_host.strip("[]"), int(bind_port), tls


class Unauthorized(Exception):
    """The controller refused the request: no token, a wrong one, or a foreign listener."""


def control_token(state_dir: Path) -> str | None:
    from dockyard.controller.access import read_token

    return os.environ.get("DOCKYARD_CONTROL_TOKEN") or read_token(state_dir)


def controller_request(
    url: str, state_dir: Path, method: str = "GET", timeout: float = 5
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of one request to a running controller, with its token."""
    import urllib.error
    import urllib.request

    headers = {}
    token = control_token(state_dir)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = b"" if method == "POST" else None
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_tls_context(url)) as response:
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            where = (
                "$DOCKYARD_CONTROL_TOKEN"
                if os.environ.get("DOCKYARD_CONTROL_TOKEN")
                else (
                    f"{state_dir}/control.token"
                    if token
                    else f"no readable {state_dir}/control.token"
                )
            )
            raise Unauthorized(
                f"the controller at {url.split('/', 3)[2]} refused the request "
                f"(HTTP {exc.code}; token: {where}); pass the controller's --state-dir "
                "and run as a user who may read its control.token"
            ) from None
        try:
            return exc.code, dict(json.loads(exc.read()))
        except ValueError:
            return exc.code, {"error": str(exc)}


def _tls_context(url: str) -> ssl.SSLContext | None:
    """For an https:// controller (mutual TLS beyond loopback): the CA that signed its
    certificate and this client's certificate, from $DOCKYARD_CONTROLLER_CA, _CERT, _KEY."""
    if not url.startswith("https://"):
        return None
    import ssl

    context = ssl.create_default_context(cafile=os.environ.get("DOCKYARD_CONTROLLER_CA"))
    cert = os.environ.get("DOCKYARD_CONTROLLER_CERT")
    if cert:
        context.load_cert_chain(cert, os.environ.get("DOCKYARD_CONTROLLER_KEY"))
    return context


def controller_status(url: str, explicit: bool, state_dir: Path) -> dict[str, Any] | None:
    import urllib.error

    try:
        code, data = controller_request(f"{url.rstrip('/')}/status", state_dir, timeout=2)
    except Unauthorized as exc:
        errors.print(f"[yellow]warning:[/] {escape(str(exc))}; showing the engine")
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if explicit:
            errors.print(f"[yellow]warning:[/] no controller at {url} ({exc}); showing the engine")
        return None
    if code != 200:
        if explicit:
            errors.print(f"[yellow]warning:[/] the controller answered {code}; showing the engine")
        return None
    return data


def show_broken_sources(url: str, state_dir: Path) -> None:
    """The sources whose newest read failed, with their errors (file, line, field): a
    manifest too broken to name its app has no app to show them on."""
    import urllib.error

    try:
        code, sources = controller_request(f"{url.rstrip('/')}/sources", state_dir, timeout=2)
    except (Unauthorized, urllib.error.URLError, OSError, ValueError):
        return  # an older controller, or gone since /status answered: the apps were shown
    if code != 200:
        return
    for source_id, facts in sources.items():
        if isinstance(facts, dict) and facts.get("error"):
            console.print(f"[red]source {escape(source_id)} does not load:[/]")
            for line in str(facts["error"]).splitlines():
                console.print(f"  {escape(line)}")


def show_controller_status(statuses: dict[str, Any], app_name: str | None, output: Format) -> None:
    if app_name is not None:
        if app_name not in statuses:
            raise fail(f"the controller has no app named {app_name}")
        statuses = {app_name: statuses[app_name]}
    if output is not Format.text:
        emit(statuses, output)
        return
    from rich.table import Table

    if not statuses:
        console.print("the controller manages no apps")
    for name, st in statuses.items():
        conds = {c["type"]: c for c in st.get("conditions", [])}
        ready = conds.get("Ready", {}).get("status", "Unknown")
        console.print(
            f"app {name}  ready={ready}  revision={st.get('revision', '')[:12] or '-'}  "
            f"synced={st.get('observedGeneration', '')[:12] or '-'}  "
            f"restarts={st.get('restarts', 0)}  drift-repairs={st.get('driftRepairs', 0)}"
        )
        for ctype in ("Ready", "Progressing", "Degraded"):
            cond = conds.get(ctype)
            if cond:
                detail = f" {cond['reason']}" + (f": {cond['message']}" if cond["message"] else "")
                console.print(f"  {ctype}={cond['status']}{escape(detail)}")
        table = Table(box=None, pad_edge=False)
        for col in ("SERVICE", "DESIRED", "RUNNING", "HEALTHY", "RESTARTS"):
            table.add_column(col, no_wrap=True)
        for svc in st.get("services", []):
            table.add_row(
                svc["name"],
                str(svc["desired"]),
                str(svc["running"]),
                str(svc["healthy"]),
                str(svc["restarts"]),
            )
        console.print(table)
        placement = st.get("placement") or {}
        if len(placement) > 1 or (placement and "local" not in placement):
            for host_name, names in sorted(placement.items()):
                console.print(f"  on {host_name}: {', '.join(names)}")
        if st.get("lastError"):
            console.print(f"  last error: {escape(st['lastError'])}")
