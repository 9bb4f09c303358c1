"""`dockyard delete` on one engine."""

from __future__ import annotations

from typing import Any

from .common import (
    Format,
    console,
    fail,
    results_json,
)


def delete_on(
    engine: Any,
    app_name: str,
    volumes: bool,
    output: Format,
    host_name: str | bool,
    project: str | None = None,
) -> dict[str, Any] | None:
    """Remove one app from one engine; None when the engine held nothing of it. `project`:
    the manifest's `spec.project` (else what the app's objects on the engine record)."""
    import asyncio

    from dockyard.apply.converge import delete_app
    from dockyard.engine.errors import EngineError

    from .output import ConsoleReporter, summary

    text = output is Format.text
    where = f" on host {host_name}" if host_name else ""
    try:
        # What its objects record, read before they go: the kept volumes are named after it.
        project = project or engine.snapshot().project_of(app_name)
        with ConsoleReporter(console, quiet=not text) as reporter:
            plan, result = asyncio.run(
                delete_app(engine, app_name, volumes, reporter, project=project)
            )
    except EngineError as exc:
        raise fail(str(exc)) from None
    if plan.empty:
        if text and not host_name:
            console.print(f"nothing of app {app_name} on engine {engine.name}")
        return None
    kept = []
    if not volumes:
        kept = [v.name for v in engine.snapshot().volumes if v.owned_by(app_name, project)]
    if text:
        if host_name:
            console.print(f"app {app_name}{where}: ", end="")
        summary(console, result)
        if kept:
            console.print(f"kept volume(s) {', '.join(kept)} (use --volumes to remove them)")
    return {**results_json(result), "keptVolumes": kept}
