"""Images in planning: which registry credentials a container pulls with, which images
are pulled again before planning, and whether a container's tag moved. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dockyard.spec.models import RegistryCredential
from dockyard.state.desired import DesiredContainer, RegistryLogin
from dockyard.state.observed import ObservedContainer, ObservedState
from dockyard.state.refs import pinned, same_registry


def registry_login(registries: Sequence[RegistryCredential], image: str) -> RegistryLogin | None:
    """The `spec.registries` entry whose server the image comes from, if any."""
    for reg in registries:
        if same_registry(reg.server, image):
            return RegistryLogin(reg.server, reg.username, reg.password_secret)
    return None


def always_pulled(
    containers: Sequence[DesiredContainer],
) -> dict[str, tuple[RegistryLogin | None, str]]:
    """Images pulled again before planning (pullPolicy Always, not built here, not pinned by
    digest): image -> (the credentials to use, the first service that wants it)."""
    found: dict[str, tuple[RegistryLogin | None, str]] = {}
    for d in containers:
        image = d.config.image
        if d.pull_policy != "Always" or d.build is not None or pinned(image):
            continue
        if image not in found or (found[image][0] is None and d.registry is not None):
            found[image] = (d.registry, d.service)
    return found


def image_moved(
    desired: DesiredContainer, observed: ObservedContainer, state: ObservedState
) -> str | None:
    """Why a container must be replaced because its tag now names another image on its
    engine (pulled by pullPolicy Always or --poll-images, or by hand), else None.

    A build's content tag and a digest pin never move; an image whose tag the engine no
    longer has, or a container whose image id is unknown, is left alone."""
    if desired.build is not None or pinned(desired.config.image) or not observed.image_id:
        return None
    current = state.image_id(desired.config.image)
    if current is None or current == observed.image_id:
        return None
    return (
        f"image {desired.config.image} moved to {_short(current)} (was {_short(observed.image_id)})"
    )


def moved_images(containers: Sequence[DesiredContainer], state: ObservedState) -> Mapping[str, str]:
    """container name -> cause, for every container of `containers` whose image moved."""
    moved: dict[str, str] = {}
    for d in containers:
        obs = state.container_named(d.name)
        if obs is not None:
            cause = image_moved(d, obs, state)
            if cause is not None:
                moved[d.name] = cause
    return moved


def _short(image_id: str) -> str:
    algo, _, digest = image_id.partition(":")
    return f"{algo}:{digest[:12]}" if digest else image_id[:19]
