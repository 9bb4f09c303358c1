"""Volumes: top-level definitions, and a service's volume, bind and tmpfs mounts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .context import Importer, ServiceCtx
from .merge import is_host_path
from .names import resource_name
from .values import (
    label_map,
    ordered,
    scalar,
    tmpfs_size,
)

_MOUNT_ORDER = ["volume", "hostPath", "tmpfs", "mountPath", "readOnly"]
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def volume_definition(imp: Importer, raw: str, vol: dict[str, Any]) -> dict[str, Any]:
    path = f"volumes.{raw}"
    out: dict[str, Any] = {"name": imp.vol_names[raw]}
    external = vol.get("external")
    if isinstance(external, dict):  # legacy `external: {name: x}`
        if external.get("name"):
            vol = {**vol, "name": external["name"]}
        external = True
    for key, value in vol.items():
        if key == "external":
            if external:
                out["external"] = True
        elif key == "driver":
            out["driver"] = str(value)
        elif key == "driver_opts":
            out["driverOpts"] = {str(k): scalar(v) for k, v in (value or {}).items()}
        elif key == "labels":
            out["labels"] = label_map(value)
        elif key == "name":
            pass
        elif key.startswith("x-"):
            imp.note(f"{path}.{key}", "extension field, ignored")
        else:
            imp.unsupported(f"{path}.{key}", "no equivalent for this volume option")
    resource_name(imp, path, raw, vol.get("name"), bool(external), out, imp.vol_names)
    return out


def on_volumes(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    mounts: list[dict[str, Any]] = ctx.out.setdefault("volumeMounts", [])
    for index, item in enumerate(value or []):
        path = f"{ctx.path}.volumes[{index}]"
        if isinstance(item, str):
            mount = _short_volume(imp, ctx, path, item)
        elif isinstance(item, dict):
            mount = _long_volume(imp, ctx, path, item)
        else:
            imp.error(path, "a volume is a string or a mapping")
            mount = None
        if mount is not None:
            mounts.append(ordered(mount, _MOUNT_ORDER))
    if not mounts:
        del ctx.out["volumeMounts"]


def _short_volume(imp: Importer, ctx: ServiceCtx, path: str, text: str) -> dict[str, Any] | None:
    parts = text.split(":")
    if len(parts) > 3 or any(p == "" for p in parts):
        unset = sorted(imp.unset_reported)
        imp.error(
            path,
            f"invalid volume {text!r}: empty or extra section between colons",
            (f"set {', '.join(unset)} (not set, so it became empty); " if unset else "")
            + "write SOURCE:TARGET[:ro], e.g. data:/var/lib/data or ./conf:/etc/app:ro",
        )
        return None
    if len(parts) == 1:
        return {"mountPath": parts[0]}
    source, target = parts[0], parts[1]
    mount: dict[str, Any] = {"mountPath": target}
    if len(parts) == 3:
        for option in parts[2].split(","):
            if option == "ro":
                mount["readOnly"] = True
            elif option == "rw":
                pass
            elif option in ("cached", "delegated", "consistent"):
                imp.note(f"{path}", f"{option}: a Docker Desktop hint, no effect on Linux")
            elif option in ("z", "Z"):
                mount["selinux"] = option
            elif option == "nocopy":
                mount["noCopy"] = True
            elif option in _PROPAGATIONS:
                mount["propagation"] = option
            else:
                imp.unsupported(path, f"volume option {option!r} is not applied")
    _volume_source(imp, ctx, path, source, is_host_path(source), mount)
    return mount


def _volume_source(
    imp: Importer, ctx: ServiceCtx, path: str, source: str, bind: bool, mount: dict[str, Any]
) -> None:
    if bind:
        if source.startswith("~"):
            if source == "~" or source.startswith("~/"):
                home = imp.process_env.get("HOME") or str(Path.home())
                expanded = home + source[1:]
            else:
                expanded = os.path.expanduser(source)
            imp.note(path, f"{source} is expanded to {expanded}")
            source = expanded
        mount["hostPath"] = source
    elif source not in imp.vol_names:
        imp.error(
            path,
            f"service {ctx.raw!r} refers to undefined volume {source!r}",
            f"declare it under the top-level volumes: ({source}: {{}})",
        )
    else:
        mount["volume"] = imp.vol_names[source]


def _long_volume(
    imp: Importer, ctx: ServiceCtx, path: str, item: dict[str, Any]
) -> dict[str, Any] | None:
    kind = item.get("type", "volume")
    target = item.get("target")
    if not isinstance(target, str) or not target:
        imp.error(f"{path}.target", "a volume needs a target path")
        return None
    mount: dict[str, Any] = {"mountPath": target}
    if item.get("read_only"):
        mount["readOnly"] = True
    source = item.get("source")
    if kind == "bind":
        if not source:
            imp.error(f"{path}.source", "a bind mount needs a source path")
            return None
        _volume_source(imp, ctx, path, str(source), True, mount)
    elif kind == "volume":
        if source:
            _volume_source(imp, ctx, path, str(source), False, mount)
    elif kind == "tmpfs":
        tmpfs: dict[str, Any] = {}
        for key, value in (item.get("tmpfs") or {}).items():
            if key == "size":
                tmpfs["size"] = value
            elif key == "mode":
                tmpfs["mode"] = value if isinstance(value, int) else str(value)
            else:
                imp.unsupported(f"{path}.tmpfs.{key}", "no equivalent for this tmpfs option")
        mount["tmpfs"] = tmpfs
    else:
        imp.unsupported(path, f"{kind} mounts; dockyard mounts volume, bind and tmpfs")
        return None
    for key, value in item.items():
        if key in ("type", "target", "source", "read_only", "tmpfs"):
            continue
        if key == "consistency":
            imp.note(f"{path}.consistency", "a Docker Desktop hint, no effect on Linux")
        elif key == "bind" and isinstance(value, dict):
            for opt, val in value.items():
                if opt == "create_host_path":
                    continue
                if opt == "propagation" and val in _PROPAGATIONS:
                    mount["propagation"] = val
                elif opt == "selinux" and val in ("z", "Z"):
                    mount["selinux"] = val
                else:
                    imp.unsupported(f"{path}.bind.{opt}", "bind option not applied")
        elif key == "volume" and isinstance(value, dict):
            for opt, val in value.items():
                if opt == "nocopy":
                    if val:
                        mount["noCopy"] = True
                else:
                    imp.unsupported(f"{path}.volume.{opt}", "volume option not applied")
        else:
            imp.unsupported(f"{path}.{key}", "mount option not applied")
    return mount


def on_tmpfs(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    mounts: list[dict[str, Any]] = ctx.out.setdefault("volumeMounts", [])
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        path = f"{ctx.path}.tmpfs[{index}]"
        target, _, options = str(item).partition(":")
        tmpfs: dict[str, Any] = {}
        for option in filter(None, options.split(",")):
            key, _, opt_value = option.partition("=")
            if key == "size":
                tmpfs["size"] = tmpfs_size(opt_value)
            elif key == "mode":
                tmpfs["mode"] = opt_value
            else:
                imp.unsupported(path, f"tmpfs option {option!r} is not applied")
        mounts.append({"mountPath": target, "tmpfs": tmpfs})
