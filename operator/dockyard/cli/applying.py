"""`dockyard apply`: load, plan, converge; a no-op answered from the memo next time."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .common import (
    Format,
    check_hosts_or_exit,
    console,
    emit,
    errors,
    escape,
    load_and_plan,
    report_plan_errors,
    results_json,
)
from .noop_memo import Recording
from .readiness import wait_ready


def apply_files(
    files: list[Path],
    host: str | None,
    concurrency: int,
    quiet: bool,
    output: Format,
    wait_for: float | None,
    policy: bool,
) -> None:
    """`dockyard apply` (main.py has its options and help)."""
    from dockyard.apply.images import refresh_always_images

    report = output is not Format.text
    memo = Recording(
        "apply", [str(f) for f in files], host, not (report or policy or wait_for is not None)
    )
    result_all, engine, plans, pulled = load_and_plan(
        files,
        host,
        memo,
        refresh_always_images,  # pullPolicy Always: moved tags, seen
    )
    if result_all.hosts:
        from .fleet import apply_fleet_cmd

        check_hosts_or_exit(result_all)
        apply_fleet_cmd(result_all, host, concurrency, quiet, output)
        return
    assert engine is not None  # no DockerHosts: planned on the one engine
    loaded = result_all.apps
    quiet = quiet or report
    for message in pulled.errors:
        errors.print(f"[red]error:[/] {escape(message)}; what runs is left as it is")
    has_errors = report_plan_errors(plans) or bool(pulled.errors)
    runnable = [p for p in plans if not p.plan.errors]
    total = sum(p.plan.size for p in runnable)
    if total == 0:
        if report:
            nothing = {
                "ok": not has_errors,
                "seconds": 0.0,
                "operations": [],
                "rolloutFailures": [],
            }
            emit({"apps": [p.loaded.name for p in plans], "changed": False, **nothing}, output)
        elif not has_errors:  # plain stdout: rich is not worth loading for one line
            text = f"{', '.join(p.loaded.name for p in plans)}: up to date, nothing to do\n"
            sys.stdout.write(text)
            memo.save(text, result_all, plans)
        if wait_for is not None and not has_errors:
            wait_ready(engine, loaded, wait_for, quiet)
        raise typer.Exit(1 if has_errors else 0)
    import asyncio

    from dockyard.apply.converge import converge

    from .output import ConsoleReporter, summary

    if not quiet:
        names = ", ".join(p.loaded.name for p in runnable)
        console.print(f"applying {names}: {total} operation(s)")
    with ConsoleReporter(console, quiet=quiet) as reporter:
        result = asyncio.run(
            converge(
                engine,
                [p.work() for p in runnable],
                concurrency=concurrency,
                reporter=reporter,
                progress=None if quiet else lambda a, m: console.print(escape(f"app {a}: {m}")),
            )
        ).result
    if report:
        applied = [p.loaded.name for p in runnable]
        emit({"apps": applied, "changed": True, **results_json(result)}, output)
    else:
        summary(console, result)
    from .app_history import record_apply  # a revision per app changed: `dockyard history`

    for problem in record_apply(engine, runnable, result):
        errors.print(f"[yellow]warning:[/] {escape(problem)}")
    if not result.ok:
        for failure in result.failed:
            errors.print(f"[red]failed:[/] {failure.op.describe()}: {escape(failure.error or '')}")
        for message in result.rollout_failures:
            errors.print(f"[red]rollout failed:[/] {escape(message)}")
    if not result.ok or has_errors:
        raise typer.Exit(1)
    if wait_for is not None:
        wait_ready(engine, loaded, wait_for, quiet)
