"""`dockyard agent`, and the broker side of `dockyard run`, `hosts` and `status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import HostOpt, app, console, engine_for, escape, fail, require_extra
from .controller_view import TlsCertOpt, TlsClientCAOpt, TlsKeyOpt, listen_options
from .policy import PolicyOpt

if TYPE_CHECKING:
    from dockyard.controller.source import Source
    from dockyard.sources.mqtt.broker import BrokerConfig
    from dockyard.sources.mqtt.publisher import AgentPublisher
    from dockyard.spec.models import DockerHost

BrokerOpt = Annotated[
    str | None,
    typer.Option(
        envvar="DOCKYARD_BROKER",
        metavar="URL",
        help="MQTT broker for edge agents: mqtts://[USER@]HOST[:8883] (mqtt:// without TLS). "
        "The password comes from $DOCKYARD_MQTT_PASSWORD (see docs/edge.md).",
    ),
]
BrokerCAOpt = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="CA certificate that signed the broker's certificate."),
]
BrokerCertOpt = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Client certificate, to log in with a certificate."),
]
BrokerKeyOpt = Annotated[
    Path | None, typer.Option(metavar="FILE", help="Key of the client certificate.")
]


def broker_from_options(
    url: str,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    username: str | None = None,
    password_file: Path | None = None,
    prefix: str = "dockyard",
) -> BrokerConfig:
    require_extra("edge", "--broker (MQTT edge agents)")
    from dockyard.sources.mqtt.broker import BrokerError, broker_config

    try:
        return broker_config(
            url,
            username=username,
            password_file=password_file,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            prefix=prefix,
        )
    except BrokerError as exc:
        raise fail(str(exc)) from None


def _labels(values: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        for item in filter(None, value.split(",")):
            key, sep, val = item.partition("=")
            if not sep or not key:
                raise typer.BadParameter(f"{item!r}: write KEY=VALUE (e.g. site=berlin)")
            labels[key.strip()] = val.strip()
    return labels


@app.command("agent")
def agent_cmd(
    broker: Annotated[
        str,
        typer.Option(
            envvar="DOCKYARD_BROKER",
            metavar="URL",
            help="The broker: mqtts://HOST[:8883] (TLS) or mqtt://HOST[:1883].",
        ),
    ],
    agent_id: Annotated[
        str,
        typer.Option(
            "--id",
            envvar="DOCKYARD_AGENT_ID",
            metavar="ID",
            help="This device's agent id, as in its DockerHost's spec.agent.id.",
        ),
    ],
    labels: Annotated[
        list[str],
        typer.Option(metavar="K=V[,K=V…]", help="Labels reported with the status."),
    ] = [],  # noqa: B006 - typer reads the default
    state_dir: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            help="Where the desired state is kept (with its secrets, mode 0600), to work "
            "offline and converge after a restart without broker.",
        ),
    ] = Path("/var/lib/dockyard/agent"),
    username: Annotated[
        str | None,
        typer.Option(metavar="USER", help="Broker username (default: the agent id)."),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="File holding the broker password (or $DOCKYARD_MQTT_PASSWORD)."
        ),
    ] = None,
    ca_file: BrokerCAOpt = None,
    cert_file: BrokerCertOpt = None,
    key_file: BrokerKeyOpt = None,
    topic_prefix: Annotated[
        str, typer.Option(metavar="PREFIX", help="First levels of every topic.")
    ] = "dockyard",
    heartbeat: Annotated[
        str, typer.Option(metavar="DURATION", help="Status is republished this often.")
    ] = "30s",
    lock_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Update locks: an app holds DIR/APP/updates.lock to make updates wait "
            "(default STATE_DIR/locks).",
        ),
    ] = None,
    lock_ttl: Annotated[
        str,
        typer.Option(
            metavar="DURATION", help="A lock older than this is reported stale (never broken)."
        ),
    ] = "1h",
    maintenance_window: Annotated[
        list[str],
        typer.Option(
            metavar="[DAYS ]HH:MM-HH:MM",
            help="Updates wait for one of these windows (device local time), "
            "e.g. 'Mon-Fri 02:00-04:00'. Repairs never wait.",
        ),
    ] = [],  # noqa: B006
    host: HostOpt = None,
    resync: Annotated[
        str, typer.Option(metavar="DURATION", help="Relist the engine and reconcile every app.")
    ] = "60s",
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning, error.")
    ] = "info",
    listen: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Serve /healthz, /readyz, /metrics and /status here, as `dockyard run` "
            "does (the token in STATE_DIR/control.token; off by default).",
        ),
    ] = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_client_ca: TlsClientCAOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Run on an edge device: follow this agent's desired state over MQTT and keep the
    local engine converged to it, with the same reconciler as `dockyard run`, also while
    the broker is unreachable. Status goes back on the agent's status topic."""
    require_extra("edge", "dockyard agent")
    # First, before anything imports the Docker SDK: an agent drives only its own engine,
    # so unless that is ssh:// the SDK's ssh support (paramiko: ~17 MB) is never loaded.
    engine = engine_for(host, alone=True)
    import asyncio

    from dockyard.controller import logs
    from dockyard.controller.reconciler import Settings
    from dockyard.sources.mqtt.agent import Agent, AgentOptions
    from dockyard.sources.mqtt.gates import parse_window
    from dockyard.sources.mqtt.topics import check_agent_id
    from dockyard.spec.units import parse_duration

    logs.setup("text", log_level)
    try:
        check_agent_id(agent_id)
        windows = tuple(parse_window(w) for w in maintenance_window)
        durations = [parse_duration(v) for v in (heartbeat, lock_ttl, resync)]
    except ValueError as exc:
        raise fail(str(exc)) from None
    served = listen_options(listen, tls_cert, tls_key, tls_client_ca) if listen else None
    config = broker_from_options(
        broker, ca_file, cert_file, key_file, username or agent_id, password_file, topic_prefix
    )
    options = AgentOptions(
        agent_id,
        config,
        state_dir,
        labels=_labels(labels),
        heartbeat=durations[0],
        lock_dir=lock_dir,
        lock_ttl=durations[1],
        windows=windows,
    )

    async def main_loop() -> None:
        import signal

        agent = Agent(options, engine, Settings(resync=durations[2]))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(agent.stop()))
        server = None
        if served is not None:
            from dockyard.controller.http import HealthServer

            bind_host, bind_port, tls = served
            # The agent made a real Controller on the device's engine: serve its port.
            controller: Any = agent.controller
            server = HealthServer(controller, bind_host, bind_port, state_dir, tls)
            await server.start()
        try:
            await agent.run()
        finally:
            if server is not None:
                await server.stop()

    try:
        asyncio.run(main_loop())
    except PermissionError as exc:
        raise fail(f"{exc}; choose a writable --state-dir") from None


# ---- the publisher in `dockyard run` -------------------------------------------------------


def publishing(
    sources: list[Source], config: BrokerConfig, state_dir: Path
) -> tuple[list[Source], AgentPublisher]:
    from dockyard.sources.mqtt.publisher import AgentPublisher

    publisher = AgentPublisher(config, state_dir)
    return [publisher.wrap(s) for s in sources], publisher


# ---- what agents report --------------------------------------------------------------------


def agents_from_controller(url: str, state_dir: Path) -> dict[str, Any] | None:
    import urllib.error

    from .controller_view import Unauthorized, controller_request

    try:
        code, data = controller_request(f"{url.rstrip('/')}/agents", state_dir, timeout=2)
    except (Unauthorized, urllib.error.URLError, OSError, ValueError):
        return None
    return data if code == 200 else None


def agents_from_broker(
    config: BrokerConfig, hosts: list[DockerHost], wait: float = 2.0
) -> dict[str, Any]:
    """Read the agents' retained status and online flags straight from the broker."""
    import asyncio

    from dockyard.sources.mqtt import topics
    from dockyard.sources.mqtt.broker import MqttError
    from dockyard.sources.mqtt.publisher import agents_view

    agent_hosts = {h.metadata.name: h for h in hosts if h.spec.agent is not None}
    reports: dict[str, dict[str, Any]] = {}
    online: dict[str, str] = {}

    async def read() -> None:
        import os

        async with config.client(f"dockyard-cli-{os.getpid()}") as client:
            await client.subscribe(topics.all_of("status", config.prefix), qos=1)
            await client.subscribe(topics.all_of("online", config.prefix), qos=1)
            try:
                async with asyncio.timeout(wait):
                    async for message in client.messages:
                        parsed = topics.parse(str(message.topic), config.prefix)
                        raw = message.payload
                        if parsed is None or not isinstance(raw, bytes):
                            continue
                        agent, kind = parsed
                        if kind == "online":
                            online[agent] = raw.decode("utf-8", "replace")
                        elif kind == "status":
                            try:
                                reports[agent] = json.loads(raw)
                            except ValueError:
                                continue
            except TimeoutError:
                pass

    try:
        asyncio.run(read())
    except MqttError as exc:
        raise fail(f"broker {config.display}: {exc}") from None
    return agents_view(agent_hosts, reports, online)


def show_agents(view: dict[str, Any], app_name: str | None = None) -> None:
    if not view:
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, title="agents", title_justify="left")
    for col in ("HOST", "AGENT", "ONLINE", "REVISION", "CONVERGED", "LAST REPORT", "APPS"):
        table.add_column(col, no_wrap=True)
    for name, a in view.items():
        online = {True: "online", False: "offline", None: "unknown"}[a["online"]]
        apps = ", ".join(
            f"{n}@{s['revision']}" + ("" if s.get("converged") else "*")
            for n, s in sorted(a["apps"].items())
            if app_name is None or n == app_name
        )
        revision = "-" if a["revision"] is None else str(a["revision"])
        if a.get("published") and a["published"] != a["revision"]:
            revision += f" (published {a['published']})"
        table.add_row(
            name,
            a["agent"],
            online,
            revision,
            {True: "yes", False: "no", None: "-"}[a["converged"]],
            a["lastReport"] or "-",
            escape(apps or "-"),
        )
    console.print(table)
    for name, a in view.items():
        for app_, reason in sorted(a["pending"].items()):
            console.print(f"  {name}: update of {app_} waits: {escape(reason)}")
        for app_, lock in sorted(a["locks"].items()):
            stale = " [yellow](stale)[/]" if lock.get("stale") else ""
            console.print(
                f"  {name}: {app_} update lock held by {escape(lock['holder'])} "
                f"since {lock['since']}{stale}"
            )
        if a.get("rejected"):
            rej = a["rejected"]
            console.print(
                f"  {name}: [red]rejected revision {rej.get('revision')}:[/] "
                f"{escape(str(rej.get('error')))}"
            )
