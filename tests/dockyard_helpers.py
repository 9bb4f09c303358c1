"""Applying manifests in tests the way the CLI does: load, snapshot, plan, run."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dockyard.apply.converge import AppPlan, converge, plan_apps
from dockyard.apply.executor import ApplyResult
from dockyard.engine.client import Engine
from dockyard.spec.load import LoadedApp, load_paths


@dataclass
class Applied:
    plans: list[AppPlan]
    result: ApplyResult

    @property
    def operations(self) -> list[str]:
        return [op.id for p in self.plans for op in p.plan.operations]

    @property
    def errors(self) -> list[str]:
        return [e for p in self.plans for e in p.plan.errors]


def load(path: Path, environ: Mapping[str, str] | None = None) -> list[LoadedApp]:
    return load_paths([path], environ=dict(environ or {})).apps


def apply(path: Path, environ: Mapping[str, str] | None = None) -> Applied:
    engine = Engine()
    try:
        plans = plan_apps(load(path, environ), engine.snapshot())
        result = asyncio.run(converge(engine, [p.work() for p in plans])).result
    finally:
        engine.close()
    return Applied(plans, result)


def plan(path: Path, environ: Mapping[str, str] | None = None) -> list[AppPlan]:
    engine = Engine()
    try:
        return plan_apps(load(path, environ), engine.snapshot())
    finally:
        engine.close()
