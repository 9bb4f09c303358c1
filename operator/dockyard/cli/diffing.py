"""`dockyard diff`: the plan, rollouts included, and nothing run."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import (
    Format,
    check_hosts_or_exit,
    console,
    emit,
    engine_for,
    escape,
    fail,
    load_all,
    plan_or_exit,
    report_plan_errors,
)


def diff_files(files: list[Path], host: str | None, output: Format) -> None:
    from dockyard.plan.operations import merge

    result_all = load_all(files)
    if result_all.hosts:
        from .fleet import diff_fleet

        check_hosts_or_exit(result_all)
        diff_fleet(result_all, host, output)
    loaded = result_all.apps  # loaded once: a secret's store command runs once
    if not loaded:
        raise fail(f"no App manifests found in {', '.join(map(str, files))}")
    engine = engine_for(host, alone=True)
    plans = plan_or_exit(engine, loaded)
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

        sys.stdout.write("".join(f"app {p.loaded.name}: up to date\n" for p in plans))
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
