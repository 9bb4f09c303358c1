"""The `dockyard` command line: thin wrappers over spec, plan, apply and engine."""

from __future__ import annotations

import asyncio
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dockyard import __version__
from dockyard.apply.converge import AppPlan, apply_plans, delete_app, merge, plan_apps
from dockyard.apply.executor import DEFAULT_CONCURRENCY
from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError
from dockyard.engine.observed import ObservedContainer
from dockyard.spec.errors import SpecError
from dockyard.spec.load import LoadedApp, LoadResult, load_paths

from .output import ConsoleReporter, summary

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


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/] {_escape(message)}")
    return typer.Exit(code)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _load(files: list[Path], applying: bool = True) -> list[LoadedApp]:
    result = _load_result(files, applying)
    if not result.apps:
        raise _fail(f"no App manifests found in {', '.join(map(str, files))}")
    return result.apps


def _load_result(files: list[Path], applying: bool = True) -> LoadResult:
    if not files:
        raise _fail("no manifests given: pass -f FILE or -f DIR")
    try:
        result = load_paths(files)
    except SpecError as exc:
        tail = "; nothing applied" if applying else ""
        errors.print(f"[red]invalid manifest ({len(exc.errors)} problem(s)){tail}:[/]")
        for err in exc.errors:
            errors.print(f"  {_escape(err.render())}")
        raise typer.Exit(1) from None
    if result.warnings:
        errors.print(
            "[yellow]warning:[/] Compose keys dockyard cannot honour were left out "
            "(`dockyard import compose --strict` makes this an error):"
        )
        for warning in result.warnings:
            errors.print(f"  {_escape(warning)}")
    return result


def _check_hosts(result: LoadResult) -> None:
    """Refuse unsafe or wrong DockerHosts (plain tcp://, missing TLS files) like bad fields."""
    from dockyard.fleet.hosts import check_hosts

    problems = check_hosts(result.hosts)
    if problems:
        errors.print(f"[red]invalid DockerHost ({len(problems)} problem(s)):[/]")
        for problem in problems:
            errors.print(f"  {_escape(problem.render())}")
        raise typer.Exit(1)


def _plan(engine: Engine, loaded: list[LoadedApp]) -> list[AppPlan]:
    try:
        return plan_apps(loaded, engine.snapshot())
    except EngineError as exc:
        raise _fail(str(exc)) from None


def _report_plan_errors(plans: list[AppPlan]) -> bool:
    bad = False
    for p in plans:
        for err in p.plan.errors:
            bad = True
            errors.print(f"[red]error:[/] app {p.loaded.name}: {_escape(err)}")
        for warn in p.plan.warnings:
            errors.print(f"[yellow]warning:[/] app {p.loaded.name}: {_escape(warn)}")
    return bad


@app.command()
def apply(
    files: FilesOpt = [],  # noqa: B006 - typer reads the default
    host: HostOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only failures and the summary.")
    ] = False,
) -> None:
    """Converge the engine to the manifests: create what is missing, replace what
    changed, remove what the apps no longer want. With DockerHost manifests among the
    files, replicas are placed on those hosts (see docs/hosts.md). Exits non-zero if
    anything failed."""
    result_all = _load_result(files)
    if result_all.hosts:
        _check_hosts(result_all)
        _apply_fleet(result_all, host, concurrency, quiet)
        return
    loaded = _load(files)
    engine = Engine(host)
    plans = _plan(engine, loaded)
    has_errors = _report_plan_errors(plans)
    runnable = [p for p in plans if not p.plan.errors]
    total = sum(len(p.plan.operations) for p in runnable)
    if total == 0:
        if not has_errors:
            console.print(f"{', '.join(p.loaded.name for p in plans)}: up to date, nothing to do")
        raise typer.Exit(1 if has_errors else 0)
    if not quiet:
        names = ", ".join(p.loaded.name for p in runnable)
        console.print(f"applying {names}: {total} operation(s)")
    with ConsoleReporter(console, quiet=quiet) as reporter:
        result = asyncio.run(apply_plans(engine, runnable, reporter, concurrency))
    summary(console, result)
    if not result.ok:
        for failure in result.failed:
            errors.print(f"[red]failed:[/] {failure.op.describe()}: {_escape(failure.error or '')}")
    if not result.ok or has_errors:
        raise typer.Exit(1)


def _fleet_plans(result: LoadResult, host: str | None) -> tuple[Any, list[Any]]:
    from dockyard.fleet.converge import connect_fleet, plan_fleet

    if not result.apps:
        raise _fail("no App manifests found")
    fleet = connect_fleet(result.hosts, Engine(host))
    for name, reason in sorted(fleet.unreachable.items()):
        errors.print(f"[yellow]warning:[/] host {name} is unreachable: {_escape(reason)}")
    plans = plan_fleet(result.apps, fleet)
    for fp in plans:
        for err in fp.errors:
            errors.print(f"[red]error:[/] app {fp.loaded.name}: {_escape(err)}")
        for dark, names in fp.unknown.items():
            errors.print(
                f"[yellow]warning:[/] app {fp.loaded.name}: replicas on dark host {dark} are "
                f"unknown: {', '.join(names)}"
            )
    return fleet, plans


def _apply_fleet(result: LoadResult, host: str | None, concurrency: int, quiet: bool) -> None:
    from dockyard.fleet.converge import apply_fleet

    fleet, plans = _fleet_plans(result, host)
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
            errors.print(f"[red]failed:[/] {failure.op.describe()}: {_escape(failure.error or '')}")
    if failed or bad:
        raise typer.Exit(1)


def _diff(files: list[Path], host: str | None, output: Format) -> None:
    result_all = _load_result(files)
    if result_all.hosts:
        _check_hosts(result_all)
        _, fplans = _fleet_plans(result_all, host)
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
                            console.print(f"  {_escape(line)}")
        if any(fp.errors for fp in fplans):
            raise typer.Exit(1)
        raise typer.Exit(2 if ops else 0)
    loaded = _load(files)
    engine = Engine(host)
    plans = _plan(engine, loaded)
    merged = merge([p.plan for p in plans])
    if output is Format.json:
        console.print_json(merged.to_json())
    else:
        _report_plan_errors(plans)
        for p in plans:
            if p.plan.operations:
                console.print(f"app {p.loaded.name}:")
                for line in p.plan.render().splitlines():
                    if not line.startswith(("warning:", "error:")):
                        console.print(f"  {_escape(line)}")
            else:
                console.print(f"app {p.loaded.name}: up to date")
    if merged.errors:
        raise typer.Exit(1)
    raise typer.Exit(2 if merged.operations else 0)


class Format(StrEnum):
    text = "text"
    json = "json"


OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="Output format.")]


@app.command()
def diff(files: FilesOpt = [], host: HostOpt = None, output: OutputOpt = Format.text) -> None:  # noqa: B006
    """Show the plan (each operation, what it waits for, and why); apply nothing.
    Exit code: 0 up to date, 2 changes pending, 1 error."""
    _diff(files, host, output)


@app.command("plan")
def plan_cmd(files: FilesOpt = [], host: HostOpt = None, output: OutputOpt = Format.text) -> None:  # noqa: B006
    """Alias of diff."""
    _diff(files, host, output)


@app.command()
def validate(files: FilesOpt = []) -> None:  # noqa: B006
    """Check manifests without touching any engine."""
    result = _load_result(files, applying=False)
    if not result.apps and not result.hosts:
        raise _fail(f"no App or DockerHost manifests found in {', '.join(map(str, files))}")
    _check_hosts(result)
    for item in result.apps:
        services = len(item.app.spec.services)
        console.print(f"{item.source}: App {item.name} is valid ({services} service(s))")
    for h in result.hosts:
        where = h.spec.url or f"agent {h.spec.agent.id if h.spec.agent else '?'}"
        console.print(f"DockerHost {h.metadata.name} is valid ({_escape(where)})")


@app.command()
def status(
    app_name: Annotated[str | None, typer.Argument(metavar="APP", help="One app only.")] = None,
    host: HostOpt = None,
    output: OutputOpt = Format.text,
    controller: Annotated[
        str | None,
        typer.Option(
            envvar="DOCKYARD_CONTROLLER",
            metavar="URL",
            help="A running `dockyard run` to ask (default http://127.0.0.1:9129); "
            "without one, the engine alone is shown.",
        ),
    ] = None,
) -> None:
    """Apps, their services and containers. From a running controller: synced revision,
    conditions (Ready, Progressing, Degraded), replicas desired/running/healthy, restarts
    and the last error; otherwise what the engine holds."""
    statuses = _controller_status(controller or "http://127.0.0.1:9129", explicit=bool(controller))
    if statuses is not None:
        _show_controller_status(statuses, app_name, output)
        return
    engine = Engine(host)
    try:
        observed = engine.snapshot()
    except EngineError as exc:
        raise _fail(str(exc)) from None
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
        raise _fail(f"no app named {app_name} on engine {engine.name}")
    if output is Format.json:
        console.print_json(json.dumps(report))
        return
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


@app.command()
def hosts(
    files: FilesOpt = [],  # noqa: B006 - typer reads the default
    host: HostOpt = None,
    output: OutputOpt = Format.text,
    timeout: Annotated[
        str,
        typer.Option(metavar="DURATION", help="How long to wait for each host."),
    ] = "5s",
) -> None:
    """The DockerHosts in the manifests (or, without -f, the local engine): reachable or
    not, engine version, running containers, last contact and labels. All hosts are
    asked at once; exits 1 if any cannot be reached."""
    from dockyard.fleet.hosts import ProbeTarget, probe_all, target_for_host

    wait = _duration(timeout)
    if files:
        result = _load_result(files, applying=False)
        if not result.hosts:
            raise _fail(f"no DockerHost manifests found in {', '.join(map(str, files))}")
        _check_hosts(result)
        targets = [target_for_host(h) for h in result.hosts]
    else:
        where = host or "unix:///var/run/docker.sock"
        targets = [
            ProbeTarget(
                "local", where, {}, lambda t: Engine(host, name="local", timeout=t, pool_size=2)
            )
        ]
    for target in targets:
        for warning in target.warnings:
            errors.print(f"[yellow]warning:[/] {_escape(warning)}")
    statuses = probe_all(targets, wait)
    if output is Format.json:
        console.print_json(json.dumps([s.to_json() for s in statuses]))
    else:
        table = Table(box=None, pad_edge=False)
        for col in ("NAME", "URL", "REACHABLE", "VERSION", "RUNNING", "LAST CONTACT", "LABELS"):
            table.add_column(col, no_wrap=True)
        for st in statuses:
            data = st.to_json()
            reachable = {True: "yes", False: "no", None: "unknown"}[st.reachable]
            table.add_row(
                st.name,
                _escape(st.url),
                reachable,
                st.version or "-",
                "-" if st.running is None else str(st.running),
                data["lastContact"] or "-",
                _escape(",".join(f"{k}={v}" for k, v in sorted(st.labels.items())) or "-"),
            )
        console.print(table)
        for st in statuses:
            if st.error:
                console.print(f"{st.name}: {_escape(st.error)}")
    if any(st.reachable is False for st in statuses):
        raise typer.Exit(1)


def _controller_status(url: str, explicit: bool) -> dict[str, Any] | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=2) as response:
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if explicit:
            errors.print(f"[yellow]warning:[/] no controller at {url} ({exc}); showing the engine")
        return None
    return dict(data)


def _show_controller_status(statuses: dict[str, Any], app_name: str | None, output: Format) -> None:
    if app_name is not None:
        if app_name not in statuses:
            raise _fail(f"the controller has no app named {app_name}")
        statuses = {app_name: statuses[app_name]}
    if output is Format.json:
        console.print_json(json.dumps(statuses))
        return
    if not statuses:
        console.print("the controller manages no apps")
    for name, st in statuses.items():
        conds = {c["type"]: c for c in st.get("conditions", [])}
        ready = conds.get("Ready", {}).get("status", "Unknown")
        console.print(
            f"app {name}  ready={ready}  revision={st.get('revision', '')[:12] or '-'}  "
            f"synced={st.get('observedGeneration', '')[:12] or '-'}  "
            f"restarts={st.get('restarts', 0)}  drift-repairs={st.get('driftRepairs', 0)}"
        )
        for ctype in ("Ready", "Progressing", "Degraded"):
            cond = conds.get(ctype)
            if cond:
                detail = f" {cond['reason']}" + (f": {cond['message']}" if cond["message"] else "")
                console.print(f"  {ctype}={cond['status']}{_escape(detail)}")
        table = Table(box=None, pad_edge=False)
        for col in ("SERVICE", "DESIRED", "RUNNING", "HEALTHY", "RESTARTS"):
            table.add_column(col, no_wrap=True)
        for svc in st.get("services", []):
            table.add_row(
                svc["name"],
                str(svc["desired"]),
                str(svc["running"]),
                str(svc["healthy"]),
                str(svc["restarts"]),
            )
        console.print(table)
        placement = st.get("placement") or {}
        if len(placement) > 1 or (placement and "local" not in placement):
            for host_name, names in sorted(placement.items()):
                console.print(f"  on {host_name}: {', '.join(names)}")
        if st.get("lastError"):
            console.print(f"  last error: {_escape(st['lastError'])}")


@app.command()
def delete(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The app to remove.")],
    volumes: Annotated[
        bool, typer.Option("--volumes", help="Also remove the app's named volumes (data!).")
    ] = False,
    host: HostOpt = None,
) -> None:
    """Remove the app's containers and networks. Named volumes stay unless --volumes."""
    engine = Engine(host)
    try:
        with ConsoleReporter(console) as reporter:
            plan, result = asyncio.run(delete_app(engine, app_name, volumes, reporter))
    except EngineError as exc:
        raise _fail(str(exc)) from None
    if plan.empty:
        console.print(f"nothing of app {app_name} on engine {engine.name}")
        return
    summary(console, result)
    if not volumes:
        kept = [v.name for v in engine.snapshot().volumes if v.app == app_name]
        if kept:
            console.print(f"kept volume(s) {', '.join(kept)} (use --volumes to remove them)")
    if not result.ok:
        raise typer.Exit(1)


def _duration(value: str) -> float:
    from dockyard.spec.units import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def run(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE",
            help="Folders or files of manifests, or git repositories "
            "(git+file://…, https://…, ssh://…; see docs/sources.md).",
        ),
    ],
    host: HostOpt = None,
    resync: Annotated[
        str, typer.Option(metavar="DURATION", help="Relist the engine and reconcile every app.")
    ] = "60s",
    prune: Annotated[
        bool,
        typer.Option(
            "--prune/--no-prune",
            help="Remove an app's containers when its manifest disappears from its source.",
        ),
    ] = True,
    interval: Annotated[
        str, typer.Option(metavar="DURATION", help="How often folders are checked for changes.")
    ] = "1s",
    git_interval: Annotated[
        str, typer.Option(metavar="DURATION", help="How often git repositories are fetched.")
    ] = "30s",
    listen: Annotated[
        str,
        typer.Option(
            metavar="HOST:PORT",
            help="Where /healthz, /readyz, /metrics and /status "
            "are served (loopback by default; port 0 picks one).",
        ),
    ] = "127.0.0.1:9129",
    state_dir: Annotated[
        Path,
        typer.Option(
            metavar="DIR", help="Where the controller keeps the apps it owns and git checkouts."
        ),
    ] = Path("/var/lib/dockyard/controller"),
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Apps reconciled at once.")] = 4,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    log_format: Annotated[LogFormat, typer.Option(help="Log format.")] = LogFormat.text,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning, error.")
    ] = "info",
) -> None:
    """Keep the engine converged to the sources, forever: reconcile on every change in a
    source or on the engine, and every --resync. Stops cleanly on SIGTERM or Ctrl-C
    (containers keep running)."""
    from dockyard.controller import logs
    from dockyard.controller.http import HealthServer
    from dockyard.controller.reconciler import Controller, Settings
    from dockyard.sources.parse import source_from_arg

    logs.setup(log_format.value, log_level)
    bind_host, _, bind_port = listen.rpartition(":")
    if not bind_host or not bind_port.isdigit():
        raise _fail(f"--listen {listen!r}: write HOST:PORT, e.g. 127.0.0.1:9129")
    try:
        parsed = [
            source_from_arg(
                arg,
                interval_dir=_duration(interval),
                interval_git=_duration(git_interval),
                cache_dir=state_dir / "git",
            )
            for arg in sources
        ]
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings = Settings(
        resync=_duration(resync),
        prune=prune,
        workers=workers,
        concurrency=concurrency,
        state_dir=state_dir,
    )

    async def main_loop() -> None:
        import signal

        controller = Controller(Engine(host), parsed, settings)
        server = HealthServer(controller, bind_host, int(bind_port))
        await server.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(controller.stop()))
        try:
            await controller.run()
        finally:
            await server.stop()

    asyncio.run(main_loop())


import_app = typer.Typer(help="Translate other formats into App manifests.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("compose")
def import_compose_cmd(
    files: Annotated[
        list[Path],
        typer.Option(
            "-f",
            "--file",
            help="Compose file (repeatable; later files override earlier ones). "
            "Default: compose.yaml or docker-compose.yml in the current folder.",
        ),
    ] = [],  # noqa: B006
    env_file: Annotated[
        list[Path],
        typer.Option("--env-file", help="Env file for interpolation (replaces .env)."),
    ] = [],  # noqa: B006
    profile: Annotated[
        list[str], typer.Option("--profile", help="Activate a Compose profile (repeatable).")
    ] = [],  # noqa: B006
    project_name: Annotated[
        str | None,
        typer.Option("--project-name", "-p", help="App name (default: name: or folder)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the manifest here (default: stdout)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail if any Compose key has no equivalent.")
    ] = False,
) -> None:
    """Write the App manifest equivalent to a Compose project, with comments where a
    Compose key had no exact equivalent."""
    from dockyard.spec.compose import import_compose

    if not files:
        candidates = [
            Path(n)
            for n in ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
        ]
        files = [next((c for c in candidates if c.is_file()), candidates[0])]
    try:
        result = import_compose(
            files,
            env_files=env_file or None,
            profiles=profile or None,
            project_name=project_name,
            strict=strict,
        )
    except SpecError as exc:
        errors.print("[red]cannot import:[/]")
        for err in exc.errors:
            errors.print(f"  {_escape(err.render())}")
        raise typer.Exit(1) from None
    text = result.to_yaml()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(f"wrote App {result.name} to {output}")
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/] not imported: {_escape(warning.render())}")


@app.command()
def version(host: HostOpt = None) -> None:
    """Print dockyard's version and the engine's."""
    console.print(f"dockyard {__version__}")
    try:
        console.print(f"engine {Engine(host).version()}")
    except EngineError as exc:
        console.print(f"engine unreachable: {exc}")


def main() -> None:
    try:
        app()
    except EngineError as exc:
        errors.print(f"[red]error:[/] {_escape(str(exc))}")
        sys.exit(1)


if __name__ == "__main__":
    main()
