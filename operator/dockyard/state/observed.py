"""What an engine holds, as dockyard sees it: plain frozen values, no Docker SDK types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.spec import naming

# Compose v2 marks what it creates with these labels (compose's pkg/api/labels.go). A
# Compose project's objects are the ones dockyard may take over for an app of that name.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"


class _Labelled:
    """What an engine object's labels say about who made it (the dataclasses below)."""

    labels: Mapping[str, str]

    @property
    def managed(self) -> bool:
        return self.labels.get(naming.MANAGED_BY) == naming.MANAGED_BY_VALUE

    @property
    def app(self) -> str | None:
        return self.labels.get(naming.APP) if self.managed else None

    @property
    def config_hash(self) -> str | None:
        return self.labels.get(naming.CONFIG_HASH)


class _Adoptable(_Labelled):
    """A network or volume, which dockyard adopts from the Compose project of its app."""

    @property
    def adopted_from(self) -> str | None:
        """The Compose project that created it, when dockyard did not: dockyard uses it as
        its own for the app of that project (labels are immutable: Compose's stay)."""
        return None if self.managed else self.labels.get(COMPOSE_PROJECT)

    def owned_by(self, app: str, project: str | None = None) -> bool:
        """The app's: labelled with its name, or adopted from its Compose project."""
        return self.app == app or self.adopted_from == (project or app)


@dataclass(frozen=True)
class ObservedContainer(_Labelled):
    id: str
    name: str
    state: str  # created | running | restarting | paused | exited | dead | removing
    labels: Mapping[str, str] = field(default_factory=dict)
    health: str | None = None  # starting | healthy | unhealthy, when a healthcheck runs
    exit_code: int | None = None
    image: str = ""
    networks: tuple[str, ...] = ()
    status: str = ""
    image_id: str = ""  # the image it was created from (sha256:…), whatever its tag names now

    @property
    def service(self) -> str | None:
        return self.labels.get(naming.SERVICE)

    @property
    def replica(self) -> int | None:
        raw = self.labels.get(naming.REPLICA)
        return int(raw) if raw and raw.isdigit() else None

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting")

    @property
    def compose_project(self) -> str | None:
        """The Compose project that created it (never set on one dockyard created)."""
        return None if self.managed else self.labels.get(COMPOSE_PROJECT)

    @property
    def compose_service(self) -> str | None:
        return self.labels.get(COMPOSE_SERVICE) if self.compose_project else None

    @property
    def compose_oneoff(self) -> bool:
        # `docker compose run` containers: a user's session, never taken over.
        return self.labels.get(COMPOSE_ONEOFF, "").lower() == "true"

    def composed_for(self, project: str) -> bool:
        """A Compose container of `project` that dockyard takes over (replaces)."""
        return self.compose_project == project and not self.compose_oneoff


@dataclass(frozen=True)
class ObservedNetwork(_Adoptable):
    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedVolume(_Adoptable):
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedState:
    """One engine's containers, networks, volumes and image references."""

    containers: tuple[ObservedContainer, ...] = ()
    networks: tuple[ObservedNetwork, ...] = ()
    volumes: tuple[ObservedVolume, ...] = ()
    images: frozenset[str] = frozenset()
    # Normalized tag or digest reference -> id of the image it names on this engine now.
    image_ids: Mapping[str, str] = field(default_factory=dict)

    def app_containers(self, app: str) -> list[ObservedContainer]:
        return [c for c in self.containers if c.app == app]

    def compose_containers(self, project: str) -> list[ObservedContainer]:
        """Compose's containers of `project` (not `compose run` ones): taken over."""
        return [c for c in self.containers if c.composed_for(project)]

    def project_of(self, app: str) -> str:
        """The app's project as its objects here record it (`dev.dockyard.project`), else
        its name: what a delete by name needs to find what it adopted from Compose."""
        objects: list[ObservedContainer | ObservedNetwork | ObservedVolume] = [
            *self.containers,
            *self.networks,
            *self.volumes,
        ]
        for obj in objects:
            project = obj.labels.get(naming.PROJECT)
            if obj.app == app and project:
                return project
        return app

    def container_named(self, name: str) -> ObservedContainer | None:
        for c in self.containers:
            if c.name == name:
                return c
        return None

    def network_named(self, name: str) -> ObservedNetwork | None:
        for n in self.networks:
            if n.name == name:
                return n
        return None

    def volume_named(self, name: str) -> ObservedVolume | None:
        for v in self.volumes:
            if v.name == name:
                return v
        return None

    def has_image(self, ref: str) -> bool:
        return normalize_image_ref(ref) in self.images or ref in self.images

    def image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names on this engine, None when it has none."""
        return self.image_ids.get(normalize_image_ref(ref)) or self.image_ids.get(ref)

    def apps(self) -> set[str]:
        found = {c.app for c in self.containers} | {n.app for n in self.networks}
        found |= {v.app for v in self.volumes}
        return {a for a in found if a}


def normalize_image_ref(ref: str) -> str:
    """`busybox` and `docker.io/library/busybox:latest` name the same image; so do
    `repo:1@sha256:…` and `repo@sha256:…` (a digest wins over a tag, as in Docker)."""
    if ref.startswith("sha256:"):
        return ref
    name, _, digest = ref.partition("@")
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if digest:
        head, _, last = name.rpartition("/")
        last = last.split(":", 1)[0]
        return f"{head}/{last}@{digest}" if head else f"{last}@{digest}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        name += ":latest"
    return name
