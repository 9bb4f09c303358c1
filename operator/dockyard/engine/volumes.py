"""Named volumes on one engine: create (with dockyard's labels) and remove."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.spec import naming
from dockyard.state.desired import DesiredVolume

if TYPE_CHECKING:
    from .client import Engine


def create_volume(engine: Engine, vol: DesiredVolume) -> None:
    labels = dict(vol.labels)
    labels.update(naming.owner_labels(vol.app, vol.project))
    engine._call(
        f"create volume {vol.name}",
        lambda: engine.api.create_volume(
            vol.name,
            driver=vol.driver,
            driver_opts=dict(vol.driver_opts) or None,
            labels=labels,
        ),
    )


def remove_volume(engine: Engine, name: str) -> None:
    engine._call(f"remove volume {name}", lambda: engine.api.remove_volume(name), gone_ok=True)
