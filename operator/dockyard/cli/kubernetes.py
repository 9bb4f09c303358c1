"""`dockyard operator` (Kubernetes as the API) and `dockyard crds` (its CRDs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import HostOpt, app, console, fail, require_extra
from .controller_view import TlsCertOpt, TlsClientCAOpt, TlsKeyOpt, listen_options
from .policy import PolicyOpt


@app.command()
def crds(
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            metavar="DIR",
            help="Write one file per CRD into DIR (as in crds/) instead of printing them.",
        ),
    ] = None,
) -> None:
    """Print the CustomResourceDefinitions of App and DockerHost, generated from the
    models: `dockyard crds | kubectl apply -f -`."""
    from dockyard.spec.crd import CRD_FILES, render, render_all

    if output_dir is None:
        console.print(render_all(), end="", markup=False, highlight=False, soft_wrap=True)
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    for filename, make in CRD_FILES.items():
        (output_dir / filename).write_text(render(make()), encoding="utf-8")
        console.print(f"wrote {output_dir / filename}", markup=False, highlight=False)


@app.command()
def operator(
    host: HostOpt = None,
    namespace: Annotated[
        list[str],
        typer.Option(
            "--namespace",
            "-n",
            metavar="NS",
            help="Watch only this namespace (repeatable; default: every namespace).",
        ),
    ] = [],  # noqa: B006
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            envvar="KUBECONFIG",
            metavar="PATH",
            help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config, else in-cluster).",
        ),
    ] = None,
    listen: Annotated[
        str,
        typer.Option(
            metavar="HOST:PORT",
            help="Where /healthz, /readyz, /metrics and /status are served.",
        ),
    ] = "127.0.0.1:9129",
    state_dir: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Where the operator keeps its controller state."),
    ] = Path("/var/lib/dockyard/operator"),
    resync: Annotated[
        str, typer.Option(metavar="DURATION", help="Relist the engines and reconcile every app.")
    ] = "60s",
    host_probe_interval: Annotated[
        str,
        typer.Option(metavar="DURATION", help="How often DockerHosts are probed for status."),
    ] = "30s",
    leader_election: Annotated[
        bool,
        typer.Option(
            "--leader-election/--no-leader-election",
            help="Be active only while holding the Lease (run two replicas for HA); "
            "--no-leader-election for a single replica, which needs no Lease.",
        ),
    ] = True,
    lease_name: Annotated[str, typer.Option(metavar="NAME", help="The Lease's name.")] = (
        "dockyard-operator"
    ),
    lease_namespace: Annotated[
        str | None,
        typer.Option(
            metavar="NS",
            help="The Lease's namespace (default: the operator's own: POD_NAMESPACE, else "
            "the service account's namespace, else the first --namespace, else default).",
        ),
    ] = None,
    lease_duration: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="A standby takes over when the leader has not renewed for this long.",
        ),
    ] = "15s",
    lease_renew: Annotated[
        str, typer.Option(metavar="DURATION", help="How often the leader renews the Lease.")
    ] = "5s",
    identity: Annotated[
        str | None,
        typer.Option(envvar="POD_NAME", metavar="ID", help="This replica's name in the Lease."),
    ] = None,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning, error.")
    ] = "info",
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_client_ca: TlsClientCAOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Run the Kubernetes operator: reconcile App and DockerHost resources on the Docker
    hosts and write their .status. Needs the CRDs (`dockyard crds`). Exits 1 when it loses
    the leader Lease (to be restarted as a standby)."""
    require_extra("kubernetes", "dockyard operator")
    import asyncio

    from dockyard.controller import logs
    from dockyard.sources.kubernetes.operator import run_operator
    from dockyard.sources.kubernetes.options import OperatorOptions
    from dockyard.spec.units import parse_duration

    logs.setup("text", log_level)
    try:
        options = OperatorOptions(
            engine_url=host,
            namespaces=list(namespace),
            listen=listen,
            state_dir=state_dir,
            kubeconfig=kubeconfig,
            resync=parse_duration(resync),
            host_probe_interval=parse_duration(host_probe_interval),
            leader_election=leader_election,
            lease_name=lease_name,
            lease_namespace=lease_namespace,
            lease_duration=parse_duration(lease_duration),
            lease_renew=parse_duration(lease_renew),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    if identity:
        options.identity = identity
    if options.lease_renew >= options.lease_duration:
        raise fail("--lease-renew must be shorter than --lease-duration")
    listen_options(listen, tls_cert, tls_key, tls_client_ca)
    options.tls_cert, options.tls_key, options.tls_client_ca = tls_cert, tls_key, tls_client_ca
    code = asyncio.run(run_operator(options))
    raise typer.Exit(code)
