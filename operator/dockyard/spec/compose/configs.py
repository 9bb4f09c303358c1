"""Compose `configs`: files a service sees at a path, from a file, inline content or an
environment variable.

As Compose does without Swarm: a config from a `file` is bind-mounted read-only; one from
`content` or `environment` becomes one of the app's secrets (delivered as a file, mode
0444 unless given), since its value must reach the container without a file on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import Importer, ServiceCtx
from .secrets import owner_and_mode

__all__ = ["PENDING_KEY", "ConfigDef", "config_definitions", "service_configs"]

# The service's raw `configs:` kept until the service's own secrets and volumes are known.
PENDING_KEY = "_configs"


@dataclass(frozen=True)
class ConfigDef:
    file: str | None  # bind-mounted
    secret: str | None  # or: the app secret that holds it


def config_definitions(
    imp: Importer, configs: dict[str, dict[str, Any]], taken: set[str], label: Any
) -> tuple[dict[str, ConfigDef], list[dict[str, Any]]]:
    """Each top-level config, and the app secrets made for those with content or env.
    `taken`: secret names already used; `label`: Compose name -> DNS label."""
    defs: dict[str, ConfigDef] = {}
    secrets: list[dict[str, Any]] = []
    for raw, cfg in configs.items():
        path = f"configs.{raw}"
        sources = [k for k in ("file", "content", "environment") if k in cfg]
        for key in cfg:
            if key in ("external", "name", "template_driver", "driver", "driver_opts"):
                imp.unsupported(
                    f"{path}.{key}", "a Swarm config; give it a file, content or environment"
                )
            elif key not in ("file", "content", "environment") and not key.startswith("x-"):
                imp.unsupported(f"{path}.{key}", "no equivalent for this config option")
        if len(sources) != 1:
            if not any(k in cfg for k in ("external", "name")):
                imp.error(
                    path,
                    "a config needs exactly one of file, content and environment",
                    f"write e.g. file: ./{raw}",
                )
            continue
        if sources[0] == "file":
            defs[raw] = ConfigDef(str(cfg["file"]), None)
            continue
        name = str(label(raw))
        if name in taken:
            name = f"config-{name}"
        taken.add(name)
        secret: dict[str, Any] = {"name": name}
        if sources[0] == "content":
            secret["content"] = str(cfg["content"])
        else:
            secret["env"] = str(cfg["environment"])
        secrets.append(secret)
        defs[raw] = ConfigDef(None, name)
    return defs, secrets


def service_configs(imp: Importer, ctx: ServiceCtx, defs: dict[str, ConfigDef]) -> None:
    value = ctx.out.pop(PENDING_KEY, None)
    for index, item in enumerate(value or []):
        path = f"{ctx.path}.configs[{index}]"
        if isinstance(item, str):
            item = {"source": item}
        if not isinstance(item, dict) or not isinstance(item.get("source"), str):
            imp.error(path, "a config is a name or a mapping with source:")
            continue
        source = item["source"]
        if source not in defs:
            imp.error(
                path,
                f"service {ctx.raw!r} refers to undefined config {source!r}",
                f"declare it under the top-level configs: with file: ./{source}",
            )
            continue
        target = str(item.get("target") or source)
        target = target if target.startswith("/") else f"/{target}"
        found = defs[source]
        for key in item:
            if key not in ("source", "target", "uid", "gid", "mode"):
                imp.unsupported(f"{path}.{key}", "no equivalent for this config option")
        if found.file is not None:
            for key in ("uid", "gid", "mode"):
                if item.get(key) is not None:
                    imp.unsupported(
                        f"{path}.{key}",
                        "a config from a file is bind-mounted as it is (as Compose does): "
                        "its owner and mode are the file's",
                    )
            ctx.out.setdefault("volumeMounts", []).append(
                {"hostPath": found.file, "mountPath": target, "readOnly": True}
            )
            continue
        mount: dict[str, Any] = {"name": found.secret, "mountPath": target, "mode": 0o444}
        owner_and_mode(imp, path, item, mount)
        ctx.out.setdefault("secrets", []).append(mount)
