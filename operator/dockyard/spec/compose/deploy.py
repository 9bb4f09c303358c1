"""deploy, resources, restart, healthcheck and scale of a service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import hostconfig
from .context import Importer, ServiceCtx
from .values import (
    camel,
    cpus_value,
    ordered,
    scalar,
)


def on_healthcheck(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    path = f"{ctx.path}.healthcheck"
    if not isinstance(value, dict):
        imp.error(path, "healthcheck is a mapping")
        return
    out: dict[str, Any] = {}
    if value.get("disable"):
        ctx.out["healthcheck"] = {"disable": True}
        return
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    elif isinstance(test, list):
        test = [scalar(t) for t in test]
        if test[:1] == ["NONE"]:
            ctx.out["healthcheck"] = {"disable": True}
            return
    elif test is not None:
        imp.error(f"{path}.test", "test is a string or a list")
    if test is not None:
        out["test"] = test
    for key, item in value.items():
        if key in ("test", "disable"):
            continue
        if key in ("interval", "timeout", "start_period"):
            out[camel(key)] = item
        elif key == "retries":
            out["retries"] = item
        elif key == "start_interval":
            imp.unsupported(f"{path}.{key}", "no equivalent; interval is used throughout")
        else:
            imp.unsupported(f"{path}.{key}", "no equivalent for this healthcheck option")
    ctx.out["healthcheck"] = ordered(out, ["test", "interval", "timeout", "retries", "startPeriod"])


def on_restart(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    if value is False or value is None:
        value = "no"
    ctx.out["restart"] = str(value)


def on_deploy(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    path = f"{ctx.path}.deploy"
    for key, item in (value or {}).items():
        if key == "replicas":
            ctx.replicas = item
        elif key == "mode":
            if item == "global":
                ctx.out["placement"] = {"mode": "global"}
                imp.note(f"{path}.mode", "global: one replica on each placement host")
            elif item != "replicated":
                imp.unsupported(f"{path}.mode", f"deploy mode {item!r}")
        elif key == "resources":
            _resources(imp, ctx, f"{path}.resources", item or {})
        elif key == "restart_policy":
            _restart_policy(imp, ctx, f"{path}.restart_policy", item or {})
        elif key == "update_config":
            _update_config(imp, ctx, f"{path}.update_config", item or {})
        elif key == "rollback_config":
            imp.unsupported(
                f"{path}.{key}", "dockyard rolls back with the update settings themselves"
            )
        elif key == "placement":
            imp.unsupported(
                f"{path}.{key}",
                "Swarm placement constraints; use spec.placement.hostSelector",
            )
        elif key == "labels":
            imp.unsupported(f"{path}.{key}", "Swarm service labels (not container labels)")
        elif key == "endpoint_mode":
            imp.unsupported(f"{path}.{key}", "a Swarm load-balancing setting")
        else:
            imp.unsupported(f"{path}.{key}", "no equivalent for this deploy option")


def _resources(imp: Importer, ctx: ServiceCtx, path: str, value: dict[str, Any]) -> None:
    for key, item in value.items():
        if key == "limits":
            for lim, lim_value in (item or {}).items():
                if lim == "cpus":
                    ctx.resources["cpus"] = cpus_value(lim_value)
                elif lim == "memory":
                    ctx.resources["memory"] = lim_value
                elif lim == "pids":
                    ctx.resources["pids"] = lim_value
                else:
                    imp.unsupported(f"{path}.limits.{lim}", "no equivalent limit")
        elif key == "reservations":
            for res, res_value in (item or {}).items():
                if res == "memory":
                    ctx.resources["memoryReservation"] = res_value
                elif res == "devices":
                    ctx.resources["devices"] = hostconfig.device_requests(
                        imp, f"{path}.reservations.devices", res_value
                    )
                else:
                    imp.unsupported(
                        f"{path}.reservations.{res}",
                        "only memory can be reserved on a Docker engine",
                    )
        else:
            imp.unsupported(f"{path}.{key}", "no equivalent resource setting")


def _restart_policy(imp: Importer, ctx: ServiceCtx, path: str, value: dict[str, Any]) -> None:
    condition = str(value.get("condition", "any"))
    attempts = value.get("max_attempts")
    if condition in ("none", "no"):
        ctx.deploy_restart = "no"
    elif condition in ("any", "always"):
        ctx.deploy_restart = "always"
    elif condition == "unless-stopped":
        ctx.deploy_restart = "unless-stopped"
    elif condition == "on-failure":
        ctx.deploy_restart = f"on-failure:{attempts}" if attempts else "on-failure"
    else:
        imp.error(f"{path}.condition", f"unknown restart condition {condition!r}")
    if attempts and condition != "on-failure":
        imp.unsupported(
            f"{path}.max_attempts", "Docker limits restart attempts for on-failure only"
        )
    for key in value:
        if key in ("delay", "window"):
            imp.unsupported(f"{path}.{key}", "Docker's own restart back-off is used")
        elif key not in ("condition", "max_attempts"):
            imp.unsupported(f"{path}.{key}", "no equivalent restart option")


def _update_config(imp: Importer, ctx: ServiceCtx, path: str, value: dict[str, Any]) -> None:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("parallelism", "delay", "order", "monitor", "max_failure_ratio"):
            out[camel(key)] = item
        elif key == "failure_action":
            out["failureAction"] = item
        else:
            imp.unsupported(f"{path}.{key}", "no equivalent update option")
    if out:
        ctx.out["update"] = ordered(
            out,
            ["order", "parallelism", "delay", "monitor", "failureAction", "maxFailureRatio"],
        )


def on_scale(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    if ctx.replicas is None:
        ctx.replicas = value


def legacy_resource(target: str) -> Callable[[Importer, ServiceCtx, Any], None]:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        if value is not None:
            if target == "cpus":
                value = cpus_value(value)
            elif target == "cpuset":
                value = scalar(value)
            ctx.legacy_resources[target] = value

    return handler
