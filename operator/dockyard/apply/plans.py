"""What each app's plan is on a host, before anything runs: planning without the
executor, so a no-op `apply` or `diff` loads neither asyncio nor the code that runs
operations (apply/converge.py runs them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.engine.build import build_tag, context_digest
from dockyard.plan.converge import plan_converge
from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Plan
from dockyard.spec.load import LoadedApp, Secret
from dockyard.state.observed import ObservedState


@dataclass(frozen=True)
class Work:
    """One app's plan on the host, with the secret values its containers get."""

    app: str
    plan: Plan
    secrets: Mapping[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class AppPlan:
    loaded: LoadedApp
    desired: DesiredApp
    plan: Plan

    def work(self) -> Work:
        return Work(self.loaded.name, self.plan, self.loaded.secrets)


def build_tags(loaded: LoadedApp) -> dict[str, str]:
    tags: dict[str, str] = {}
    for svc in loaded.app.spec.services:
        if svc.build is not None:
            tags[svc.name] = build_tag(loaded.name, svc.name, svc.image, context_digest(svc.build))
    return tags


def plan_apps(loaded_apps: list[LoadedApp], observed: ObservedState) -> list[AppPlan]:
    plans = []
    for loaded in loaded_apps:
        desired = desired_app(loaded, build_tags(loaded))
        plans.append(AppPlan(loaded, desired, plan_converge(desired, observed)))
    return plans
