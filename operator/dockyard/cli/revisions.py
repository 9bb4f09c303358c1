"""`dockyard history` and `dockyard rollback`: an app's revisions, from a running controller
or else from the app's engines (where `dockyard apply` and controllers record them)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from .controller_view import (
    DEFAULT_CONTROLLER,
    DEFAULT_STATE_DIR,
    StateDirOpt,
    Unauthorized,
    controller_request,
)

AppArg = Annotated[str, typer.Argument(metavar="APP", help="The app.")]
ControllerOpt = Annotated[
    str,
    typer.Option(
        envvar="DOCKYARD_CONTROLLER",
        metavar="URL",
        help="The running `dockyard run` that rolls the app out; when none answers, the "
        "app's engines are read (and, for rollback, written) directly.",
    ),
]
HistoryFilesOpt = Annotated[
    list[Path],
    typer.Option(
        "-f",
        "--filename",
        metavar="PATH",
        help="The app's manifests: their DockerHosts are where its history is read; "
        "rollback without a controller takes today's secrets and files from them.",
    ),
]

if TYPE_CHECKING:
    from dockyard.engine.client import Engine
    from dockyard.spec.load import LoadResult


def _engines(host: str | None, result: LoadResult | None) -> list[Engine]:
    """The engines that hold the app's history: the DockerHosts of the manifests, else
    --host / the local engine."""
    if result is not None and result.hosts:
        from dockyard.fleet.hosts import HostError, engine_for_host

        check_hosts_or_exit(result)
        engines = []
        for h in result.hosts:
            try:
                engines.append(engine_for_host(h))
            except HostError as exc:
                errors.print(f"[yellow]warning:[/] {escape(exc.render())}")
        return engines
    return [engine_for(host)]


@app.command()
def history(
    app_name: AppArg,
    controller: ControllerOpt = DEFAULT_CONTROLLER,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    output: OutputOpt = Format.text,
    host: HostOpt = None,
    files: HistoryFilesOpt = [],  # noqa: B006 - typer reads the default
) -> None:
    """List an app's revisions: when, by whom and from what, what changed, and how the
    rollout ended (complete, rolling-out, rolled-back, paused, failed). `*` marks the one
    running. Asks a running controller; else reads the history kept on the app's engines
    (any machine sees the same), else the state folder's copy."""
    import urllib.error

    try:
        code, data = controller_request(f"{controller.rstrip('/')}/history/{app_name}", state_dir)
    except Unauthorized as exc:
        raise fail(str(exc)) from None
    except (urllib.error.URLError, OSError, ValueError):
        code, data = 0, {}
    if code != 200:
        from .app_history import read_history

        engines = _engines(host, load_all(files, applying=False) if files else None)
        try:
            found = read_history(app_name, engines, state_dir)
        except ValueError as exc:
            raise fail(str(exc)) from None
        for problem in found.problems:
            errors.print(f"[yellow]warning:[/] history not read from {escape(problem)}")
        data = found.store.get(app_name).to_json()
        if not data["revisions"]:
            where = ", ".join(e.name for e in engines)
            asked = "has no app of that name" if code == 404 else "did not answer"
            raise fail(
                f"no history for app {app_name}: the controller at {controller} {asked}, "
                f"engine(s) {where} hold none and {state_dir}/history has none (revisions "
                "are recorded by `dockyard apply` and `dockyard run`; pass -f or --host to "
                "name the app's engines)"
            )
    if output is not Format.text:
        emit(data, output)
        return
    from rich.table import Table

    table = Table(title=f"app {app_name}", title_justify="left", box=None, pad_edge=False)
    for col in ("REVISION", "CREATED", "BY", "OUTCOME", "CHANGES"):
        table.add_column(col, no_wrap=col not in ("CHANGES", "BY"))
    for rev in data["revisions"]:
        mark = "*" if rev["revision"] == data.get("current") else " "
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rev["created"]))
        outcome = rev["outcome"] + (f": {rev['message']}" if rev.get("message") else "")
        by = rev.get("by") or rev.get("source") or ""
        table.add_row(
            f"{mark}{rev['revision']}",
            created,
            escape(by),
            escape(outcome),
            escape("; ".join(rev["changes"])),
        )
    console.print(table)
    pin = data.get("pin")
    if pin:
        target = f"revision {pin['revision']}" if pin["revision"] else "what runs now"
        console.print(f"pinned to {target} until the spec changes: {escape(pin['reason'])}")


@app.command()
def rollback(
    app_name: AppArg,
    to: Annotated[
        int | None,
        typer.Option(
            "--to", metavar="REVISION", min=1, help="Default: the last completed one before now."
        ),
    ] = None,
    controller: ControllerOpt = DEFAULT_CONTROLLER,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    host: HostOpt = None,
    files: HistoryFilesOpt = [],  # noqa: B006 - typer reads the default
) -> None:
    """Return an app to an earlier revision, rolled out with its update strategy. It stays
    there until its spec changes again (or until you roll back to the newest revision, or
    `dockyard apply` it). With a controller running, the controller does it; otherwise the
    revision is applied here to the engine (--host) and recorded there, with today's
    secrets and files from -f (a revision keeps no secret values)."""
    url = f"{controller.rstrip('/')}/rollback/{app_name}" + (f"?to={to}" if to else "")
    import urllib.error

    try:
        code, data = controller_request(url, state_dir, method="POST")
    except Unauthorized as exc:
        raise fail(str(exc)) from None
    except (urllib.error.URLError, OSError, ValueError):
        _rollback_here(app_name, to, host, files, state_dir)
        return
    if code != 200:
        raise fail(str(data.get("error", data)))
    console.print(escape(str(data["message"])))


def _rollback_here(
    app_name: str, to: int | None, host: str | None, files: list[Path], state_dir: Path
) -> None:
    from dockyard.engine.errors import EngineError

    from .app_history import RollbackError, rollback_here
    from .output import ConsoleReporter, summary

    result = load_all(files) if files else None
    if result is not None and result.hosts:
        raise fail(
            f"app {app_name} runs on DockerHosts: without a controller, roll back by applying "
            "the revision's manifests, or start `dockyard run` (it rolls back across hosts)"
        )
    today = next((a for a in result.apps if a.name == app_name), None) if result else None
    if result is not None and today is None:
        raise fail(f"no App named {app_name} in {', '.join(map(str, files))}")
    (engine,) = _engines(host, None)
    try:
        with ConsoleReporter(console) as reporter:
            message, applied = rollback_here(
                app_name,
                to,
                engine,
                today,
                state_dir,
                reporter,
                lambda m: console.print(escape(m)),
            )
    except RollbackError as exc:
        raise fail(str(exc)) from None
    except (EngineError, ValueError) as exc:
        raise fail(str(exc)) from None
    if applied is not None:
        summary(console, applied)
        if not applied.ok:
            for failure in applied.failed:
                errors.print(
                    f"[red]failed:[/] {failure.op.describe()}: {escape(failure.error or '')}"
                )
            raise fail(message)
    console.print(escape(message))
