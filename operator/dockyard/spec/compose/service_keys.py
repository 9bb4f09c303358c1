"""Service keys for the process and its image: image, build, command, environment,
dependencies, labels, devices."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from ..imageref import HINT as IMAGE_HINT
from ..imageref import reference_problem
from .context import Importer, ServiceCtx
from .values import (
    key_values,
    label_map,
    ordered,
    scalar,
)


def on_image(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    if value is not None:
        ctx.out["image"] = str(value)
        problem = reference_problem(str(value))
        if problem:  # with the Compose path, before anything is created
            imp.error(f"{ctx.path}.image", problem, IMAGE_HINT)


def on_build(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    path = f"{ctx.path}.build"
    if value is None:
        return
    if isinstance(value, str):
        value = {"context": value}
    if not isinstance(value, dict):
        imp.error(path, "build is a folder path or a mapping with context:")
        return
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "context":
            context = str(item)
            if "://" in context or context.startswith("git@"):
                imp.unsupported(
                    f"{path}.context", "remote build contexts; dockyard builds a local folder"
                )
            out["context"] = context
        elif key == "dockerfile":
            out["dockerfile"] = str(item)
        elif key == "target":
            out["target"] = str(item)
        elif key == "args":
            args: dict[str, str] = {}
            for arg, arg_value in key_values(item).items():
                if arg_value is None:
                    if arg in imp.env:
                        args[arg] = imp.env[arg]
                    else:
                        imp.note(
                            f"{path}.args.{arg}",
                            "no value and not set in the environment: the Dockerfile "
                            "default applies, as in Compose",
                        )
                else:
                    args[arg] = scalar(arg_value)
            if args:
                out["args"] = args
        elif key.startswith("x-"):
            imp.note(f"{path}.{key}", "extension field, ignored")
        else:
            imp.unsupported(
                f"{path}.{key}",
                "dockyard builds support context, dockerfile, target and args only",
            )
    out.setdefault("context", ".")
    ctx.out["build"] = ordered(out, ["context", "dockerfile", "target", "args"])


def on_pull_policy(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    mapped = _PULL_POLICIES.get(str(value))
    if mapped is None:
        imp.unsupported(
            f"{ctx.path}.pull_policy",
            f"pull policy {value!r}; dockyard knows always, missing/if_not_present, never",
        )
        return
    if value == "build":
        imp.note(
            f"{ctx.path}.pull_policy",
            "build: dockyard builds the image from build: and never pulls it",
        )
    ctx.out["pullPolicy"] = mapped


def on_command(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    cmd = _command(imp, f"{ctx.path}.command", value)
    if cmd is not None:
        ctx.out["command"] = cmd


def on_entrypoint(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    cmd = _command(imp, f"{ctx.path}.entrypoint", value)
    if cmd is not None:
        ctx.out["entrypoint"] = cmd


def _command(imp: Importer, path: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            imp.error(path, f"cannot split the command like a shell: {exc}", "check quotes")
            return None
    if isinstance(value, list):
        return [scalar(v) for v in value]
    imp.error(path, "a command is a string or a list of strings")
    return None


def on_environment(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    env: list[dict[str, str]] = []
    for key, item in key_values(value).items():
        if item is None:
            if key in imp.env:
                env.append({"name": key, "value": imp.env[key]})
            else:
                imp.note(
                    f"{ctx.path}.environment.{key}",
                    "no value and not set in the environment: left unset, as in Compose",
                )
        else:
            env.append({"name": key, "value": scalar(item)})
    if env:
        ctx.out["env"] = env


def on_env_file(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    files: list[str] = []
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        path = f"{ctx.path}.env_file[{index}]"
        if isinstance(item, dict):
            file = str(item.get("path", ""))
            if item.get("format") not in (None, "dotenv"):
                imp.unsupported(f"{path}.format", "dockyard reads dotenv files only")
            if item.get("required", True) is False and not (imp.base_dir / file).is_file():
                imp.note(path, f"optional env file {file} does not exist: skipped")
                continue
            if item.get("required", True) is False:
                imp.note(path, "required: false is not kept: dockyard needs the file")
        elif item is None:
            continue
        else:
            file = str(item)
        if not file:
            imp.error(path, "env_file needs a path")
            continue
        files.append(file)
    if files:
        ctx.out["envFiles"] = list(dict.fromkeys(files))


def on_depends_on(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    deps: list[dict[str, Any]] = []
    for dep, config in (value or {}).items():
        path = f"{ctx.path}.depends_on.{dep}"
        config = config or {}
        if dep not in imp.svc_names:
            if config.get("required", True) is False:
                imp.note(path, f"optional dependency on {dep!r}, which is not defined")
                continue
            imp.error(
                path,
                f"service {ctx.raw!r} depends on undefined service {dep!r}",
                "check the service name",
            )
            continue
        condition = str(config.get("condition", "service_started"))
        mapped = _CONDITIONS.get(condition)
        if mapped is None:
            imp.error(
                f"{path}.condition",
                f"unknown condition {condition!r}",
                "use service_started, service_healthy or service_completed_successfully",
            )
            continue
        if config.get("restart"):
            imp.unsupported(f"{path}.restart", "restarting a service when its dependency restarts")
        if config.get("required", True) is False:
            imp.note(f"{path}.required", "dockyard treats the dependency as required")
        for key in config:
            if key not in ("condition", "restart", "required"):
                imp.unsupported(f"{path}.{key}", "no equivalent for this depends_on option")
        dep_out: dict[str, Any] = {"service": imp.svc_names[dep]}
        if mapped != "started":
            dep_out["condition"] = mapped
        deps.append(dep_out)
    if deps:
        ctx.out["dependsOn"] = deps


def on_labels(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    labels = label_map(value)
    if labels:
        ctx.out["labels"] = labels


def on_devices(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    devices: list[dict[str, Any]] = []
    for index, item in enumerate(value or []):
        path = f"{ctx.path}.devices[{index}]"
        if isinstance(item, dict):
            device = {"hostPath": str(item.get("source", ""))}
            if item.get("target"):
                device["containerPath"] = str(item["target"])
            if item.get("permissions"):
                device["permissions"] = str(item["permissions"])
        else:
            parts = str(item).split(":")
            if len(parts) > 3 or not parts[0]:
                imp.error(path, f"invalid device {item!r}", "write /dev/x[:/dev/y[:rwm]]")
                continue
            device = {"hostPath": parts[0]}
            if len(parts) >= 2:
                if len(parts) == 2 and set(parts[1]) <= set("rwm") and parts[1]:
                    device["permissions"] = parts[1]
                else:
                    device["containerPath"] = parts[1]
            if len(parts) == 3:
                device["permissions"] = parts[2]
        if not device["hostPath"]:
            imp.error(path, "a device needs a host path")
            continue
        devices.append(device)
    if devices:
        ctx.out["devices"] = devices


def on_profiles(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    pass  # applied before translation


def string_key(target: str) -> Callable[[Importer, ServiceCtx, Any], None]:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        if value is not None:
            ctx.out[target] = scalar(value)

    return handler


def passthrough_key(target: str) -> Callable[[Importer, ServiceCtx, Any], None]:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        if value is not None:
            ctx.out[target] = value

    return handler


def list_key(target: str) -> Callable[[Importer, ServiceCtx, Any], None]:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        items = [scalar(v) for v in (value or [])]
        if items:
            ctx.out[target] = list(dict.fromkeys(items))

    return handler


_PULL_POLICIES = {
    "always": "Always",
    "if_not_present": "IfNotPresent",
    "missing": "IfNotPresent",
    "never": "Never",
    "build": "Never",
}
_CONDITIONS = {
    "service_started": "started",
    "service_healthy": "healthy",
    "service_completed_successfully": "completed",
}
