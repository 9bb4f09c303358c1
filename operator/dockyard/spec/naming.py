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


def container_name(app: str, service: str, replica: int) -> str:
    return f"{app}-{service}-{replica}"


def network_name(app: str, network: str) -> str:
    return f"{app}_{network}"


def volume_name(app: str, volume: str) -> str:
    return f"{app}_{volume}"


def resource_name(app: str, name: str, engine_name: str | None, external: bool) -> str:
    """A volume's or network's engine name: its `engineName` as is, an external one's
    `name` as is, else `<app>_<name>` (as Compose names them)."""
    if engine_name:
        return engine_name
    return name if external else f"{app}_{name}"


def owner_labels(app: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGED_BY_VALUE, APP: app}
