"""Placement, without any engine: spread, caps, global mode, stickiness, selectors."""

from __future__ import annotations

from typing import Any

from dockyard.fleet.placement import HostInfo, place, selector_matches
from dockyard.spec.models import App, LabelSelector


def app(replicas: int = 3, placement: dict[str, Any] | None = None) -> App:
    svc: dict[str, Any] = {"name": "web", "image": "x", "replicas": replicas}
    if placement is not None:
        svc["placement"] = placement
    return App.model_validate({"metadata": {"name": "shop"}, "spec": {"services": [svc]}})


HOSTS = [
    HostInfo("a", {"role": "edge", "site": "lyon"}),
    HostInfo("b", {"role": "edge", "site": "paris"}),
    HostInfo("c", {"role": "core"}),
]
EDGE = {"hostSelector": {"matchLabels": {"role": "edge"}}}


def counts(result) -> dict[str, int]:
    return {h: len(a) for h, a in result.by_host.items()}


def test_no_placement_runs_everything_on_the_default_host():
    result = place(app(2), HOSTS, "local")
    assert counts(result) == {"local": 2}


def test_replicated_spreads_over_matching_hosts():
    result = place(app(3, EDGE), HOSTS, "local")
    assert counts(result) == {"a": 2, "b": 1}
    assert result.errors == ()


def test_max_per_host_caps_and_reports_what_does_not_fit():
    result = place(app(3, {**EDGE, "maxPerHost": 1}), HOSTS, "local")
    assert counts(result) == {"a": 1, "b": 1}
    assert "replica 3 has no host" in result.errors[0]
    assert "maxPerHost 1" in result.errors[0]


def test_global_puts_one_replica_on_every_matching_host():
    result = place(app(1, {**EDGE, "mode": "global"}), HOSTS, "local")
    assert {h: [a.replica for a in asg] for h, asg in result.by_host.items()} == {
        "a": [1],
        "b": [1],
    }


def test_replicas_stay_where_they_run():
    current = {("web", 1): "b", ("web", 2): "b"}
    result = place(app(2, EDGE), HOSTS, "local", current)
    assert counts(result) == {"b": 2}


def test_a_host_that_stops_matching_loses_its_replicas():
    current = {("web", 1): "b", ("web", 2): "b"}
    moved = [HOSTS[0], HostInfo("b", {"role": "core"}), HOSTS[2]]
    result = place(app(2, EDGE), moved, "local", current)
    assert counts(result) == {"a": 2}


def test_unschedulable_hosts_are_skipped():
    dark = [HOSTS[0], HostInfo("b", {"role": "edge"}, schedulable=False)]
    assert counts(place(app(2, EDGE), dark, "local")) == {"a": 2}


def test_no_matching_host_is_a_clear_error():
    result = place(app(1, {"hostSelector": {"matchLabels": {"role": "gpu"}}}), HOSTS, "local")
    assert result.by_host == {}
    assert "no reachable host matches its hostSelector" in result.errors[0]
    assert "gpu" in result.errors[0]


def test_match_expressions():
    sel = LabelSelector.model_validate(
        {
            "matchExpressions": [
                {"key": "role", "operator": "In", "values": ["edge", "core"]},
                {"key": "site", "operator": "NotIn", "values": ["paris"]},
                {"key": "gpu", "operator": "DoesNotExist"},
            ]
        }
    )
    assert [h.name for h in HOSTS if selector_matches(sel, h.labels)] == ["a", "c"]
    exists = LabelSelector.model_validate(
        {"matchExpressions": [{"key": "site", "operator": "Exists"}]}
    )
    assert [h.name for h in HOSTS if selector_matches(exists, h.labels)] == ["a", "b"]
