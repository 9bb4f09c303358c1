"""What an engine event means for the queue: which apps it concerns (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.spec import naming


def _named_for(name: str, app: str) -> bool:
    return name.startswith((f"{app}-", f"{app}_"))


def interesting(event: Mapping[str, Any], known: Iterable[str]) -> bool:
    """Does this engine event concern an app of ours?"""
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    if attrs.get(naming.MANAGED_BY) == naming.MANAGED_BY_VALUE or event.get("Type") == "image":
        return True
    name = str(attrs.get("name") or actor.get("ID") or "")
    # Unlabelled objects matter only when they take (or free) one of our names.
    return any(_named_for(name, app) for app in known)


def apps_changed(changed: Iterable[str], known: set[str]) -> list[str]:
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
            # An unlabelled object named `<app>-…`/`<app>_…` may squat a name of that app.
            apps.extend(other for other in known if _named_for(base, other))
    return apps
