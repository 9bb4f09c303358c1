"""Prometheus metrics of one controller (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "dockyard_reconciles",
            "Reconciles run, by app and result",
            ["app", "result"],
            registry=r,
        )
        self.duration = Histogram(
            "dockyard_reconcile_duration_seconds",
            "Time one reconcile took",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.errors = Counter(
            "dockyard_reconcile_errors", "Reconciles that failed, by app", ["app"], registry=r
        )
        self.operations = Counter(
            "dockyard_operations", "Engine operations run, by kind", ["kind"], registry=r
        )
        self.drift_repairs = Counter(
            "dockyard_drift_repairs",
            "Containers restored or replaced without any change to the spec",
            ["app"],
            registry=r,
        )
        self.restarts = Counter(
            "dockyard_unhealthy_restarts",
            "Containers restarted for being unhealthy",
            ["app"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "dockyard_queue_depth", "Apps waiting to be reconciled", registry=r
        )
        self.apps = Gauge("dockyard_apps", "Apps desired by the sources", registry=r)
        self.engine_up = Gauge(
            "dockyard_engine_up", "1 when the engine's event stream is up", registry=r
        )
        self.engine_requests = Gauge(
            "dockyard_engine_requests", "HTTP requests made to the engine", registry=r
        )

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
