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
    engine: Any, app_name: str, volumes: bool, output: Format, host_name: str | bool
) -> dict[str, Any] | None:
    """Remove one app from one engine; None when the engine held nothing of it."""
    import asyncio

    from dockyard.apply.converge import delete_app
    from dockyard.engine.errors import EngineError

    from .output import ConsoleReporter, summary

    text = output is Format.text
    where = f" on host {host_name}" if host_name else ""
    try:
        with ConsoleReporter(console, quiet=not text) as reporter:
            plan, result = asyncio.run(delete_app(engine, app_name, volumes, reporter))
    except EngineError as exc:
        raise fail(str(exc)) from None
    if plan.empty:
        if text and not host_name:
            console.print(f"nothing of app {app_name} on engine {engine.name}")
        return None
    kept = [] if volumes else [v.name for v in engine.snapshot().volumes if v.app == app_name]
    if text:
        if host_name:
            console.print(f"app {app_name}{where}: ", end="")
        summary(console, result)
        if kept:
            console.print(f"kept volume(s) {', '.join(kept)} (use --volumes to remove them)")
    return {**results_json(result), "keptVolumes": kept}
