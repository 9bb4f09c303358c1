"""What every command shares: the typer app, the consoles, common options, loading."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dockyard.apply.converge import AppPlan, plan_apps
from dockyard.apply.executor import DEFAULT_CONCURRENCY
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.spec.errors import SpecError
from dockyard.spec.load import LoadedApp, LoadResult, load_paths

__all__ = ["DEFAULT_CONCURRENCY"]

app = typer.Typer(
    name="dockyard",
    help="Make Docker hosts match declarative App manifests, and keep them matching.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)
if not console.is_terminal:
    console.width = 200  # piped output: never truncate tables

FilesOpt = Annotated[
    list[Path],
    typer.Option(
        "-f",
        "--filename",
        metavar="PATH",
        help="Manifest or Compose file, or a folder of them (repeatable; read recursively).",
    ),
]
HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host",
        "-H",
        envvar="DOCKER_HOST",
        metavar="URL",
        help="Docker engine URL (default: DOCKER_HOST, else the local socket).",
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option("--concurrency", "-j", min=1, metavar="N", help="Engine calls run at once."),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code)


def escape(text: str) -> str:
    return text.replace("[", r"\[")


def load_apps(files: list[Path], applying: bool = True) -> list[LoadedApp]:
    result = load_all(files, applying)
    if not result.apps:
        raise fail(f"no App manifests found in {', '.join(map(str, files))}")
    return result.apps


def load_all(files: list[Path], applying: bool = True) -> LoadResult:
    if not files:
        raise fail("no manifests given: pass -f FILE or -f DIR")
    try:
        result = load_paths(files)
    except SpecError as exc:
        tail = "; nothing applied" if applying else ""
        errors.print(f"[red]invalid manifest ({len(exc.errors)} problem(s)){tail}:[/]")
        for err in exc.errors:
            errors.print(f"  {escape(err.render())}")
        raise typer.Exit(1) from None
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}")
    if any(": spec." not in w for w in result.warnings):
        errors.print(
            "  (Compose keys dockyard cannot honour were left out: "
            "`dockyard import compose --strict` makes that an error)"
        )
    return result


def check_hosts_or_exit(result: LoadResult) -> None:
    """Refuse unsafe or wrong DockerHosts (plain tcp://, missing TLS files) like bad fields."""
    from dockyard.fleet.hosts import check_hosts

    problems = check_hosts(result.hosts)
    if problems:
        errors.print(f"[red]invalid DockerHost ({len(problems)} problem(s)):[/]")
        for problem in problems:
            errors.print(f"  {escape(problem.render())}")
        raise typer.Exit(1)


def plan_or_exit(engine: Engine, loaded: list[LoadedApp]) -> list[AppPlan]:
    try:
        return plan_apps(loaded, engine.snapshot())
    except EngineError as exc:
        raise fail(str(exc)) from None


def report_plan_errors(plans: list[AppPlan]) -> bool:
    bad = False
    for p in plans:
        for err in p.plan.errors:
            bad = True
            errors.print(f"[red]error:[/] app {p.loaded.name}: {escape(err)}")
        for warn in p.plan.warnings:
            errors.print(f"[yellow]warning:[/] app {p.loaded.name}: {escape(warn)}")
    return bad


class Format(StrEnum):
    text = "text"
    json = "json"


OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="Output format.")]
