"""`dockyard status` without a controller: what the engine holds, per app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import (
    Format,
    console,
    emit,
    fail,
)

if TYPE_CHECKING:
    from dockyard.state.observed import ObservedContainer


def show_engine_status(engine: Any, app_name: str | None, output: Format) -> None:
    from dockyard.engine.errors import EngineError

    try:
        observed = engine.snapshot()
    except EngineError as exc:
        raise fail(str(exc)) from None
    apps = sorted(observed.apps()) if app_name is None else [app_name]
    report: dict[str, Any] = {}
    for name in apps:
        containers = sorted(observed.app_containers(name), key=lambda c: c.name)
        services: dict[str, list[ObservedContainer]] = {}
        for c in containers:
            services.setdefault(c.service or "?", []).append(c)
        report[name] = {
            svc: {
                "running": sum(1 for c in cs if c.running),
                "healthy": sum(1 for c in cs if c.health == "healthy"),
                "containers": [
                    {
                        "name": c.name,
                        "state": c.state,
                        "health": c.health,
                        "status": c.status,
                        "exitCode": c.exit_code,
                    }
                    for c in cs
                ],
            }
            for svc, cs in services.items()
        }
    if app_name is not None and not report[app_name]:
        raise fail(f"no app named {app_name} on engine {engine.name}")
    if output is not Format.text:
        emit(report, output)
        return
    from rich.table import Table

    if not report:
        console.print("no apps managed by dockyard on this engine")
    for name, services_report in report.items():
        table = Table(title=f"app {name}", title_justify="left", box=None, pad_edge=False)
        for col in ("SERVICE", "RUNNING", "HEALTHY", "CONTAINER", "STATE", "STATUS"):
            table.add_column(col, no_wrap=True)
        for svc, info in services_report.items():
            total = len(info["containers"])
            for i, c in enumerate(info["containers"]):
                first = i == 0
                table.add_row(
                    svc if first else "",
                    f"{info['running']}/{total}" if first else "",
                    str(info["healthy"]) if first else "",
                    c["name"],
                    c["state"],
                    c["status"],
                )
        console.print(table)
