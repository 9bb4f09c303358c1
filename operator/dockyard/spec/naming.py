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


def owner_labels(app: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGED_BY_VALUE, APP: app}
