"""`dockyard diff`: the plan, rollouts included, and nothing run."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import (
    Format,
    check_hosts_or_exit,
    console,
    emit,
    escape,
    load_and_plan,
    report_plan_errors,
)
from .noop_memo import Recording


def diff_files(
    files: list[Path], host: str | None, output: Format, command: str, policy: bool
) -> None:
    from dockyard.plan.operations import merge

    memo = Recording(command, [str(f) for f in files], host, output is Format.text and not policy)
    result_all, engine, plans, _ = load_and_plan(files, host, memo)
    if result_all.hosts:
        from .fleet import diff_fleet

        check_hosts_or_exit(result_all)
        diff_fleet(result_all, host, output)
    assert engine is not None  # no DockerHosts: planned on the one engine
    merged = merge([p.plan for p in plans])
    changes = any(not p.plan.empty for p in plans)
    if output is not Format.text:
        import json

        doc = json.loads(merged.to_json())
        doc["changes"] = changes
        doc["rollouts"] = {
            p.loaded.name: p.plan.rollout.to_json() for p in plans if p.plan.rollout is not None
        }
        emit(doc, output)
    elif not changes and not any(p.plan.errors or p.plan.warnings for p in plans):
        import sys  # nothing to show but one line per app: rich is not worth loading

        text = "".join(f"app {p.loaded.name}: up to date\n" for p in plans)
        sys.stdout.write(text)
        memo.save(text, result_all, plans)
    else:
        report_plan_errors(plans)
        for p in plans:
            if not p.plan.empty:
                console.print(f"app {p.loaded.name}:")
                for line in p.plan.render().splitlines():
                    if not line.startswith(("warning:", "error:")):
                        console.print(f"  {escape(line)}")
            else:
                console.print(f"app {p.loaded.name}: up to date")
    if merged.errors:
        raise typer.Exit(1)
    raise typer.Exit(2 if changes else 0)
