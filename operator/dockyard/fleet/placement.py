"""Placement: which host runs which replica. Pure: hosts and current assignments in,
assignments out, so it is tested exhaustively without any engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.spec.models import App, LabelSelector, Placement, Service


@dataclass(frozen=True)
class HostInfo:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    # False when the host is dark and its replicas may move (after the reschedule grace).
    schedulable: bool = True


@dataclass(frozen=True)
class Assignment:
    service: str
    replica: int
    host: str


@dataclass(frozen=True)
class PlacementResult:
    by_host: Mapping[str, tuple[Assignment, ...]]
    errors: tuple[str, ...] = ()

    def host_of(self, service: str, replica: int) -> str | None:
        for host, assignments in self.by_host.items():
            for a in assignments:
                if a.service == service and a.replica == replica:
                    return host
        return None


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every matchLabels and matchExpressions holds."""
    if selector is None:
        return True
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator == "In" and (not present or labels[req.key] not in req.values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in req.values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


def place(
    app: App,
    hosts: Sequence[HostInfo],
    default_host: str,
    current: Mapping[tuple[str, int], str] | None = None,
) -> PlacementResult:
    """Assign every replica of every service to a host.

    - No placement (on the service or the app): every replica on `default_host`.
    - `mode: replicated`: replicas spread over the matching schedulable hosts, at most
      `maxPerHost` each; a replica stays where it runs (`current`) while that host still
      matches, so a returning host does not pull replicas back (no churn).
    - `mode: global`: one replica on every matching schedulable host (replica 1 there;
      container names are per engine, so they never clash).
    """
    current = current or {}
    by_host: dict[str, list[Assignment]] = {}
    errors: list[str] = []
    ordered = sorted(hosts, key=lambda h: h.name)
    for svc in app.spec.services:
        placement = svc.placement or app.spec.placement
        if placement is None:
            for replica in range(1, svc.replicas + 1):
                by_host.setdefault(default_host, []).append(
                    Assignment(svc.name, replica, default_host)
                )
            continue
        candidates = [
            h
            for h in ordered
            if h.schedulable and selector_matches(placement.host_selector, h.labels)
        ]
        if placement.mode == "global":
            for h in candidates:
                by_host.setdefault(h.name, []).append(Assignment(svc.name, 1, h.name))
            if not candidates:
                errors.append(_no_host(svc, placement))
            continue
        errors.extend(_spread(svc, placement, candidates, current, by_host))
    return PlacementResult({h: tuple(a) for h, a in by_host.items()}, tuple(errors))


def _spread(
    svc: Service,
    placement: Placement,
    candidates: list[HostInfo],
    current: Mapping[tuple[str, int], str],
    by_host: dict[str, list[Assignment]],
) -> list[str]:
    names = {h.name for h in candidates}
    cap = placement.max_per_host
    load = {h.name: 0 for h in candidates}
    chosen: dict[int, str] = {}
    # First keep replicas where they already run (stickiness), within the cap.
    for replica in range(1, svc.replicas + 1):
        host = current.get((svc.name, replica))
        if host in names and (cap is None or load[host] < cap):
            chosen[replica] = host
            load[host] += 1
    errors: list[str] = []
    for replica in range(1, svc.replicas + 1):
        if replica in chosen:
            continue
        room = [h for h in load if cap is None or load[h] < cap]
        if not room:
            errors.append(
                f"service {svc.name}: replica {replica} has no host: "
                + (
                    _no_host(svc, placement)
                    if not candidates
                    else f"{len(candidates)} matching host(s) are full (maxPerHost {cap})"
                )
            )
            continue
        host = min(room, key=lambda h: (load[h], h))
        chosen[replica] = host
        load[host] += 1
    for replica, host in sorted(chosen.items()):
        by_host.setdefault(host, []).append(Assignment(svc.name, replica, host))
    return errors


def _no_host(svc: Service, placement: Placement) -> str:
    selector = placement.host_selector
    shown = selector.model_dump(by_alias=True, exclude_defaults=True) if selector else {}
    return (
        f"service {svc.name}: no reachable host matches its hostSelector {shown}; "
        "label a DockerHost to match, or change the selector"
    )
