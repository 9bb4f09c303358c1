"""What one engine holds, read in four list calls, and the event stream that says it changed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dockyard.state.observed import (
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
    normalize_image_ref,
)

from .snapshot_lists import CONTAINERS, IMAGES, NETWORKS, VOLUMES

if TYPE_CHECKING:
    from .client import Engine

_EXIT = re.compile(r"Exited \((-?\d+)\)")

EVENT_ACTIONS = [
    "create",
    "start",
    "die",
    "destroy",
    "rename",
    "health_status",
    "pause",
    "unpause",
    "update",
    "oom",
    "connect",
    "disconnect",
    "tag",
    "untag",
    "delete",
    "pull",
    "load",
    "import",
]


def snapshot(engine: Engine, answers: dict[str, Any] | None = None) -> ObservedState:
    """Everything dockyard needs to plan, in four list calls (engine/snapshot_lists.py; read
    without the SDK on a local socket: Engine.get). `answers`, when given, receives each
    list's answer as the engine sent it, keyed by url: what the no-op memo fingerprints."""
    calls = {
        CONTAINERS: lambda: engine.api.containers(all=True),
        NETWORKS: lambda: engine.api.networks(),
        VOLUMES: lambda: engine.api.volumes(),
        IMAGES: lambda: engine.api.images(),
    }
    got = {url: engine.get(what, url, sdk) for (what, url), sdk in calls.items()}
    if answers is not None:
        answers.update(got)
    containers, networks = got[CONTAINERS[1]], got[NETWORKS[1]]
    volumes, images = got[VOLUMES[1]], got[IMAGES[1]]
    return ObservedState(
        containers=tuple(_container(c) for c in containers),
        networks=tuple(
            ObservedNetwork(id=n["Id"], name=n["Name"], labels=n.get("Labels") or {})
            for n in networks
        ),
        volumes=tuple(
            ObservedVolume(name=v["Name"], labels=v.get("Labels") or {})
            for v in (volumes.get("Volumes") or [])
        ),
        images=frozenset(_image_refs(images)),
        image_ids=_image_ids(images),
    )


def events(engine: Engine) -> Any:
    """A blocking stream of the engine events that can change what dockyard observes.

    Exec events (every healthcheck run) are filtered out by the engine itself."""
    return engine._call(
        "watch events",
        lambda: engine.api.events(decode=True, filters={"event": EVENT_ACTIONS}),
    )


def _container(raw: Mapping[str, Any]) -> ObservedContainer:
    status = str(raw.get("Status", ""))
    health = None
    if "(healthy)" in status:
        health = "healthy"
    elif "(unhealthy)" in status:
        health = "unhealthy"
    elif "(health: starting)" in status:
        health = "starting"
    exit_match = _EXIT.search(status)
    names = raw.get("Names") or ["/"]
    nets = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    return ObservedContainer(
        id=str(raw["Id"]),
        name=str(names[0]).lstrip("/"),
        state=str(raw.get("State", "")),
        labels=dict(raw.get("Labels") or {}),
        health=health,
        exit_code=int(exit_match.group(1)) if exit_match else None,
        image=str(raw.get("Image", "")),
        image_id=str(raw.get("ImageID", "")),
        networks=tuple(sorted(nets)),
        status=status,
    )


def _image_refs(images: list[Mapping[str, Any]]) -> set[str]:
    refs: set[str] = set()
    for image in images:
        refs.add(str(image.get("Id", "")))
        for tag in image.get("RepoTags") or []:
            if tag != "<none>:<none>":
                refs.add(normalize_image_ref(tag))
        for digest in image.get("RepoDigests") or []:
            if not digest.startswith("<none>"):
                refs.add(normalize_image_ref(digest))
    return refs


def _image_ids(images: list[Mapping[str, Any]]) -> dict[str, str]:
    """Each tag and digest reference (normalized) -> the id of the image it names."""
    ids: dict[str, str] = {}
    for image in images:
        image_id = str(image.get("Id", ""))
        for ref in [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]:
            if not str(ref).startswith("<none>"):
                ids[normalize_image_ref(str(ref))] = image_id
    return ids
