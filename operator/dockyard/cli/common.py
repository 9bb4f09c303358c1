"""What every command shares: the typer app, the consoles, common options, loading.

Start-up matters here: every command imports this module, so it imports only typer and
the standard library; rich, pydantic and the Docker SDK load inside the commands.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

if TYPE_CHECKING:
    from rich.console import Console

    from dockyard.apply.plans import AppPlan
    from dockyard.engine.client import Engine
    from dockyard.spec.load import LoadedApp, LoadResult

    from .noop_memo import Recording

__all__ = ["DEFAULT_CONCURRENCY"]

# The executor's default (dockyard.apply.executor.DEFAULT_CONCURRENCY), repeated here so
# that --help need not import the executor; tests/test_cli_startup.py keeps them equal.
DEFAULT_CONCURRENCY = 32


def _print_version(value: bool) -> None:
    if value:
        from .startup import client_version

        sys.stdout.write(client_version() + "\n")
        raise typer.Exit()


class _HelpFlag(TyperOption):
    """--help of a group, whose value is None when the flag is absent: typer 0.29 would
    coerce that None through pydantic (a tenth of a second) before every subcommand."""

    def process_value(self, ctx: Any, value: Any) -> Any:
        return super().process_value(ctx, bool(value))


class _Argument(TyperArgument):
    """An argument shown as a person reads it: `APP`, `[APP]`, `SOURCE...`, without typer's
    `{APP}` and `<list[str]>`; its help says what it takes."""

    def display_type_rich(self, ctx: Any) -> str:
        return ""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


class Group(TyperGroup):
    """The command groups of the CLI (`dockyard`, `dockyard import`)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for command in self.commands.values():
            for param in command.params:
                if type(param) is TyperArgument:
                    param.__class__ = _Argument

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if type(option) is TyperOption:
            option.__class__ = _HelpFlag
        return option


app = typer.Typer(
    name="dockyard",
    cls=Group,
    help="Make Docker hosts match declarative App manifests, and keep them matching.",
    no_args_is_help=True,
    # Typer's --install-completion options would load pydantic for every command (their
    # values are coerced through it); `dockyard completion SHELL` prints the script instead.
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

COMPLETE_VAR = "_DOCKYARD_COMPLETE"  # set by the shell's completion script


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print dockyard's version and exit.",
        ),
    ] = False,
) -> None:
    pass


def only_command(args: list[str]) -> typer.Typer:
    """The CLI with only the command `args` names (with the root's options): typer reads
    every command's signature and options before it runs one, a tenth of a second that
    `dockyard apply` need not wait for. Anything else (no command, a group such as
    `import`, an unknown name) gets the whole CLI, and so typer's own answer."""
    if not args or args[0].startswith("-"):
        return app
    from typer.main import get_command_name

    found = [
        info
        for info in app.registered_commands
        if (info.name or get_command_name(info.callback.__name__)) == args[0]  # type: ignore[union-attr]
    ]
    if len(found) != 1:
        return app
    only = copy.copy(app)
    only.registered_commands = found
    only.registered_groups = []
    return only


class _LazyConsole:
    """A rich Console made on first use: importing rich costs more than most commands."""

    def __init__(self, make: Callable[[], Console]) -> None:
        self._make = make
        self._target: Console | None = None

    def get(self) -> Console:
        if self._target is None:
            self._target = self._make()
        return self._target

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.get(), name, value)


def _stdout_console() -> Console:
    from rich.console import Console

    made = Console(highlight=False, soft_wrap=True)
    if not made.is_terminal:
        made.width = 200  # piped output: never truncate tables
    return made


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


console = cast("Console", _LazyConsole(_stdout_console))
errors = cast("Console", _LazyConsole(_stderr_console))


def real_console(value: Console) -> Console:
    """The rich Console behind a lazy one, for rich classes that want the real thing."""
    return value.get() if isinstance(value, _LazyConsole) else value


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
        metavar="URL",
        help="Docker engine URL: unix://, tcp:// or ssh:// (default: DOCKER_HOST with "
        "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, else the current docker context, else the "
        "local socket).",
    ),
]


def engine_for(host: str | None, alone: bool = False, **kwargs: Any) -> Engine:
    """The engine of `--host`, else the one the docker CLI would use (cli/docker_env.py).

    `alone`: this process talks to no other engine. Unless that one is ssh://, docker-py's
    ssh support (paramiko, cryptography, invoke: two thirds of the SDK's import time) is
    then never used, so it is kept from loading: a no-op `apply` starts that much sooner."""
    from .docker_env import DockerEnvError, resolve

    try:
        target = resolve(host)
    except DockerEnvError as exc:
        raise fail(str(exc)) from None
    if alone and not (target.url or "").startswith("ssh://"):
        sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]
    return target.engine(**kwargs)


ConcurrencyOpt = Annotated[
    int,
    typer.Option("--concurrency", "-j", min=1, metavar="N", help="Engine calls run at once."),
]


# pyproject's optional-dependencies: the extra, and the modules that come with it.
EXTRAS = {"kubernetes": ("kopf", "kubernetes"), "edge": ("aiomqtt",)}


def require_extra(extra: str, what: str) -> None:
    """Exit 2 with one line naming the extra to install when `what` cannot run without it."""
    import importlib

    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if exc.name != module:
                raise  # the package is there but broken: its own error says more
            raise fail(
                f"{what} needs the {extra} extra: pip install 'dockyard[{extra}]'", code=2
            ) from None


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


STDIN = "<stdin>"  # how `-f -` is named in messages


def load_all(files: list[Path], applying: bool = True) -> LoadResult:
    from dockyard.spec.errors import SpecError
    from dockyard.spec.load import load_paths

    if not files:
        raise fail("no manifests given: pass -f FILE or -f DIR")
    stdin = _stdin_file() if Path("-") in files else None
    paths = [stdin if f == Path("-") and stdin else f for f in files]

    def named(text: str) -> str:
        return text.replace(str(stdin), STDIN) if stdin else text

    try:
        result = load_paths(paths)
    except SpecError as exc:
        tail = "; nothing applied" if applying else ""
        errors.print(f"[red]invalid manifest ({len(exc.errors)} problem(s)){tail}:[/]")
        for err in exc.errors:
            errors.print(f"  {escape(named(err.render()))}")
        raise typer.Exit(1) from None
    finally:
        if stdin:
            stdin.unlink(missing_ok=True)
    if stdin:
        import dataclasses

        result = dataclasses.replace(
            result,
            apps=[dataclasses.replace(a, source=named(a.source)) for a in result.apps],
            warnings=[named(w) for w in result.warnings],
        )
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}")
    if any(": spec." not in w for w in result.warnings):
        errors.print(
            "  (Compose keys dockyard cannot honour were left out: "
            "`dockyard import compose --strict` makes that an error)"
        )
    return result


def _stdin_file() -> Path:
    """`-f -`: standard input, kept in a hidden file of the current folder while it loads, so
    that relative paths in it (env files, secrets, build contexts) resolve against the
    current folder, as `docker compose -f -` and `kubectl apply -f -` do."""
    import tempfile

    text = sys.stdin.read()
    if not text.strip():
        raise fail("-f -: nothing on standard input")
    try:
        fd, name = tempfile.mkstemp(dir=Path.cwd(), prefix=".dockyard-stdin-", suffix=".yaml")
    except OSError:  # a read-only folder: relative paths then name nothing
        fd, name = tempfile.mkstemp(prefix="dockyard-stdin-", suffix=".yaml")
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(name)


def check_hosts_or_exit(result: LoadResult) -> None:
    """Refuse unsafe or wrong DockerHosts (plain tcp://, missing TLS files) like bad fields."""
    from dockyard.fleet.hosts import check_hosts

    problems = check_hosts(result.hosts)
    if problems:
        errors.print(f"[red]invalid DockerHost ({len(problems)} problem(s)):[/]")
        for problem in problems:
            errors.print(f"  {escape(problem.render())}")
        raise typer.Exit(1)


def plan_or_exit(
    engine: Engine, loaded: list[LoadedApp], answers: dict[str, Any] | None = None
) -> list[AppPlan]:
    """The plans of `loaded` on `engine` (`answers`: see engine/snapshot.py)."""
    from dockyard.apply.plans import plan_apps
    from dockyard.engine.errors import EngineError

    try:
        return plan_apps(loaded, engine.snapshot(answers))
    except EngineError as exc:
        raise fail(str(exc)) from None


def load_and_plan(
    files: list[Path],
    host: str | None,
    memo: Recording,
    prepare: Callable[[Engine, list[LoadedApp]], Any] | None = None,
) -> tuple[LoadResult, Engine | None, list[AppPlan], Any]:
    """Load `files` and, unless they hold DockerHosts (then: no engine, no plans), plan
    them on the engine of `host`, recorded for the no-op memo (cli/noop_memo.py).
    `prepare(engine, apps)` runs just before planning; what it returns comes back last."""
    with memo.recording():
        result = load_all(files)
        if result.hosts:
            return result, None, [], None
        if not result.apps:  # loaded once: a secret's store command runs once
            raise fail(f"no App manifests found in {', '.join(map(str, files))}")
        engine = engine_for(host, alone=True)
        memo.allow_socket(engine.local_socket)
        prepared = prepare(engine, result.apps) if prepare is not None else None
        return result, engine, plan_or_exit(engine, result.apps, memo.answers), prepared


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
    yaml = "yaml"


OutputOpt = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        help="Output format; json and yaml are stable, documented in docs/cli.md.",
    ),
]


def emit(data: Any, output: Format) -> None:
    """A report as JSON or YAML on standard output, alone: messages go to standard error."""
    if output is Format.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        import json

        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def results_json(results: Any) -> dict[str, Any]:
    """An ApplyResult as `-o json` shows it: each operation with how it ended."""
    ops = [
        {
            **r.op.to_json(),
            "status": r.status,
            "seconds": round(r.seconds, 3),
            "error": r.error,
            "note": r.note,
        }
        for r in results.results
    ]
    return {
        "ok": bool(results.ok),
        "seconds": round(results.seconds, 3),
        "operations": ops,
        "rolloutFailures": list(results.rollout_failures),
    }
