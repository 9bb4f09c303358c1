"""Source updates -> wanted apps: which source owns which app, and what each app wants."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dockyard.apply.converge import build_tags
from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.spec.load import LoadedApp

log = logging.getLogger("dockyard.controller")


@dataclass
class Wanted:
    loaded: LoadedApp
    desired: DesiredApp
    source: str
    revision: str


def claim(
    apps: Iterable[LoadedApp], wanted: Mapping[str, Wanted], source: str
) -> dict[str, LoadedApp]:
    """The apps of `source`'s update it may have: an app another source defines stays
    with that source."""
    new: dict[str, LoadedApp] = {}
    for loaded in apps:
        owner = wanted.get(loaded.name)
        if owner is not None and owner.source != source:
            log.error(
                "app %s is defined by both %s and %s; keeping %s",
                loaded.name,
                owner.source,
                source,
                owner.source,
            )
            continue
        new[loaded.name] = loaded
    return new


async def desired_of(loaded: LoadedApp) -> DesiredApp | None:
    """What the app wants, with its build tags (None: its build context cannot be read)."""
    try:
        tags = await asyncio.to_thread(build_tags, loaded)
    except OSError as exc:
        log.error("app %s: cannot read its build context: %s", loaded.name, exc)
        return None
    return desired_app(loaded, tags)
