"""Names and labels of what dockyard creates on an engine (part of the manifest contract)."""

from __future__ import annotations

LABEL_PREFIX = "dev.dockyard."
MANAGED_BY = "dev.dockyard.managed-by"
MANAGED_BY_VALUE = "dockyard"
APP = "dev.dockyard.app"
SERVICE = "dev.dockyard.service"
REPLICA = "dev.dockyard.replica"
CONFIG_HASH = "dev.dockyard.config-hash"
# The container's config as declared (JSON, no secret values): lets a plan say which
# field changed rather than two hashes.
CONFIG = "dev.dockyard.config"
BUILD_HASH = "dev.dockyard.build-hash"
# The app's `spec.project`, set only where it differs from the app's name: the engine
# names' prefix, so that a delete by the app's name finds the Compose project it took over.
PROJECT = "dev.dockyard.project"


# Engine names are built from the app's project (`App.project`: `spec.project`, else the
# app's name), never from the app's name itself; labels carry the app's name.


def container_name(project: str, service: str, replica: int) -> str:
    return f"{project}-{service}-{replica}"


def network_name(project: str, network: str) -> str:
    return f"{project}_{network}"


def volume_name(project: str, volume: str) -> str:
    return f"{project}_{volume}"


def resource_name(project: str, name: str, engine_name: str | None, external: bool) -> str:
    """A volume's or network's engine name: its `engineName` as is, an external one's
    `name` as is, else `<project>_<name>` (as Compose names them)."""
    if engine_name:
        return engine_name
    return name if external else f"{project}_{name}"


def owner_labels(app: str, project: str | None = None) -> dict[str, str]:
    labels = {MANAGED_BY: MANAGED_BY_VALUE, APP: app}
    if project and project != app:
        labels[PROJECT] = project
    return labels
