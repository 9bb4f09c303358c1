"""The agents' reports as the publisher holds them: flat in memory at fleet scale.

A report is a JSON document of about a kilobyte; parsed into dicts it takes ten times
that, 100 MB for 10,000 agents. The table keeps each report as the bytes it came in and
parses out only what the publisher decides on (revision, converged); a whole report is
parsed again only when someone asks to see it (`/agents`, `dockyard hosts`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class ReportTable(Mapping[str, dict[str, Any]]):
    """agent id -> its last report (a fresh dict on each read)."""

    def __init__(self) -> None:
        self._raw: dict[str, bytes] = {}
        self._brief: dict[str, tuple[int | None, bool | None]] = {}

    def put(self, agent: str, raw: bytes) -> bool:
        """Keep `raw` if it is a JSON object; False (and nothing kept) otherwise."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return False
        if not isinstance(body, dict):
            return False
        revision = body.get("revision")
        converged = body.get("converged")
        self._raw[agent] = bytes(raw)
        self._brief[agent] = (
            revision if isinstance(revision, int) and not isinstance(revision, bool) else None,
            converged if isinstance(converged, bool) else None,
        )
        return True

    def revision(self, agent: str) -> int | None:
        return self._brief.get(agent, (None, None))[0]

    def converged(self, agent: str) -> bool | None:
        return self._brief.get(agent, (None, None))[1]

    def size(self) -> int:
        """Bytes of report text held."""
        return sum(len(r) for r in self._raw.values())

    def __getitem__(self, agent: str) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self._raw[agent])
        return body

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)
