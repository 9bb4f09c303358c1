"""The resource model (`dockyard.dev/v1alpha1`): pydantic models, the single source of truth."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .units import parse_duration, parse_size

API_VERSION = "dockyard.dev/v1alpha1"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")
_ENV_NAME = re.compile(r"^[^=\s]+$")


def _dns_label(value: str) -> str:
    return _name_like(
        value,
        _DNS_LABEL,
        "a DNS-1123 label: use lower-case letters, digits and '-', "
        "starting and ending with a letter or digit",
    )


# Services, volumes and networks are named as Compose names them (`db_data`,
# `ssrf_proxy`, `web.app`): what Docker accepts in container, volume and network names,
# so that the engine names are Compose's (docs/compose.md, "Names").
_OBJECT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
OBJECT_NAME_PATTERN = _OBJECT_NAME.pattern


def _object_name(value: str) -> str:
    return _name_like(
        value,
        _OBJECT_NAME,
        "a valid name: use letters, digits, '_', '.' and '-', starting with a letter or digit",
    )


def _name_like(value: str, pattern: re.Pattern[str], what: str) -> str:
    """`value` when `pattern` matches it and it fits in 63 characters, else the error
    `'value' is not <what>, at most 63 characters`."""
    if len(value) > 63 or not pattern.match(value):
        raise ValueError(f"{value!r} is not {what}, at most 63 characters")
    return value


# A Compose project name, as Compose accepts it (compose-go's `projectNameRegex`): the
# prefix of the app's engine names (`spec.project`), which may hold `_` where an app name
# (a DNS-1123 label) cannot.
_COMPOSE_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
COMPOSE_PROJECT_PATTERN = _COMPOSE_PROJECT.pattern


def _compose_project(value: str) -> str:
    return _name_like(
        value,
        _COMPOSE_PROJECT,
        "a Compose project name (as Compose itself requires): use lower-case letters, "
        "digits, '_' and '-', starting with a letter or digit",
    )


def _restart(value: str) -> str:
    if not _RESTART.match(value):
        raise ValueError(
            f"{value!r} is not a restart policy; use no, always, unless-stopped, "
            "on-failure or on-failure:N"
        )
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    return value


def _absolute_container_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path inside the container")
    return value


def _mode(value: object) -> object:
    # Modes are conventionally written in octal: accept "0400" or 0o400 (256).
    if isinstance(value, str):
        try:
            return int(value, 8)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an octal file mode like '0400'") from exc
    return value


def _mode_range(value: int) -> int:
    # Say it in octal: "at most 4095" means nothing to someone who wrote 0o77777.
    if not 0 <= value <= 0o7777:
        raise ValueError(f"file mode {value:#o} is out of range; write it like '0400' or '0644'")
    return value


Name = Annotated[str, AfterValidator(_dns_label)]
ObjectName = Annotated[str, AfterValidator(_object_name)]
ProjectName = Annotated[str, AfterValidator(_compose_project)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


def _restart_no(value: object) -> object:
    # YAML 1.1 reads an unquoted `restart: no` as false; Compose users write it that way.
    return "no" if value is False else value


RestartPolicy = Annotated[str, BeforeValidator(_restart_no), AfterValidator(_restart)]
ContainerPath = Annotated[str, AfterValidator(_absolute_container_path)]
EnvName = Annotated[str, AfterValidator(_env_name)]
FileMode = Annotated[int, BeforeValidator(_mode), AfterValidator(_mode_range)]


# A container port exposed without publishing it (Compose `expose`): 80, 8000-8010/udp.
EXPOSE_PATTERN = r"^[0-9]{1,5}(-[0-9]{1,5})?(/(tcp|udp|sctp))?$"


class Model(BaseModel):
    """Base: camelCase on the wire, strict about unknown fields, frozen values."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        # Each model's validator is built when it first validates, not at import: loading
        # an App builds App's (its parts come inline), not the forty others' as well.
        defer_build=True,
    )


class ObjectMeta(BaseModel):
    # Kubernetes adds many fields (uid, resourceVersion, managedFields…): keep them out of the way.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name: Name
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None


class LabelSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)


class LabelSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


class Placement(Model):
    host_selector: LabelSelector | None = None
    mode: Literal["replicated", "global"] = "replicated"
    max_per_host: int | None = Field(default=None, ge=1)
    # With `dockyard run`: replicas leave a host that stays unreachable this long.
    reschedule: bool = False
    reschedule_after: Duration = 60.0


class Build(Model):
    context: str = "."
    dockerfile: str = "Dockerfile"
    target: str | None = None
    args: dict[str, str] = Field(default_factory=dict)


class EnvVar(Model):
    name: EnvName
    value: str = ""


def _on_change(value: object) -> object:
    known = ("recreate", "restart", "ignore")
    if (
        isinstance(value, str)
        and value not in known
        and not re.fullmatch(r"signal:SIG[A-Z0-9]+", value)
    ):
        raise ValueError(
            f"{value!r} is not an onChange action: write recreate, restart, ignore "
            "or signal:SIGNAME (e.g. signal:SIGHUP)"
        )
    return value


# What to do when the content of an input (a secret, a bind-mounted file) changes.
OnChange = Annotated[str, AfterValidator(_on_change)]


class SecretMount(Model):
    name: str
    mount_path: ContainerPath | None = None
    mode: FileMode = 0o400
    uid: int | None = Field(default=None, ge=0)
    gid: int | None = Field(default=None, ge=0)
    # recreate (default): a new container (rolled out with the service's `update`);
    # restart; signal:SIGHUP (the file is rewritten in place, then the signal sent); ignore.
    on_change: OnChange = "recreate"

    @property
    def path(self) -> str:
        return self.mount_path or f"/run/secrets/{self.name}"


class Port(Model):
    target: int = Field(ge=1, le=65535)
    published: int | None = Field(default=None, ge=1, le=65535)
    host_ip: str | None = Field(default=None, alias="hostIP")
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"


class Tmpfs(Model):
    size: Size | None = None
    mode: FileMode | None = None


class VolumeMount(Model):
    """One of: a named `volume`, a bind `hostPath`, a `tmpfs`, or none (an anonymous volume)."""

    mount_path: ContainerPath
    volume: str | None = None
    host_path: str | None = None
    tmpfs: Tmpfs | None = None
    read_only: bool = False
    # hostPath only: watch the file's (or folder's) content, and on a change recreate,
    # restart, or signal:SIGHUP the container. Unset: content changes are not watched.
    on_change: OnChange | None = None
    # hostPath only: mount propagation, and SELinux relabelling (z: shared, Z: private).
    propagation: Literal["private", "rprivate", "shared", "rshared", "slave", "rslave"] | None = (
        None
    )
    selinux: Literal["z", "Z"] | None = None
    # volume only: do not copy the image's files at the mount path into a new volume.
    no_copy: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> VolumeMount:
        kinds = [k for k in (self.volume, self.host_path, self.tmpfs) if k is not None]
        if len(kinds) > 1:
            raise ValueError("set only one of volume, hostPath and tmpfs")
        if self.on_change is not None and self.host_path is None:
            raise ValueError("onChange is for hostPath mounts (a volume's content is the app's)")
        if (self.propagation or self.selinux) and self.host_path is None:
            raise ValueError("propagation and selinux are for hostPath mounts")
        if self.no_copy and (self.host_path is not None or self.tmpfs is not None):
            raise ValueError("noCopy is for volumes")
        return self

    @property
    def kind(self) -> Literal["volume", "bind", "tmpfs", "anonymous"]:
        if self.volume is not None:
            return "volume"
        if self.host_path is not None:
            return "bind"
        if self.tmpfs is not None:
            return "tmpfs"
        return "anonymous"


class NetworkAttachment(Model):
    name: str
    aliases: list[str] = Field(default_factory=list)
    # A static address: the network must declare an `ipam` subnet that holds it.
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: str | None = None


class Healthcheck(Model):
    test: list[str] | str | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=1)
    start_period: Duration | None = None
    disable: bool = False

    @field_validator("test")
    @classmethod
    def _test_form(cls, test: list[str] | str | None) -> list[str] | str | None:
        # A field validator (not a model one) so errors point at `healthcheck.test`.
        if test is None:
            return test
        if isinstance(test, list):
            if not test:
                raise ValueError("test must not be empty")
            if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
                raise ValueError(
                    "test must start with CMD, CMD-SHELL or NONE, e.g. "
                    "[CMD, wget, -q, http://127.0.0.1/] or [CMD-SHELL, 'curl -f localhost']"
                )
            if test[0] != "NONE" and len(test) < 2:
                raise ValueError(f"{test[0]} needs a command after it")
        elif not test.strip():
            raise ValueError("test must not be empty")
        return test


class DependsOn(Model):
    service: str
    condition: Literal["started", "healthy", "completed"] = "started"


def _swap_size(value: object) -> int:
    return -1 if value in (-1, "-1") else parse_size(value)


SwapSize = Annotated[int, BeforeValidator(_swap_size)]


class DeviceRequest(Model):
    """Devices (GPUs) the engine's device driver hands the container (`docker run --gpus`)."""

    driver: str | None = None
    count: int | None = Field(default=None, ge=-1)  # -1: all of them
    device_ids: list[str] = Field(default_factory=list)
    capabilities: list[str] = Field(default_factory=list)  # e.g. [gpu]
    options: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _count_or_ids(self) -> DeviceRequest:
        if self.count is not None and self.device_ids:
            raise ValueError("set count or deviceIds, not both")
        return self


class Resources(Model):
    cpus: float | None = Field(default=None, gt=0)
    memory: Size | None = None
    memory_reservation: Size | None = None
    pids: int | None = Field(default=None, ge=1)
    devices: list[DeviceRequest] = Field(default_factory=list)
    cpu_shares: int | None = Field(default=None, ge=0)  # relative weight (1024: one share)
    cpu_quota: int | None = Field(default=None, ge=-1)  # microseconds per cpuPeriod
    cpu_period: int | None = Field(default=None, ge=0)  # microseconds
    cpuset: str | None = None  # CPUs the container may use, e.g. "0-2" or "0,3"
    memory_swap: SwapSize | None = None  # memory plus swap; -1: unlimited swap
    memory_swappiness: int | None = Field(default=None, ge=0, le=100)
    oom_kill_disable: bool = False


class Logging(Model):
    """The container's log driver and its options (e.g. json-file with max-size, max-file)."""

    driver: str | None = None  # unset: the engine's default driver
    options: dict[str, str] = Field(default_factory=dict)


class Ulimit(Model):
    name: str
    soft: int = Field(ge=-1)
    hard: int = Field(ge=-1)

    @model_validator(mode="after")
    def _soft_below_hard(self) -> Ulimit:
        if self.hard != -1 and (self.soft == -1 or self.soft > self.hard):
            raise ValueError(f"the soft limit ({self.soft}) is above the hard one ({self.hard})")
        return self


class Link(Model):
    """A legacy Compose link: `alias` resolves to the service's containers, for the
    linking container only (the service's own name resolves for everyone anyway)."""

    service: str
    alias: str | None = None


class HostEntry(Model):
    """One extra line of the container's /etc/hosts."""

    hostname: str
    ip: str


def _namespace_mode(kinds: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in kinds:
            raise ValueError(f"{value!r} is not one of {', '.join(kinds)}")
        return value

    return AfterValidator(check)


PidMode = Annotated[str, _namespace_mode(("host",))]
IpcMode = Annotated[str, _namespace_mode(("host", "private", "shareable", "none"))]


class HostWaves(Model):
    """How a change reaches an app's hosts: canaries first, then a few hosts at a time;
    too many failed hosts halt the wave (the rest keep the old revision)."""

    canary: list[str] = Field(default_factory=list)  # DockerHost names updated first
    parallelism: int = Field(default=1, ge=0)  # hosts updated at once after them (0: all)
    max_failure_ratio: float = Field(default=0.0, ge=0, le=1)


class UpdateStrategy(Model):
    order: Literal["start-first", "stop-first"] = "stop-first"
    parallelism: int = Field(default=1, ge=0)
    delay: Duration = 0.0
    monitor: Duration = 5.0
    failure_action: Literal["rollback", "pause", "continue"] = "rollback"
    max_failure_ratio: float = Field(default=0.0, ge=0, le=1)
    hosts: HostWaves | None = None


class Device(Model):
    host_path: str
    container_path: str | None = None
    permissions: str = "rwm"


class Service(Model):
    name: ObjectName
    image: str | None = None
    build: Build | None = None
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    working_dir: ContainerPath | None = None
    user: str | None = None
    hostname: str | None = None
    # The container's name on the engine instead of `<app>-<name>-1` (Compose's
    # `container_name`); one replica only. Also a DNS alias on the service's networks.
    container_name: ObjectName | None = None
    env: list[EnvVar] = Field(default_factory=list)
    env_files: list[str] = Field(default_factory=list)
    secrets: list[SecretMount] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)
    volume_mounts: list[VolumeMount] = Field(default_factory=list)
    networks: list[NetworkAttachment] = Field(default_factory=list)
    network_mode: Literal["bridge", "host", "none"] | None = None
    healthcheck: Healthcheck | None = None
    restart: RestartPolicy = "no"
    restart_when_unhealthy: bool = False
    replicas: int = Field(default=1, ge=0)
    depends_on: list[DependsOn] = Field(default_factory=list)
    resources: Resources | None = None
    update: UpdateStrategy | None = None
    placement: Placement | None = None
    stop_grace_period: Duration | None = None
    stop_signal: str | None = None
    init: bool | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    cap_add: list[str] = Field(default_factory=list)
    cap_drop: list[str] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    read_only: bool = False
    privileged: bool = False
    # What Compose services set on the container and its host config (docs/manifest.md).
    logging: Logging | None = None
    ulimits: list[Ulimit] = Field(default_factory=list)
    sysctls: dict[str, str] = Field(default_factory=dict)
    shm_size: Size | None = None
    dns: list[str] = Field(default_factory=list)
    dns_search: list[str] = Field(default_factory=list)
    expose: list[Annotated[str, Field(pattern=EXPOSE_PATTERN)]] = Field(default_factory=list)
    dns_options: list[str] = Field(default_factory=list)
    extra_hosts: list[HostEntry] = Field(default_factory=list)
    security_opt: list[str] = Field(default_factory=list)
    tty: bool = False
    stdin_open: bool = False
    pid_mode: PidMode | None = None
    ipc_mode: IpcMode | None = None
    group_add: list[str] = Field(default_factory=list)
    oom_score_adj: int | None = Field(default=None, ge=-1000, le=1000)
    cgroup_parent: str | None = None
    domainname: str | None = None
    links: list[Link] = Field(default_factory=list)
    userns_mode: Annotated[str, _namespace_mode(("host",))] | None = None
    uts_mode: Annotated[str, _namespace_mode(("host",))] | None = None
    cgroupns_mode: Annotated[str, _namespace_mode(("host", "private"))] | None = None
    device_cgroup_rules: list[str] = Field(default_factory=list)
    storage_opt: dict[str, str] = Field(default_factory=dict)
    # The OCI runtime the engine runs the container with (`docker run --runtime`), one
    # the engine's daemon.json names: runc, nvidia, io.containerd.wasmedge.v1, ...
    runtime: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

    @model_validator(mode="after")
    def _image_or_build(self) -> Service:
        if self.image is None and self.build is None:
            raise ValueError("set image, build, or both (build tags the image it makes)")
        if self.network_mode is not None and self.networks:
            raise ValueError("set either networks or networkMode, not both")
        return self


class AppVolume(Model):
    name: ObjectName
    # The volume's name on the engine, used as is (Compose's `volumes.*.name`);
    # default `<app>_<name>`, or `name` itself for an external volume.
    engine_name: ObjectName | None = None
    external: bool = False
    driver: str = "local"
    driver_opts: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class IpamPool(Model):
    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = Field(default_factory=dict)


class Ipam(Model):
    """The network's address plan (Compose `ipam`): what static addresses need."""

    driver: str | None = None
    config: list[IpamPool] = Field(default_factory=list)
    options: dict[str, str] = Field(default_factory=dict)


class AppNetwork(Model):
    name: ObjectName
    # The network's name on the engine, used as is (Compose's `networks.*.name`);
    # default `<app>_<name>`, or `name` itself for an external network.
    engine_name: ObjectName | None = None
    external: bool = False
    driver: str = "bridge"
    driver_opts: dict[str, str] = Field(default_factory=dict)
    internal: bool = False
    enable_ipv6: bool = False
    ipam: Ipam | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class KubernetesSecretRef(Model):
    name: str
    key: str


def _command_list(value: object) -> object:
    if isinstance(value, str):
        raise ValueError(
            "write the command as a list, e.g. [aws, secretsmanager, get-secret-value, "
            "--secret-id, shop/api, --query, SecretString, --output, text]: it never runs "
            "through a shell"
        )
    return value


SecretCommand = Annotated[list[str], BeforeValidator(_command_list), Field(min_length=1)]


SECRET_TIMEOUT = 10.0


class AppSecret(Model):
    name: Name
    file: str | None = None
    env: str | None = None
    kubernetes_secret: KubernetesSecretRef | None = None
    # The value itself, written in the manifest (Compose's `content:` for configs and
    # secrets): for what is not secret, since anyone who reads the manifest reads it.
    content: str | None = None
    # A secret store's own CLI (aws, gcloud, az, vault, op), run without a shell in the
    # manifest's folder; its standard output is the value (one trailing newline dropped).
    command: SecretCommand | None = None
    timeout: Duration = SECRET_TIMEOUT  # command only: how long the store may take
    refresh: Duration | None = None  # command only: run it again this often (controllers)

    @model_validator(mode="after")
    def _one_source(self) -> AppSecret:
        kinds = (self.file, self.env, self.kubernetes_secret, self.command, self.content)
        if len([s for s in kinds if s is not None]) != 1:
            raise ValueError(
                "set exactly one of file, env and kubernetesSecret, a command, or content"
            )
        # The default timeout given back is no mistake: a revision stores the App dumped
        # whole (controller/revisions.py), and a rollback reads it again.
        stray = self.refresh is not None or self.timeout != SECRET_TIMEOUT
        if self.command is None and stray:
            raise ValueError("timeout and refresh are for command secrets")
        if self.timeout <= 0 or (self.refresh is not None and self.refresh <= 0):
            raise ValueError("timeout and refresh must be longer than 0s")
        return self


class RegistryCredential(Model):
    """How to log in to a private registry: the password is one of the app's secrets."""

    server: str  # as in image names: host[:port] (docker.io for Docker Hub)
    username: str
    password_secret: Name

    @field_validator("server")
    @classmethod
    def _host_port(cls, server: str) -> str:
        if not server or "/" in server or "://" in server or server != server.strip():
            raise ValueError(
                "write the registry as it appears in image names: host[:port], "
                "e.g. registry.example.com or 127.0.0.1:5000 (no scheme, no path)"
            )
        return server


class AppSpec(Model):
    # The prefix of the app's engine names (`<project>-<service>-<n>`, `<project>_<name>`)
    # and the Compose project it takes over: Compose's own name (`my_stack`) where it is not
    # a DNS-1123 label. Default: the app's name. dockyard's labels keep the app's name.
    project: ProjectName | None = None
    services: list[Service] = Field(default_factory=list)
    volumes: list[AppVolume] = Field(default_factory=list)
    networks: list[AppNetwork] = Field(default_factory=list)
    secrets: list[AppSecret] = Field(default_factory=list)
    registries: list[RegistryCredential] = Field(default_factory=list)
    placement: Placement | None = None


class App(Model):
    api_version: Literal["dockyard.dev/v1alpha1"] = "dockyard.dev/v1alpha1"
    kind: Literal["App"] = "App"
    metadata: ObjectMeta
    spec: AppSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def project(self) -> str:
        """The prefix of the app's engine names: `spec.project`, else the app's name."""
        return self.spec.project or self.metadata.name

    def service(self, name: str) -> Service:
        for svc in self.spec.services:
            if svc.name == name:
                return svc
        raise KeyError(name)


class TLSConfig(Model):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    secret_ref: str | None = None


class AgentRef(Model):
    id: str


class DockerHostSpec(Model):
    url: str | None = None
    agent: AgentRef | None = None
    tls: TLSConfig | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _url_or_agent(self) -> DockerHostSpec:
        if (self.url is None) == (self.agent is None):
            raise ValueError("set exactly one of url and agent")
        return self


class DockerHost(Model):
    api_version: Literal["dockyard.dev/v1alpha1"] = "dockyard.dev/v1alpha1"
    kind: Literal["DockerHost"] = "DockerHost"
    metadata: ObjectMeta
    spec: DockerHostSpec
