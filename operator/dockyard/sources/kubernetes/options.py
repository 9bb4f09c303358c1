"""How `dockyard operator` (or `kopf run -m dockyard.sources.kubernetes.entry`) runs."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.spec.units import parse_duration

ENV_PREFIX = "DOCKYARD_"
# Where Kubernetes mounts the pod's service account: its namespace is the pod's.
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass
class OperatorOptions:
    engine_url: str | None = None  # the default engine (host `local`); None: DOCKER_HOST or socket
    namespaces: list[str] = field(default_factory=list)  # empty: every namespace
    listen: str = "127.0.0.1:9129"  # /healthz /readyz /metrics /status
    state_dir: Path = Path("/var/lib/dockyard/operator")
    kubeconfig: str | None = None  # None: KUBECONFIG, ~/.kube/config, or in-cluster
    resync: float = 60.0
    workers: int = 4
    host_probe_interval: float = 30.0
    # Leader election on a coordination.k8s.io Lease: one active replica.
    leader_election: bool = True
    lease_name: str = "dockyard-operator"
    lease_namespace: str | None = None  # None: the operator's own (see lease_home)
    lease_duration: float = 15.0
    lease_renew: float = 5.0
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    log_format: str = "text"
    log_level: str = "info"
    # Mutual TLS of the control port (all three or none); needed beyond loopback for
    # /status and /rollback (docs/security.md).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> OperatorOptions:
        """Options from DOCKYARD_* variables (for `kopf run`, which takes no options of ours)."""
        env = dict(os.environ if environ is None else environ)
        opts = cls()

        def get(name: str) -> str | None:
            return env.get(ENV_PREFIX + name)

        if (v := get("ENGINE")) is not None:
            opts.engine_url = v
        if (v := get("NAMESPACES")) is not None:
            opts.namespaces = [n.strip() for n in v.split(",") if n.strip()]
        if (v := get("LISTEN")) is not None:
            opts.listen = v
        if (v := get("STATE_DIR")) is not None:
            opts.state_dir = Path(v)
        if (v := get("RESYNC")) is not None:
            opts.resync = parse_duration(v)
        if (v := get("HOST_PROBE_INTERVAL")) is not None:
            opts.host_probe_interval = parse_duration(v)
        if (v := get("LEADER_ELECTION")) is not None:
            opts.leader_election = v.lower() not in ("0", "false", "no", "off")
        if (v := get("LEASE_NAME")) is not None:
            opts.lease_name = v
        if v := get("LEASE_NAMESPACE"):
            opts.lease_namespace = v
        if (v := get("LEASE_DURATION")) is not None:
            opts.lease_duration = parse_duration(v)
        if (v := get("LEASE_RENEW")) is not None:
            opts.lease_renew = parse_duration(v)
        if (v := get("IDENTITY") or env.get("POD_NAME")) is not None:
            opts.identity = v
        if (v := get("TLS_CERT")) is not None:
            opts.tls_cert = Path(v)
        if (v := get("TLS_KEY")) is not None:
            opts.tls_key = Path(v)
        if (v := get("TLS_CLIENT_CA")) is not None:
            opts.tls_client_ca = Path(v)
        return opts

    def lease_home(
        self,
        environ: dict[str, str] | None = None,
        service_account: Path = SERVICE_ACCOUNT_NAMESPACE,
    ) -> tuple[str, str]:
        """The Lease's namespace and where it came from: the operator's own namespace, so
        that it works on any cluster with the CRDs, with or without manifests/ applied."""
        env = os.environ if environ is None else environ
        if self.lease_namespace:
            return self.lease_namespace, "--lease-namespace"
        if pod := env.get("POD_NAMESPACE", "").strip():
            return pod, "POD_NAMESPACE"
        try:
            own = service_account.read_text(encoding="utf-8").strip()
        except OSError:
            own = ""
        if own:
            return own, "the service account's namespace"
        if self.namespaces:
            return self.namespaces[0], "--namespace"
        return "default", "nothing else given"
