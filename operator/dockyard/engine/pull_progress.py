"""A pull's progress in one line: Docker's stream of per-layer events, summed up.

Docker reports each layer on its own ("Downloading" with bytes done and total,
"Extracting", "Pull complete", "Already exists", …). A terminal wants one line per
pull that moves: how many layers are done and how many megabytes of the ones being
fetched have arrived, e.g. `2/5 layers, 12.3/40.1 MB`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DONE = ("Pull complete", "Already exists")


@dataclass
class _Layer:
    status: str = ""
    current: int = 0
    total: int = 0


class PullProgress:
    def __init__(self) -> None:
        self.layers: dict[str, _Layer] = {}

    def feed(self, event: Mapping[str, Any]) -> str | None:
        """The line to show after `event`, None when it changes nothing shown."""
        status = str(event.get("status") or "")
        layer_id = event.get("id")
        if not layer_id or status.startswith(("Pulling from", "Digest:", "Status:")):
            return status or None
        layer = self.layers.setdefault(str(layer_id), _Layer())
        layer.status = status
        detail = event.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            layer.current = int(detail.get("current") or 0)
            layer.total = int(detail["total"])
        elif status in ("Download complete", "Verifying Checksum") and layer.total:
            layer.current = layer.total
        return self.line()

    def line(self) -> str:
        done = sum(1 for layer in self.layers.values() if layer.status in DONE)
        text = f"{done}/{len(self.layers)} layers"
        total = sum(layer.total for layer in self.layers.values())
        if total:
            current = sum(layer.current for layer in self.layers.values())
            text += f", {current / 1e6:.1f}/{total / 1e6:.1f} MB"
        return text
