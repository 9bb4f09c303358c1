"""`dockyard history` and `dockyard rollback`: an app's revisions, from the controller."""

from __future__ import annotations

import json
import time
import urllib.error
from typing import Annotated

import typer

from .common import Format, OutputOpt, app, console, escape, fail
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
        help="The running `dockyard run` that rolls the app out.",
    ),
]


@app.command()
def history(
    app_name: AppArg,
    controller: ControllerOpt = DEFAULT_CONTROLLER,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    output: OutputOpt = Format.text,
) -> None:
    """List an app's revisions: when, what changed, and how the rollout ended
    (complete, rolling-out, rolled-back, paused, failed). `*` marks the one running."""
    try:
        code, data = controller_request(f"{controller.rstrip('/')}/history/{app_name}", state_dir)
    except Unauthorized as exc:
        raise fail(str(exc)) from None
    except (urllib.error.URLError, OSError, ValueError):
        code, data = 0, {}
    if code == 404:
        raise fail(f"the controller at {controller} has no app named {app_name}")
    if code != 200:
        from dockyard.controller.history import HistoryStore

        try:
            data = HistoryStore(state_dir).get(app_name).to_json()
        except ValueError as exc:
            raise fail(str(exc)) from None
        if not data["revisions"]:
            raise fail(
                f"no history for app {app_name}: no controller answered at {controller} and "
                f"{state_dir}/history has none (revisions are kept by `dockyard run`)"
            )
    if output is Format.json:
        console.print_json(json.dumps(data))
        return
    from rich.table import Table

    table = Table(title=f"app {app_name}", title_justify="left", box=None, pad_edge=False)
    for col in ("REVISION", "CREATED", "OUTCOME", "CHANGES"):
        table.add_column(col, no_wrap=col != "CHANGES")
    for rev in data["revisions"]:
        mark = "*" if rev["revision"] == data.get("current") else " "
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rev["created"]))
        outcome = rev["outcome"] + (f": {rev['message']}" if rev.get("message") else "")
        table.add_row(
            f"{mark}{rev['revision']}", created, escape(outcome), escape("; ".join(rev["changes"]))
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
) -> None:
    """Return an app to an earlier revision, rolled out with its update strategy. It stays
    there until its spec changes again (or until you roll back to the newest revision)."""
    url = f"{controller.rstrip('/')}/rollback/{app_name}" + (f"?to={to}" if to else "")
    try:
        code, data = controller_request(url, state_dir, method="POST")
    except Unauthorized as exc:
        raise fail(str(exc)) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise fail(
            f"no controller at {controller} ({exc}): rollback is done by a running "
            "`dockyard run`; pass --controller URL"
        ) from None
    if code != 200:
        raise fail(str(data.get("error", data)))
    console.print(escape(str(data["message"])))
