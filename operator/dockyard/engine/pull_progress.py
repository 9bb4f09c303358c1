"""A pull's progress: Docker's stream of per-layer events, summed up, and a bar per layer.

Docker reports each layer on its own ("Downloading" with bytes done and total,
"Extracting", "Pull complete", "Already exists", …). A terminal wants a line per pull
that moves: how many layers are done and how many megabytes of the ones being fetched
have arrived, e.g. `2/5 layers, 12.3/40.1 MB`; under it, as `docker pull` shows, a bar
for each layer still under way (`report`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DONE = ("Pull complete", "Already exists")
BAR = 20  # characters of a layer's bar


@dataclass
class _Layer:
    status: str = ""
    current: int = 0  # bytes downloaded
    total: int = 0
    extracted: int = 0  # bytes extracted (after the download)


class PullProgress:
    def __init__(self) -> None:
        self.layers: dict[str, _Layer] = {}

    def feed(self, event: Mapping[str, Any]) -> str | None:
        """What to show after `event` (the summary line, then a bar per layer under way),
        None when it changes nothing shown."""
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
        elif status == "Extracting" and detail.get("total"):
            layer.extracted = int(detail.get("current") or 0)
            layer.current = layer.total or int(detail["total"])
            layer.total = layer.total or int(detail["total"])
        elif status in ("Download complete", "Verifying Checksum") and layer.total:
            layer.current = layer.total
        return self.report()

    def report(self) -> str:
        """The summary line, then one line with a bar for each layer under way."""
        return "\n".join([self.line(), *self.bars()])

    def bars(self) -> list[str]:
        lines = []
        for layer_id, layer in self.layers.items():
            if layer.status in DONE or not layer.total:
                continue
            current = layer.extracted if layer.status == "Extracting" else layer.current
            lines.append(f"{layer_id[:12]:<12}  {layer.status:<11} {bar(current, layer.total)}")
        return lines

    def line(self) -> str:
        done = sum(1 for layer in self.layers.values() if layer.status in DONE)
        text = f"{done}/{len(self.layers)} layers"
        total = sum(layer.total for layer in self.layers.values())
        if total:
            current = sum(layer.current for layer in self.layers.values())
            text += f", {current / 1e6:.1f}/{total / 1e6:.1f} MB"
        return text


def bar(current: int, total: int) -> str:
    """`━━━━━╺───── 3.0/4.0 MB`: how much of `total` bytes is done."""
    filled = min(BAR, round(BAR * current / total)) if total else 0
    drawn = "━" * filled + "╺" * (filled < BAR) + "─" * max(0, BAR - filled - 1)
    return f"{drawn} {current / 1e6:.1f}/{total / 1e6:.1f} MB"
