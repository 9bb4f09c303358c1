"""The CLI across many hosts: `apply` and `diff` when DockerHosts come with the apps."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from dockyard.engine.client import Engine
from dockyard.spec.load import LoadResult

from .common import Format, console, errors, escape, fail
from .output import ConsoleReporter, summary


def fleet_plans(result: LoadResult, host: str | None) -> tuple[Any, list[Any]]:
    from dockyard.fleet.converge import connect_fleet, plan_fleet

    if not result.apps:
        raise fail("no App manifests found")
    fleet = connect_fleet(result.hosts, Engine(host))
    for name, reason in sorted(fleet.unreachable.items()):
        errors.print(f"[yellow]warning:[/] host {name} is unreachable: {escape(reason)}")
    plans = plan_fleet(result.apps, fleet)
    for fp in plans:
        for err in fp.errors:
            errors.print(f"[red]error:[/] app {fp.loaded.name}: {escape(err)}")
        for dark, names in fp.unknown.items():
            errors.print(
                f"[yellow]warning:[/] app {fp.loaded.name}: replicas on dark host {dark} are "
                f"unknown: {', '.join(names)}"
            )
    return fleet, plans


def apply_fleet_cmd(result: LoadResult, host: str | None, concurrency: int, quiet: bool) -> None:
    from dockyard.fleet.converge import apply_fleet

    fleet, plans = fleet_plans(result, host)
    total = sum(
        len(hp.plan.operations)
        for fp in plans
        if not fp.placement.errors
        for hp in fp.hosts
        if not hp.plan.errors
    )
    bad = any(fp.errors or fp.unknown for fp in plans)
    if total == 0:
        if not bad:
            console.print("up to date on every host, nothing to do")
        raise typer.Exit(1 if bad else 0)
    if not quiet:
        console.print(f"applying on {len(fleet.observed)} host(s): {total} operation(s)")
    with ConsoleReporter(console, quiet=quiet) as reporter:
        results = asyncio.run(apply_fleet(plans, fleet, reporter, concurrency))
    failed = False
    for name, res in sorted(results.items()):
        console.print(f"host {name}: ", end="")
        summary(console, res)
        failed = failed or not res.ok
        for failure in res.failed:
            errors.print(f"[red]failed:[/] {failure.op.describe()}: {escape(failure.error or '')}")
        for message in res.rollout_failures:
            errors.print(f"[red]rollout failed on {name}:[/] {escape(message)}")
    if failed or bad:
        raise typer.Exit(1)


def diff_fleet(result_all: LoadResult, host: str | None, output: Format) -> None:
    _, fplans = fleet_plans(result_all, host)
    ops = [op for fp in fplans for hp in fp.hosts for op in hp.plan.operations]
    if output is Format.json:
        console.print_json(
            json.dumps({"changes": bool(ops), "operations": [op.to_json() for op in ops]})
        )
    else:
        for fp in fplans:
            for hp in fp.hosts:
                state = "up to date" if hp.plan.empty else ""
                console.print(f"app {fp.loaded.name} on host {hp.host}: {state}")
                for line in hp.plan.render().splitlines():
                    if not line.startswith(("warning:", "error:")):
                        console.print(f"  {escape(line)}")
    if any(fp.errors for fp in fplans):
        raise typer.Exit(1)
    raise typer.Exit(2 if ops else 0)
