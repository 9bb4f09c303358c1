"""Secrets: top-level definitions, and the secrets a service mounts."""

from __future__ import annotations

from typing import Any

from .context import Importer, ServiceCtx


def secret_definition(imp: Importer, raw: str, sec: dict[str, Any]) -> dict[str, Any] | None:
    path = f"secrets.{raw}"
    out: dict[str, Any] = {"name": imp.sec_names[raw]}
    for key, value in sec.items():
        if key == "file":
            out["file"] = str(value)
        elif key == "environment":
            out["env"] = str(value)
        elif key in ("external", "name", "driver", "driver_opts", "template_driver"):
            imp.unsupported(
                f"{path}.{key}",
                "a Swarm secret; dockyard reads secrets from a file or an environment variable",
            )
        elif key == "content":
            out["content"] = str(value)
        elif key.startswith("x-"):
            imp.note(f"{path}.{key}", "extension field, ignored")
        else:
            imp.unsupported(f"{path}.{key}", "no equivalent for this secret option")
    sources = [k for k in ("file", "env", "content") if k in out]
    if not sources:
        imp.error(
            path,
            "dockyard needs a secret to come from file:, environment: or content:",
            "write e.g. file: ./secrets/" + raw,
        )
        return None
    if len(sources) > 1:
        imp.error(path, "set only one of file, environment and content")
        return None
    return out


# -- services -----------------------------------------------------------------------------


def on_secrets(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    mounts: list[dict[str, Any]] = []
    for index, item in enumerate(value or []):
        path = f"{ctx.path}.secrets[{index}]"
        if isinstance(item, str):
            item = {"source": item}
        if not isinstance(item, dict) or not isinstance(item.get("source"), str):
            imp.error(path, "a secret is a name or a mapping with source:")
            continue
        source = item["source"]
        if source not in imp.sec_names:
            imp.error(
                path,
                f"service {ctx.raw!r} refers to undefined secret {source!r}",
                f"declare it under the top-level secrets: with file: ./{source}",
            )
            continue
        mount: dict[str, Any] = {"name": imp.sec_names[source]}
        target = item.get("target")
        if target is not None:
            target = str(target)
            mount["mountPath"] = target if target.startswith("/") else f"/run/secrets/{target}"
        elif imp.sec_names[source] != source:
            mount["mountPath"] = f"/run/secrets/{source}"
        owner_and_mode(imp, path, item, mount)
        for key in item:
            if key not in ("source", "target", "uid", "gid", "mode"):
                imp.unsupported(f"{path}.{key}", "no equivalent for this secret option")
        mounts.append(mount)
    if mounts:
        ctx.out["secrets"] = mounts


def owner_and_mode(imp: Importer, path: str, item: dict[str, Any], mount: dict[str, Any]) -> None:
    """A secret's or config's `uid`, `gid` (numbers) and `mode` onto its mount."""
    for key in ("uid", "gid"):
        if item.get(key) is not None:
            try:
                mount[key] = int(str(item[key]))
            except ValueError:
                imp.error(f"{path}.{key}", f"{key} must be a number")
    if item.get("mode") is not None:
        mode = item["mode"]
        mount["mode"] = mode if isinstance(mode, int) else str(mode)
