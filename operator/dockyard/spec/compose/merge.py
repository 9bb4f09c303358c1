"""Merging Compose files and `extends` with Compose's override rules (plain data)."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from .values import (
    key_values,
)
from .yamlfile import RESET, Override, Reset


def normalise_service(svc: dict[str, Any]) -> dict[str, Any]:
    """Bring the keys that have several forms into one, so files and extends merge simply."""
    out = dict(svc)
    build = out.get("build")
    if isinstance(build, str):
        out["build"] = {"context": build}
    if isinstance(out.get("build"), dict) and "args" in out["build"]:
        out["build"] = {**out["build"], "args": key_values(out["build"]["args"])}
    for key in ("environment",):
        if key in out and not isinstance(out[key], Reset | Override):
            out[key] = key_values(out[key])
    if "labels" in out and not isinstance(out["labels"], Reset | Override):
        out["labels"] = key_values(out["labels"])
    deps = out.get("depends_on")
    if isinstance(deps, list):
        out["depends_on"] = {str(d): {"condition": "service_started"} for d in deps}
    nets = out.get("networks")
    if isinstance(nets, list):
        out["networks"] = {str(n): None for n in nets}
    env_file = out.get("env_file")
    if isinstance(env_file, str | dict):
        out["env_file"] = [env_file]
    tmpfs = out.get("tmpfs")
    if isinstance(tmpfs, str):
        out["tmpfs"] = [tmpfs]
    return out


_OVERRIDE_PATHS = {"command", "entrypoint"}


_UNIQUE_ATTRS = {
    "volumes",
    "secrets",
    "configs",
    "ports",
    "expose",
    "env_file",
    "cap_add",
    "cap_drop",
    "dns",
    "dns_search",
    "profiles",
    "tmpfs",
    "devices",
}


def _unique_key(attr: str, item: Any) -> str:
    """Compose's unique key for an entry of a service's ports, volumes, secrets, ... list."""
    if attr == "volumes":
        if isinstance(item, dict):
            return str(item.get("target"))
        parts = str(item).split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    if attr in ("secrets", "configs"):
        base = "/run/secrets" if attr == "secrets" else ""
        if isinstance(item, dict):
            return str(item.get("target") or f"{base}/{item.get('source')}")
        return f"{base}/{item}"
    if attr == "ports" and isinstance(item, dict):
        return "{}:{}:{}/{}".format(
            item.get("host_ip", "0.0.0.0"),
            item.get("published", ""),
            item.get("target"),
            item.get("protocol", "tcp"),
        )
    if attr == "devices" and isinstance(item, str):
        parts = item.split(":")
        return parts[1] if len(parts) > 1 and parts[1].startswith("/") else parts[0]
    if attr == "env_file" and isinstance(item, dict):
        return str(item.get("path"))
    return str(item)


def merge(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    """Compose's override rules: mappings merge, most sequences append (unique by key)."""
    if isinstance(over, Reset):
        return RESET
    if isinstance(over, Override):
        return over.value
    if len(path) == 3 and path[0] == "services" and path[2] in _OVERRIDE_PATHS:
        return over
    if path[-2:] == ("healthcheck", "test") and len(path) == 4:
        return over
    if isinstance(base, dict) and isinstance(over, dict):
        result = dict(base)
        for key, value in over.items():
            if key in result and not key.startswith("x-"):
                merged = merge(result[key], value, (*path, key))
                if merged is RESET:
                    del result[key]
                else:
                    result[key] = merged
            elif isinstance(value, Reset):
                result.pop(key, None)
            else:
                result[key] = value.value if isinstance(value, Override) else value
        return result
    if isinstance(base, dict) and over is None:
        return base
    if isinstance(base, list) and isinstance(over, list):
        combined = [*base, *over]
        if not (len(path) == 3 and path[0] == "services" and path[2] in _UNIQUE_ATTRS):
            return combined
        result_list: list[Any] = []
        index: dict[str, int] = {}
        for item in combined:
            key = _unique_key(path[2], item)
            if key in index:
                result_list[index[key]] = item
            else:
                index[key] = len(result_list)
                result_list.append(item)
        return result_list
    return over


def strip_markers(node: Any) -> Any:
    if isinstance(node, Override):
        return strip_markers(node.value)
    if isinstance(node, dict):
        return {k: strip_markers(v) for k, v in node.items() if not isinstance(v, Reset)}
    if isinstance(node, list):
        return [strip_markers(v) for v in node if not isinstance(v, Reset)]
    return node


def is_host_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", source))


def _rebase(raw: str, from_dir: Path, to_dir: Path) -> str:
    if raw.startswith(("/", "~")) or "://" in raw or raw.startswith("git@"):
        return raw
    rel = os.path.relpath(from_dir / raw, to_dir)
    rel = rel.replace(os.sep, "/")
    return rel if rel.startswith(".") else f"./{rel}"


def rebase_service(svc: dict[str, Any], from_dir: Path, to_dir: Path) -> dict[str, Any]:
    """Paths in a service extended from a file in another folder are relative to that folder."""
    out = copy.deepcopy(svc)
    build = out.get("build")
    if isinstance(build, dict) and isinstance(build.get("context", "."), str):
        build["context"] = _rebase(str(build.get("context", ".")), from_dir, to_dir)
    env_files = out.get("env_file")
    if isinstance(env_files, list):
        rebased: list[Any] = []
        for item in env_files:
            if isinstance(item, dict) and "path" in item:
                rebased.append({**item, "path": _rebase(str(item["path"]), from_dir, to_dir)})
            elif isinstance(item, str):
                rebased.append(_rebase(item, from_dir, to_dir))
            else:
                rebased.append(item)
        out["env_file"] = rebased
    volumes = out.get("volumes")
    if isinstance(volumes, list):
        new: list[Any] = []
        for item in volumes:
            if isinstance(item, str):
                parts = item.split(":")
                if len(parts) > 1 and parts[0].startswith("."):
                    parts[0] = _rebase(parts[0], from_dir, to_dir)
                new.append(":".join(parts))
            elif isinstance(item, dict) and item.get("type") == "bind" and item.get("source"):
                new.append({**item, "source": _rebase(str(item["source"]), from_dir, to_dir)})
            else:
                new.append(item)
        out["volumes"] = new
    return out


def rebase_doc(doc: dict[str, Any], from_dir: Path, to_dir: Path) -> dict[str, Any]:
    """An included project's relative paths, relative to this project's folder instead."""
    if from_dir.resolve() == to_dir.resolve():
        return doc
    out = dict(doc)
    services = out.get("services") or {}
    out["services"] = {
        name: rebase_service(svc, from_dir, to_dir) if isinstance(svc, dict) else svc
        for name, svc in services.items()
    }
    for section in ("secrets", "configs"):
        defs = out.get(section) or {}
        out[section] = {
            name: (
                {**d, "file": _rebase(str(d["file"]), from_dir, to_dir)}
                if isinstance(d, dict) and d.get("file")
                else d
            )
            for name, d in defs.items()
        }
    return out
