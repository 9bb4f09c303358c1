"""Before an apply is planned: pull the pullPolicy Always images again, so a tag that
moved in its registry is seen (and its containers replaced) by this very apply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.engine.client import Engine
from dockyard.engine.errors import EngineError, EngineUnavailable
from dockyard.plan.desired import desired_app
from dockyard.plan.images import always_pulled
from dockyard.spec.load import LoadedApp

from .plans import build_tags


@dataclass
class Refreshed:
    moved: list[str] = field(default_factory=list)  # "image: was -> now"
    errors: list[str] = field(default_factory=list)


def refresh_always_images(engine: Engine, apps: Sequence[LoadedApp]) -> Refreshed:
    """Pull each Always image of `apps` once. A failure is reported, never raised: what
    runs is left as it is, and the plan pulls again only where it creates a container."""
    done = Refreshed()
    seen: set[str] = set()
    for loaded in apps:
        if all(svc.pull_policy != "Always" for svc in loaded.app.spec.services):
            continue  # each container's pull policy is its service's: nothing to pull
        desired = desired_app(loaded, build_tags(loaded))
        for image, (login, service) in always_pulled(desired.containers).items():
            if image in seen:
                continue
            seen.add(image)
            from dockyard.engine.registry import pull_auth  # the SDK: only with an image to pull

            try:
                auth = pull_auth(login, loaded.secrets)
                before, after = engine.refresh_image(
                    image, auth, f"app {loaded.name}, service {service}"
                )
            except EngineUnavailable:
                return done  # planning reports the engine itself, once
            except EngineError as exc:
                done.errors.append(str(exc))
                continue
            if before is not None and before != after:
                done.moved.append(f"{image} moved to {(after or '?')[:19]} (was {before[:19]})")
    return done
