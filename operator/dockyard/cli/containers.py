"""`dockyard ps` and `dockyard logs`: an app's containers and their output, on every host."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    Format,
    HostOpt,
    OutputOpt,
    app,
    check_hosts_or_exit,
    console,
    emit,
    engine_for,
    errors,
    escape,
    fail,
    load_all,
)

if TYPE_CHECKING:
    from dockyard.engine.client import Engine
    from dockyard.state.observed import ObservedContainer

HostsFilesOpt = Annotated[
    list[Path],
    typer.Option(
        "--filename",
        metavar="PATH",
        help="Manifests with DockerHosts: look on every one of them (and the local engine).",
    ),
]


def engines_and_containers(
    files: list[Path], host: str | None
) -> tuple[dict[str, Engine], dict[str, list[ObservedContainer]]]:
    """Each engine to look at (the DockerHosts in `files`, else the one of --host) and the
    dockyard containers it holds. An unreachable host is named on stderr and skipped."""
    from dockyard.engine.errors import EngineError

    if files:
        result = load_all(files, applying=False)
        if result.hosts:
            from dockyard.fleet.converge import connect_fleet

            check_hosts_or_exit(result)
            fleet = connect_fleet(result.hosts, engine_for(host))
            for name, reason in sorted(fleet.unreachable.items()):
                errors.print(f"[yellow]warning:[/] host {name} is unreachable: {escape(reason)}")
            engines = {n: fleet.engines[n] for n in sorted(fleet.observed)}
            found = {n: [c for c in fleet.observed[n].containers if c.app] for n in engines}
            return engines, found
    engine = engine_for(host)
    try:
        observed = engine.snapshot()
    except EngineError as exc:
        raise fail(str(exc)) from None
    return {"local": engine}, {"local": [c for c in observed.containers if c.app]}


def _sort_key(c: ObservedContainer) -> tuple[str, str, int, str]:
    return (c.app or "", c.service or "", c.replica or 0, c.name)


@app.command()
def ps(
    app_name: Annotated[str | None, typer.Argument(metavar="APP", help="One app only.")] = None,
    files: HostsFilesOpt = [],  # noqa: B006 - typer reads the default
    host: HostOpt = None,
    output: OutputOpt = Format.text,
) -> None:
    """List the containers of the apps (or of APP) with their state, on the engine or on
    every DockerHost of --filename, like `docker compose ps`."""
    engines, found = engines_and_containers(files, host)
    rows: list[dict[str, Any]] = [
        {
            "name": c.name,
            "app": c.app,
            "service": c.service,
            "replica": c.replica,
            "host": host_name,
            "state": c.state,
            "health": c.health,
            "status": c.status,
            "exitCode": c.exit_code,
            "image": c.image,
        }
        for host_name, containers in found.items()
        for c in sorted(containers, key=_sort_key)
        if app_name is None or c.app == app_name
    ]
    if output is not Format.text:
        emit(rows, output)
        return
    if not rows:
        what = f"app {app_name}" if app_name else "apps managed by dockyard"
        console.print(f"no containers of {what}")
        if app_name:
            raise typer.Exit(1)
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    columns = ["NAME", "APP", "SERVICE", *(["HOST"] if len(engines) > 1 else []), "STATE"]
    for col in [*columns, "HEALTH", "STATUS"]:
        table.add_column(col, no_wrap=True)
    for r in rows:
        cells = [r["name"], r["app"], r["service"] or "-"]
        if len(engines) > 1:
            cells.append(r["host"])
        table.add_row(*cells, r["state"], r["health"] or "-", escape(r["status"]))
    console.print(table)


def parse_since(value: str) -> float:
    """--since: a duration back from now (10m, 1h30m), an RFC 3339 time, or a Unix time."""
    import time
    from datetime import datetime

    from dockyard.spec.units import parse_duration

    try:
        return float(value)
    except ValueError:
        pass
    try:
        return time.time() - parse_duration(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: give a duration (10m, 1h), a time (2026-12-01T10:00:00Z) or Unix seconds"
        ) from None


@app.command()
def logs(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app.")],
    service: Annotated[
        str | None, typer.Argument(metavar="SERVICE", help="One service only.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="Only lines since then: 10m, 1h, 2026-12-01T10:00:00Z."),
    ] = None,
    tail: Annotated[
        str, typer.Option(metavar="N", help="Only the last N lines of each container.")
    ] = "all",
    files: HostsFilesOpt = [],  # noqa: B006
    host: HostOpt = None,
) -> None:
    """Print the output of the app's containers, every replica on every host, each line
    prefixed with its replica like `docker compose logs` (`web-1  | …`; with several
    hosts, `HOST/web-1  | …`)."""
    import queue
    import threading

    from dockyard.engine.errors import EngineError
    from dockyard.engine.logs import log_lines

    when = parse_since(since) if since else None
    engines, found = engines_and_containers(files, host)
    chosen = [
        (host_name, c)
        for host_name, containers in found.items()
        for c in sorted(containers, key=_sort_key)
        if c.app == app_name and (service is None or c.service == service)
    ]
    if not chosen:
        what = f"service {service} of app {app_name}" if service else f"app {app_name}"
        raise fail(f"no containers of {what} on {', '.join(engines)}")

    def label(host_name: str, c: ObservedContainer) -> str:
        own = f"{c.service}-{c.replica}" if c.service and c.replica else c.name
        return f"{host_name}/{own}" if len(engines) > 1 else own

    width = max(len(label(h, c)) for h, c in chosen)
    lines: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=10000)
    problems: list[str] = []

    def read(host_name: str, c: ObservedContainer) -> None:
        prefix = label(host_name, c).ljust(width)
        try:
            for line in log_lines(engines[host_name], c.id, follow, when, tail):
                lines.put((prefix, line))
        except EngineError as exc:
            problems.append(str(exc))
        finally:
            lines.put(None)

    for host_name, c in chosen:
        threading.Thread(target=read, args=(host_name, c), daemon=True).start()
    import sys

    running = len(chosen)
    try:
        while running:
            item = lines.get()
            if item is None:
                running -= 1
                continue
            sys.stdout.write(f"{item[0]}  | {item[1]}\n")
            if follow:
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    for problem in problems:
        errors.print(f"[red]error:[/] {escape(problem)}")
    if problems:
        raise typer.Exit(1)
