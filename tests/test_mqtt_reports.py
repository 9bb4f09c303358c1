"""The publisher's table of agents' reports: kept as bytes, read back whole."""

from __future__ import annotations

import json

from dockyard.sources.mqtt.reports import ReportTable


def test_a_report_is_kept_compact_and_read_back_whole() -> None:
    table = ReportTable()
    report = {"revision": 3, "converged": True, "apps": {"web": {"revision": 3}}}
    raw = json.dumps(report).encode()
    assert table.put("edge-1", raw)
    assert not table.put("edge-2", b"not json")
    assert not table.put("edge-2", b"[1, 2]")
    assert (table.revision("edge-1"), table.converged("edge-1")) == (3, True)
    assert (table.revision("edge-2"), table.converged("edge-2")) == (None, None)
    assert table["edge-1"] == report and table.get("edge-2") is None
    assert list(table) == ["edge-1"] and table.size() == len(raw)
