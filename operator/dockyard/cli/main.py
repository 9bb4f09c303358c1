"""The `dockyard` command line: thin wrappers over spec, plan, apply and engine.

Every command imports what it needs inside its function (pydantic models, the Docker
SDK, asyncio, rich), so `dockyard --help` and `dockyard version` start at once.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .agent import BrokerCAOpt, BrokerCertOpt, BrokerKeyOpt, BrokerOpt, agent_cmd  # noqa: F401
from .applying import apply_files
from .common import (
    COMPLETE_VAR,
    DEFAULT_CONCURRENCY,
    ConcurrencyOpt,
    FilesOpt,
    Format,
    Group,
    HostOpt,
    OutputOpt,
    app,
    check_hosts_or_exit,
    console,
    emit,
    engine_for,
    errors,
    escape,
    fail,
    load_all,
    only_command,
)
from .containers import logs, ps
from .controller_view import (
    DEFAULT_STATE_DIR,
    StateDirOpt,
    TlsCertOpt,
    TlsClientCAOpt,
    TlsKeyOpt,
    controller_status,
    listen_options,
    show_broken_sources,
    show_controller_status,
)
from .deleting import delete_on
from .diffing import diff_files
from .engine_view import show_engine_status
from .kubernetes import crds, operator
from .policy import PolicyOpt
from .revisions import history, rollback

if TYPE_CHECKING:
    pass

__all__ = ["crds", "history", "logs", "main", "operator", "ps", "rollback"]

SUMMARY_OVER = 50  # hosts or agents: more, and `hosts`/`status` summarise (cli/fleet.py)


@app.command()
def apply(
    files: FilesOpt = [],  # noqa: B006 - typer reads the default
    host: HostOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only failures and the summary.")
    ] = False,
    output: OutputOpt = Format.text,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Then wait until every replica runs, and is healthy where it has a "
            "healthcheck (a one-shot service: exited 0); exit 1 if not within --timeout.",
        ),
    ] = False,
    timeout: Annotated[str, typer.Option(metavar="DURATION", help="How long --wait waits.")] = "5m",
    policy: PolicyOpt = None,
) -> None:
    """Converge the engine to the manifests: create what is missing, replace what
    changed, remove what the apps no longer want. With DockerHost manifests among the
    files, replicas are placed on those hosts (see docs/hosts.md). Each app it changes gets
    a revision, recorded on the engine (see `dockyard history`). Exits non-zero if
    anything failed. A run that finds nothing to do is remembered: the same command
    then answers at once while nothing it reads has changed (DOCKYARD_NO_MEMO=1: never;
    see docs/cli.md)."""
    wait_for = _duration(timeout) if wait else None
    apply_files(files, host, concurrency, quiet, output, wait_for, policy is not None)


@app.command()
def diff(
    files: FilesOpt = [],  # noqa: B006
    host: HostOpt = None,
    output: OutputOpt = Format.text,
    policy: PolicyOpt = None,
) -> None:
    """Show the plan (each operation, what it waits for, and why); apply nothing.
    Exit code: 0 up to date, 2 changes pending, 1 error. Up to date is remembered, as by
    apply."""
    diff_files(files, host, output, "diff", policy is not None)


@app.command("plan")
def plan_cmd(
    files: FilesOpt = [],  # noqa: B006
    host: HostOpt = None,
    output: OutputOpt = Format.text,
    policy: PolicyOpt = None,
) -> None:
    """Alias of diff."""
    diff_files(files, host, output, "plan", policy is not None)


@app.command()
def validate(
    files: FilesOpt = [],  # noqa: B006
    output: OutputOpt = Format.text,
    policy: PolicyOpt = None,
) -> None:
    """Check manifests without touching any engine. Problems go to standard error, each
    with FILE:LINE and the field; exit code 1 if there is any."""
    result = load_all(files, applying=False)
    if not result.apps and not result.hosts:
        raise fail(f"no App or DockerHost manifests found in {', '.join(map(str, files))}")
    check_hosts_or_exit(result)
    if output is not Format.text:
        apps = [
            {"name": a.name, "source": a.source, "services": [s.name for s in a.app.spec.services]}
            for a in result.apps
        ]
        hosts = [
            {
                "name": h.metadata.name,
                "url": h.spec.url,
                "agent": h.spec.agent.id if h.spec.agent else None,
            }
            for h in result.hosts
        ]
        emit({"valid": True, "apps": apps, "hosts": hosts}, output)
        return
    for item in result.apps:
        services = len(item.app.spec.services)
        console.print(f"{item.source}: App {item.name} is valid ({services} service(s))")
    for h in result.hosts:
        where = h.spec.url or f"agent {h.spec.agent.id if h.spec.agent else '?'}"
        console.print(f"DockerHost {h.metadata.name} is valid ({escape(where)})")


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
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="One line per agent even in a large fleet (over 50 agents, the default is "
            "counts by state and the agents that need attention).",
        ),
    ] = False,
) -> None:
    """Apps, their services and containers. From a running controller: synced revision,
    conditions (Ready, Progressing, Degraded), replicas desired/running/healthy, restarts
    and the last error; otherwise what the engine holds."""

    statuses = controller_status(controller or "http://127.0.0.1:9129", bool(controller), state_dir)
    if statuses is not None:
        show_controller_status(statuses, app_name, output)
        if output is Format.text and app_name is None:
            show_broken_sources(controller or "http://127.0.0.1:9129", state_dir)
        if output is Format.text:
            from .agent import agents_from_controller, show_agents

            url = controller or "http://127.0.0.1:9129"
            view = agents_from_controller(url, state_dir) or {}
            if every or len(view) <= SUMMARY_OVER:
                show_agents(view, app_name)
            else:
                from .fleet import show_agents_summary

                show_agents_summary(view)
        return
    show_engine_status(engine_for(host), app_name, output)


@app.command()
def hosts(
    files: FilesOpt = [],  # noqa: B006 - typer reads the default
    host: HostOpt = None,
    output: OutputOpt = Format.text,
    timeout: Annotated[
        str,
        typer.Option(metavar="DURATION", help="How long to wait for each host."),
    ] = "5s",
    broker: BrokerOpt = None,
    broker_ca_file: BrokerCAOpt = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="One line per host even in a large fleet (over 50 hosts, the default is "
            "counts by state and the hosts that need attention).",
        ),
    ] = False,
) -> None:
    """The DockerHosts in the manifests (or, without -f, the local engine): reachable or
    not, engine version, running containers, last contact and labels. All hosts are
    asked at once; exits 1 if any cannot be reached. Edge agents (spec.agent) show what
    they reported: online or offline, the revision they run, converged or not, read from
    --broker or else from a running `dockyard run --broker`."""

    from dockyard.fleet.hosts import ProbeTarget, probe_all, target_for_host

    wait = _duration(timeout)
    if files:
        result = load_all(files, applying=False)
        if not result.hosts:
            raise fail(f"no DockerHost manifests found in {', '.join(map(str, files))}")
        check_hosts_or_exit(result)
        targets = [target_for_host(h) for h in result.hosts]
    else:
        from .docker_env import LOCAL_SOCKET

        local = engine_for(host, name="local", pool_size=2)
        where = local.url or LOCAL_SOCKET
        targets = [
            ProbeTarget("local", where, {}, lambda t: engine_for(host, timeout=t, pool_size=2))
        ]
    for target in targets:
        for warning in target.warnings:
            errors.print(f"[yellow]warning:[/] {escape(warning)}")
    statuses = probe_all(targets, wait)
    agents: dict[str, Any] = {}
    if files and any(h.spec.agent is not None for h in result.hosts):
        from .agent import agents_from_broker, agents_from_controller, broker_from_options

        if broker:
            config = broker_from_options(broker, broker_ca_file, None, None)
            agents = agents_from_broker(config, result.hosts, min(wait, 2.0))
        else:
            url = os.environ.get("DOCKYARD_CONTROLLER", "http://127.0.0.1:9129")
            state = Path(os.environ.get("DOCKYARD_STATE_DIR") or DEFAULT_STATE_DIR)
            agents = agents_from_controller(url, state) or {}
    if output is not Format.text:
        emit([{**s.to_json(), "agent": agents.get(s.name)} for s in statuses], output)
    elif not every and len(statuses) > SUMMARY_OVER:
        from .fleet import show_hosts_summary

        show_hosts_summary(statuses, agents)
    else:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for col in ("NAME", "URL", "REACHABLE", "VERSION", "RUNNING", "LAST CONTACT", "LABELS"):
            table.add_column(col, no_wrap=True)
        for st in statuses:
            data = st.to_json()
            reachable = {True: "yes", False: "no", None: "unknown"}[st.reachable]
            table.add_row(
                st.name,
                escape(st.url),
                reachable,
                st.version or "-",
                "-" if st.running is None else str(st.running),
                data["lastContact"] or "-",
                escape(",".join(f"{k}={v}" for k, v in sorted(st.labels.items())) or "-"),
            )
        console.print(table)
        for st in statuses:
            if st.error and st.name not in agents:
                console.print(f"{st.name}: {escape(st.error)}")
        from .agent import show_agents

        show_agents(agents)
    if any(st.reachable is False for st in statuses):
        raise typer.Exit(1)
    if any(a["online"] is False for a in agents.values()):
        raise typer.Exit(1)


@app.command()
def delete(
    app_name: Annotated[
        str | None, typer.Argument(metavar="APP", help="The app to remove (or give -f).")
    ] = None,
    files: Annotated[
        list[Path],
        typer.Option(
            "-f",
            "--filename",
            metavar="PATH",
            help="Remove the apps these manifests name, on every host that holds them "
            "(the DockerHosts among the files, and the local engine).",
        ),
    ] = [],  # noqa: B006 - typer reads the default
    volumes: Annotated[
        bool, typer.Option("--volumes", help="Also remove the app's named volumes (data!).")
    ] = False,
    host: HostOpt = None,
    output: OutputOpt = Format.text,
) -> None:
    """Remove the app's containers and networks. Named volumes stay unless --volumes."""
    if bool(app_name) == bool(files):
        raise fail("name one app (dockyard delete APP) or give manifests (-f FILE|DIR)", 2)
    engines: dict[str, Any] = {}
    names = [app_name] if app_name else []
    projects: dict[str, str] = {}
    bad = False
    if files:
        result = load_all(files, applying=False)
        projects = {a.name: a.app.project for a in result.apps}
        names = list(projects)
        if not names:
            raise fail(f"no App manifests found in {', '.join(map(str, files))}")
        if result.hosts:
            from dockyard.fleet.converge import connect_fleet

            check_hosts_or_exit(result)
            fleet = connect_fleet(result.hosts, engine_for(host))
            for name, reason in sorted(fleet.unreachable.items()):
                errors.print(f"[red]error:[/] host {name} is unreachable: {escape(reason)}")
                bad = True
            engines = {n: fleet.engines[n] for n in sorted(fleet.observed)}
    if not engines:
        engines = {"local": engine_for(host)}
    deleted = []
    for name in names:
        for host_name, engine in engines.items():
            many = len(engines) > 1 and host_name
            done = delete_on(engine, name, volumes, output, many, projects.get(name))
            if done is not None:
                deleted.append({"app": name, "host": host_name, **done})
                bad = bad or not done["ok"]
    if output is not Format.text:
        emit({"ok": not bad, "deleted": deleted}, output)
    if bad:
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
            envvar="DOCKYARD_STATE_DIR",
            metavar="DIR",
            help="Where the controller keeps the apps it owns, revision history, git checkouts "
            "and control.token (mode 0600), the credential of its control port.",
        ),
    ] = Path("/var/lib/dockyard/controller"),
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Apps reconciled at once.")] = 4,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    log_format: Annotated[LogFormat, typer.Option(help="Log format.")] = LogFormat.text,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning, error.")
    ] = "info",
    poll_images: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Ask the registries this often whether the tag of a pullPolicy Always "
            "image moved (without pulling); pull it and roll it out when it did "
            "(see docs/images.md). Off by default.",
        ),
    ] = None,
    broker: BrokerOpt = None,
    broker_ca_file: BrokerCAOpt = None,
    broker_cert_file: BrokerCertOpt = None,
    broker_key_file: BrokerKeyOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_client_ca: TlsClientCAOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Keep the engine converged to the sources, forever: reconcile on every change in a
    source or on the engine, and every --resync. Stops cleanly on SIGTERM or Ctrl-C
    (containers keep running)."""
    import asyncio

    from dockyard.controller import logs
    from dockyard.controller.http import HealthServer
    from dockyard.controller.reconciler import Controller, Settings
    from dockyard.sources.parse import source_from_arg

    logs.setup(log_format.value, log_level)
    bind_host, bind_port, tls = listen_options(listen, tls_cert, tls_key, tls_client_ca)
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
        raise fail(str(exc)) from None
    settings = Settings(
        resync=_duration(resync),
        prune=prune,
        workers=workers,
        concurrency=concurrency,
        state_dir=state_dir,
        poll_images=_duration(poll_images) if poll_images else None,
    )

    publisher = None
    if broker:  # DockerHosts with spec.agent get their desired state over MQTT
        from .agent import broker_from_options, publishing

        config = broker_from_options(broker, broker_ca_file, broker_cert_file, broker_key_file)
        parsed, publisher = publishing(parsed, config, state_dir)

    async def main_loop() -> None:
        import signal

        controller = Controller(engine_for(host), parsed, settings)
        server = HealthServer(controller, bind_host, bind_port, state_dir, tls)
        await server.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(controller.stop()))
        publishing_task = None
        if publisher is not None:
            server.routes["/agents"] = publisher.view
            publishing_task = loop.create_task(publisher.run())
        try:
            await controller.run()
        finally:
            if publishing_task is not None:
                publishing_task.cancel()
            await server.stop()

    asyncio.run(main_loop())


import_app = typer.Typer(
    help="Translate other formats into App manifests.", no_args_is_help=True, cls=Group
)
app.add_typer(import_app, name="import")


@import_app.command("compose")
def import_compose_cmd(
    files: Annotated[
        list[Path],
        typer.Option(
            "-f",
            "--file",
            metavar="FILE",
            help="Compose file (repeatable; later files override earlier ones). "
            "Default: compose.yaml or docker-compose.yml in the current folder.",
        ),
    ] = [],  # noqa: B006
    env_file: Annotated[
        list[Path],
        typer.Option(
            "--env-file", metavar="FILE", help="Env file for interpolation (replaces .env)."
        ),
    ] = [],  # noqa: B006
    profile: Annotated[
        list[str],
        typer.Option("--profile", metavar="NAME", help="Activate a Compose profile (repeatable)."),
    ] = [],  # noqa: B006
    project_name: Annotated[
        str | None,
        typer.Option(
            "--project-name", "-p", metavar="NAME", help="Project (default: name: or folder)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the manifest here (default: stdout)."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail if any Compose key has no equivalent.")
    ] = False,
) -> None:
    """Write the App manifest equivalent to a Compose project, with comments where a
    Compose key had no exact equivalent."""
    from dockyard.spec.compose import import_compose
    from dockyard.spec.errors import SpecError

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
            errors.print(f"  {escape(err.render())}")
        raise typer.Exit(1) from None
    text = result.to_yaml()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(f"wrote App {result.name} to {output}")
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/] not imported: {escape(warning.render())}")


@app.command()
def version(host: HostOpt = None) -> None:
    """Print dockyard's version and the engine's."""
    from .startup import show_version

    show_version(host)


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


@app.command()
def completion(
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell.")],
) -> None:
    """Print the shell completion script: `source <(dockyard completion bash)`, or add
    that line to ~/.bashrc (see docs/cli.md for zsh and fish)."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="dockyard", complete_var=COMPLETE_VAR, shell=shell)
    sys.stdout.write(script + "\n")


def main() -> None:
    from dockyard.engine.errors import EngineError

    if os.environ.get(COMPLETE_VAR):
        from typer._completion_classes import completion_init

        completion_init()  # what typer's own --install-completion would have set up

    try:
        only_command(sys.argv[1:])()
    except EngineError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(1)


if __name__ == "__main__":
    main()
