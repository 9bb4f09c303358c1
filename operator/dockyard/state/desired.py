"""What dockyard asks an engine to hold: containers, networks, volumes, builds.

Plain frozen values computed by the planner from a spec; the engine turns them
into Docker API calls. The config hash covers only what the user declared.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import MISSING, dataclass, fields
from typing import Any

from dockyard.spec import naming


@dataclass(frozen=True)
class MountSpec:
    kind: str  # volume | bind | tmpfs | anonymous | secret
    target: str
    source: str | None = None  # engine volume name, host path or secret name
    read_only: bool = False
    tmpfs_size: int | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    # A bind of a file or folder from the manifest's side: the path as written, relative
    # to the manifest's folder. It stands in the config hash for `source` (this machine's
    # absolute path), so every machine plans the same; engines elsewhere get a copy.
    manifest_path: str | None = None
    bind_options: tuple[str, ...] = ()  # e.g. ("z", "rslave"); left out of the hash when none
    nocopy: bool = False


@dataclass(frozen=True)
class PortSpec:
    target: int
    protocol: str
    published: int | None
    host_ip: str | None


@dataclass(frozen=True)
class NetworkRef:
    name: str  # engine network name
    aliases: tuple[str, ...]
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: str | None = None


@dataclass(frozen=True)
class HealthSpec:
    test: tuple[str, ...]  # Docker form: ("CMD", …), ("CMD-SHELL", "…") or ("NONE",)
    interval: float | None
    timeout: float | None
    retries: int | None
    start_period: float | None


@dataclass(frozen=True)
class DeviceRequestSpec:
    driver: str
    count: int  # -1: all; 0 with device_ids
    device_ids: tuple[str, ...]
    capabilities: tuple[str, ...]
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ContainerConfig:
    """Everything the engine needs to create one container of a service."""

    image: str
    command: tuple[str, ...] | None
    entrypoint: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]
    working_dir: str | None
    user: str | None
    hostname: str | None
    labels: tuple[tuple[str, str], ...]
    ports: tuple[PortSpec, ...]
    mounts: tuple[MountSpec, ...]
    networks: tuple[NetworkRef, ...]
    network_mode: str | None
    healthcheck: HealthSpec | None
    restart: str
    cpus: float | None
    memory: int | None
    memory_reservation: int | None
    pids: int | None
    stop_grace_period: float | None
    stop_signal: str | None
    init: bool | None
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    devices: tuple[tuple[str, str, str], ...]
    read_only: bool
    privileged: bool
    # Keyed content hashes of inputs whose change recreates the container (onChange
    # recreate): ("secret:NAME" | "file:PATH", hash). Not sent to the engine.
    inputs: tuple[tuple[str, str], ...] = ()
    # Fields added after the first release: left out of the hash (and the summary) while
    # they hold their default, so a container made before them is not replaced.
    log_driver: str | None = None
    log_options: tuple[tuple[str, str], ...] = ()
    ulimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard)
    sysctls: tuple[tuple[str, str], ...] = ()
    shm_size: int | None = None
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (hostname, ip)
    security_opt: tuple[str, ...] = ()
    tty: bool = False
    stdin_open: bool = False
    pid_mode: str | None = None
    ipc_mode: str | None = None
    group_add: tuple[str, ...] = ()
    oom_score_adj: int | None = None
    cgroup_parent: str | None = None
    domainname: str | None = None
    device_requests: tuple[DeviceRequestSpec, ...] = ()
    links: tuple[str, ...] = ()  # "container:alias", on every network (as Compose)
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset: str | None = None
    memory_swap: int | None = None
    memory_swappiness: int | None = None
    oom_kill_disable: bool = False
    userns_mode: str | None = None
    uts_mode: str | None = None
    cgroupns_mode: str | None = None
    device_cgroup_rules: tuple[str, ...] = ()
    storage_opt: tuple[tuple[str, str], ...] = ()
    expose: tuple[str, ...] = ()  # "port/protocol", exposed and not published
    runtime: str | None = None  # the engine's OCI runtime by name (None: its default)

    def _declared(self) -> dict[str, Any]:
        """asdict() without the later fields that hold their default."""
        out: dict[str, Any] = plain(self)
        for f in fields(self):
            if f.name in _LATER and f.default is not MISSING and getattr(self, f.name) == f.default:
                del out[f.name]
        for net in out["networks"]:
            for key in _LATER_NETWORK:
                if net[key] is None:
                    del net[key]
        for mount in out["mounts"]:
            for key in ("bind_options", "nocopy"):
                if not mount[key]:
                    del mount[key]
        return out

    def summary(self) -> str:
        """The config as compact JSON for the container's `dev.dockyard.config` label: what
        the user declared (env, labels and inputs as maps; dockyard's own labels left
        out), so a later plan can name the fields that changed. Holds no secret value,
        only the inputs' hashes."""
        fields = self._declared()
        fields["env"] = dict(self.env)
        fields["labels"] = {k: v for k, v in self.labels if not k.startswith(naming.LABEL_PREFIX)}
        fields["inputs"] = dict(self.inputs)
        for mount in fields["mounts"]:
            if mount["manifest_path"] is not None:
                mount["source"] = mount["manifest_path"]
            for key in [k for k, v in mount.items() if v is None or v is False]:
                del mount[key]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        fields = self._declared()
        if not fields["inputs"]:
            del fields["inputs"]  # hashes of configs without inputs stay what they were
        for mount in fields["mounts"]:
            manifest_path = mount.pop("manifest_path")
            if manifest_path is not None:
                mount["source"] = f"manifest:{manifest_path}"
        blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


_SCALARS = (str, int, float, bool, type(None))
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def plain(value: Any) -> Any:
    """What dataclasses.asdict(value) returns, made several times faster for the values a
    config holds (dataclasses, tuples, dicts, scalars): every plan hashes each container's."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    names = _FIELD_NAMES.get(cls)
    if names is None and hasattr(cls, "__dataclass_fields__"):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(value))
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple, as asdict
        return cls(*[plain(v) for v in value])
    if isinstance(value, list | tuple):
        return cls(plain(v) for v in value)
    if isinstance(value, dict):
        return cls((plain(k), plain(v)) for k, v in value.items())
    return copy.deepcopy(value)


_LATER = frozenset(
    {
        "log_driver",
        "log_options",
        "ulimits",
        "sysctls",
        "shm_size",
        "dns",
        "dns_search",
        "dns_options",
        "extra_hosts",
        "security_opt",
        "tty",
        "stdin_open",
        "pid_mode",
        "ipc_mode",
        "group_add",
        "oom_score_adj",
        "cgroup_parent",
        "domainname",
        "device_requests",
        "links",
        "cpu_shares",
        "cpu_quota",
        "cpu_period",
        "cpuset",
        "memory_swap",
        "memory_swappiness",
        "oom_kill_disable",
        "userns_mode",
        "uts_mode",
        "cgroupns_mode",
        "device_cgroup_rules",
        "storage_opt",
        "expose",
        "runtime",
    }
)
_LATER_NETWORK = ("ipv6_address", "mac_address")


@dataclass(frozen=True)
class RegistryLogin:
    """Where the credentials to pull an image come from: an App's `spec.registries` entry.

    Holds no secret value, only the name of the app's secret that has the password."""

    server: str
    username: str
    password_secret: str


@dataclass(frozen=True)
class DesiredContainer:
    app: str
    service: str
    replica: int
    name: str
    config: ContainerConfig
    config_hash: str
    pull_policy: str
    build: BuildSpec | None = None
    # Acted on by the controller, not by the engine: not part of the config hash.
    restart_when_unhealthy: bool = False
    # Credentials for pulling the image from spec.registries (None: the Docker config file).
    registry: RegistryLogin | None = None
    # Inputs acted on in place: (input id, keyed content hash, onChange action).
    live_inputs: tuple[tuple[str, str, str], ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        labels = dict(self.config.labels)
        labels[naming.REPLICA] = str(self.replica)
        labels[naming.CONFIG_HASH] = self.config_hash
        labels[naming.CONFIG] = self.config.summary()
        return labels


@dataclass(frozen=True)
class BuildSpec:
    context: str
    dockerfile: str
    target: str | None
    args: tuple[tuple[str, str], ...]
    tag: str  # content-addressed: changes when any input changes
    also_tag: str | None = None  # the user's `image:` name, if given


@dataclass(frozen=True)
class DesiredNetwork:
    app: str
    name: str  # engine name
    driver: str
    internal: bool
    external: bool
    labels: tuple[tuple[str, str], ...] = ()
    driver_opts: tuple[tuple[str, str], ...] = ()
    enable_ipv6: bool = False
    ipam: IpamSpec | None = None
    project: str | None = None  # labelled when it differs from the app's name; not hashed

    @property
    def config_hash(self) -> str:
        parts: list[Any] = [self.driver, self.internal, sorted(self.labels)]
        # Added later: only in the hash when used, so existing networks keep theirs.
        later = {
            "driver_opts": dict(self.driver_opts),
            "enable_ipv6": self.enable_ipv6,
            "ipam": plain(self.ipam) if self.ipam else None,
        }
        later = {k: v for k, v in later.items() if v}
        if later:
            parts.append(later)
        blob = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class IpamPoolSpec:
    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class IpamSpec:
    driver: str | None
    pools: tuple[IpamPoolSpec, ...]
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DesiredVolume:
    app: str
    name: str
    driver: str
    driver_opts: tuple[tuple[str, str], ...]
    external: bool
    labels: tuple[tuple[str, str], ...] = ()
    project: str | None = None  # labelled when it differs from the app's name
