"""What an engine event means for the queue: which apps it concerns (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.spec import naming

# `known`: the apps to watch, or app -> its project (`spec.project`, the prefix of its
# engine names, where it differs from the app's name).
Known = Iterable[str] | Mapping[str, str]


def _prefixes(known: Known) -> list[tuple[str, str]]:
    """(app, prefix of its engine names) for each known app."""
    if isinstance(known, Mapping):
        return [(app, project or app) for app, project in known.items()]
    return [(app, app) for app in known]


def _named_for(name: str, project: str) -> bool:
    return name.startswith((f"{project}-", f"{project}_"))


def interesting(event: Mapping[str, Any], known: Known) -> bool:
    """Does this engine event concern an app of ours?"""
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    if attrs.get(naming.MANAGED_BY) == naming.MANAGED_BY_VALUE or event.get("Type") == "image":
        return True
    name = str(attrs.get("name") or actor.get("ID") or "")
    # Unlabelled objects matter only when they take (or free) one of our names.
    return any(_named_for(name, project) for _, project in _prefixes(known))


def apps_changed(changed: Iterable[str], known: Known) -> list[str]:
    """The known apps to reconcile after the cache saw `changed` (app names; `*images*`:
    an image changed, so every app; `?name`: an unlabelled object named `name`)."""
    apps: list[str] = []
    for name in changed:
        if name == "*images*":
            apps.extend(known)
            continue
        base = name.lstrip("?")
        if base in known:
            apps.append(base)
        elif name.startswith("?"):
            # An unlabelled object named `<project>-…`/`<project>_…` (a squatter, or a
            # Compose container of the project) concerns that app.
            apps.extend(other for other, project in _prefixes(known) if _named_for(base, project))
    return apps
