"""What plan and engine share: the desired objects dockyard creates and what an engine
holds as dockyard sees it. Plain frozen values, no Docker SDK, no I/O."""

from .desired import (
    BuildSpec,
    ContainerConfig,
    DesiredContainer,
    DesiredNetwork,
    DesiredVolume,
)
from .observed import (
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
    normalize_image_ref,
)

__all__ = [
    "BuildSpec",
    "ContainerConfig",
    "DesiredContainer",
    "DesiredNetwork",
    "DesiredVolume",
    "ObservedContainer",
    "ObservedNetwork",
    "ObservedState",
    "ObservedVolume",
    "normalize_image_ref",
]
