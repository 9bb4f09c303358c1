"""The CLI across many hosts: `apply` and `diff` when DockerHosts come with the apps."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import typer

from dockyard.fleet.agent_state import agent_state
from dockyard.spec.load import LoadResult

from .common import Format, console, emit, engine_for, errors, escape, fail, results_json
from .output import ConsoleReporter, summary


def fleet_plans(result: LoadResult, host: str | None) -> tuple[Any, list[Any]]:
    from dockyard.fleet.converge import connect_fleet, plan_fleet

    if not result.apps:
        raise fail("no App manifests found")
    fleet = connect_fleet(result.hosts, engine_for(host))
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


def apply_fleet_cmd(
    result: LoadResult,
    host: str | None,
    concurrency: int,
    quiet: bool,
    output: Format = Format.text,
) -> None:
    from dockyard.fleet.converge import apply_fleet

    report = output is not Format.text
    quiet = quiet or report

    fleet, plans = fleet_plans(result, host)
    total = sum(
        hp.plan.size
        for fp in plans
        if not fp.placement.errors
        for hp in fp.hosts
        if not hp.plan.errors
    )
    bad = any(fp.errors or fp.unknown for fp in plans)
    if total == 0:
        if report:
            emit({"ok": not bad, "changed": False, "hosts": {}}, output)
        elif not bad:
            console.print("up to date on every host, nothing to do")
        raise typer.Exit(1 if bad else 0)
    if not quiet:
        console.print(f"applying on {len(fleet.observed)} host(s): {total} operation(s)")
    with ConsoleReporter(console, quiet=quiet) as reporter:
        results = asyncio.run(apply_fleet(plans, fleet, reporter, concurrency))
    failed = False
    for name, res in sorted(results.items()):
        if not report:
            console.print(f"host {name}: ", end="")
            summary(console, res)
        failed = failed or not res.ok
        for failure in res.failed:
            errors.print(f"[red]failed:[/] {failure.op.describe()}: {escape(failure.error or '')}")
        for message in res.rollout_failures:
            errors.print(f"[red]rollout failed on {name}:[/] {escape(message)}")
    from .app_history import record_fleet_apply  # each app's revision, on its hosts

    for problem in record_fleet_apply(fleet, plans, results):
        errors.print(f"[yellow]warning:[/] {escape(problem)}")
    if report:
        hosts = {name: results_json(res) for name, res in sorted(results.items())}
        emit({"ok": not (failed or bad), "changed": True, "hosts": hosts}, output)
    if failed or bad:
        raise typer.Exit(1)


def diff_fleet(result_all: LoadResult, host: str | None, output: Format) -> None:
    _, fplans = fleet_plans(result_all, host)
    ops = [op for fp in fplans for hp in fp.hosts for op in hp.plan.operations]
    rollouts = [
        {"app": fp.loaded.name, "host": hp.host, **hp.plan.rollout.to_json()}
        for fp in fplans
        for hp in fp.hosts
        if hp.plan.rollout is not None
    ]
    changes = bool(ops or rollouts)
    if output is not Format.text:
        doc = {"changes": changes, "operations": [op.to_json() for op in ops]}
        emit({**doc, "rollouts": rollouts}, output)
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
    raise typer.Exit(2 if changes else 0)


# ---- large fleets: counts by state, the hosts that need attention -------------------------

# Over main.SUMMARY_OVER hosts, `dockyard hosts` / `dockyard status` print counts by state
# and the hosts that need attention (at most this many) instead of one line each.
LIST_AT_MOST = 25
# States that need no one's attention; "unknown" is said once, not listed per host.
FINE = ("reachable", "converged")
UNKNOWN = "unknown"
# The order the hosts needing attention are listed in: the worst first.
SEVERITY = ("unreachable", "offline", "rejected", "behind", "waiting", "converging", "no report")


def host_state(status: Any, agent: Mapping[str, Any] | None) -> tuple[str, str]:
    """(state, detail) of one `dockyard hosts` row: an agent's report, or the probe."""
    if agent is not None:
        return agent_state(agent)
    if status.reachable is None:
        return UNKNOWN, ""
    if status.reachable:
        return "reachable", ""
    return "unreachable", status.error or ""


def show_summary(rows: list[tuple[str, str, str]], noun: str) -> None:
    """One line of counts by state, then the rows that need attention (worst first, at
    most LIST_AT_MOST of them) — what a 10,000-host fleet can be read by."""
    from collections import Counter

    counts = Counter(state for _, state, _ in rows)
    order = {s: i for i, s in enumerate((*SEVERITY, UNKNOWN, *FINE))}
    parts = [f"{n} {s}" for s, n in sorted(counts.items(), key=lambda c: order.get(c[0], 99))]
    console.print(f"{len(rows)} {noun}: {', '.join(parts)}")
    attention = sorted(
        (r for r in rows if r[1] not in FINE and r[1] != UNKNOWN),
        key=lambda r: (order.get(r[1], 99), r[0]),
    )
    for name, state, detail in attention[:LIST_AT_MOST]:
        console.print(f"  {escape(name)}  {state}" + (f"  {escape(detail)}" if detail else ""))
    if len(attention) > LIST_AT_MOST:
        console.print(f"  … and {len(attention) - LIST_AT_MOST} more; --all lists every one")
    if counts.get(UNKNOWN):
        console.print(
            f"  {counts[UNKNOWN]} agent host(s) in an unknown state: nothing reported them "
            "(pass --broker, or run `dockyard run --broker` to ask)"
        )


def show_hosts_summary(statuses: list[Any], agents: Mapping[str, Any]) -> None:
    show_summary([(s.name, *host_state(s, agents.get(s.name))) for s in statuses], "hosts")


def show_agents_summary(view: Mapping[str, Any]) -> None:
    if view:
        show_summary([(name, *agent_state(a)) for name, a in view.items()], "agents")
