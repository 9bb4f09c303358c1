"""Loading Compose files: `.env` and interpolation, reading each file, `extends`, profiles."""

from __future__ import annotations

import copy
import re
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..envfile import read_env_file
from ..errors import FieldError, SpecError
from ..interpolate import InterpolationError, interpolate
from .context import Importer
from .merge import merge, normalise_service, rebase_service
from .yamlfile import Override, load_compose_yaml

_VAR_REF = re.compile(
    r"\$(?:\$|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)|\{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)(?P<op>:?[-?+])?)"
)


def interpolation_env(imp: Importer) -> Mapping[str, str]:
    # As Compose: `--env-file`s replace the project's `.env`; the process environment wins.
    # Inside the files `${VAR}` is expanded from the process environment first, then
    # from lines read before (earlier files included), as compose-go does.
    env: dict[str, str] = {}
    if imp.env_files:
        for path in imp.env_files:
            _read_env(imp, path, "--env-file", env)
    else:
        dotenv = imp.base_dir / ".env"
        if dotenv.is_file():
            _read_env(imp, dotenv, ".env", env)
    return ChainMap(imp.process_env, env)  # type: ignore[arg-type]


def _read_env(imp: Importer, path: Path, what: str, into: dict[str, str]) -> None:
    try:
        read_env_file(path, imp.process_env, into)
    except OSError as exc:
        imp.error(what, f"cannot read {path}: {exc.strerror}", "check the path", str(path))
    except ValueError as exc:
        imp.error(what, str(exc), "write KEY=VALUE lines", str(path))


def read_file(imp: Importer, file: Path) -> dict[str, Any] | None:
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        imp.error("(file)", f"cannot read Compose file: {exc.strerror}", "check -f", source)
        return None
    except UnicodeDecodeError:
        imp.error("(file)", "not UTF-8 text", "", source)
        return None
    try:
        doc = load_compose_yaml(text, source)
    except SpecError as exc:
        imp.errors.extend(exc.errors)
        return None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        imp.error("(root)", "a Compose file is a mapping with a services: key", "", source)
        return None
    if "apiVersion" in doc or "kind" in doc:
        imp.error(
            "apiVersion",
            "this is a manifest, not a Compose file",
            "apply it with dockyard apply -f",
            source,
        )
        return None
    errors: list[FieldError] = []
    result = {str(k): _interpolate(imp, v, str(k), errors) for k, v in doc.items()}
    imp.errors.extend(FieldError(e.path, e.message, e.hint, source) for e in errors)
    for key in ("services", "volumes", "networks", "secrets", "configs"):
        if key in result and result[key] is not None and not isinstance(result[key], dict):
            imp.error(key, f"{key} must be a mapping of names to definitions", "", source)
            return None
    for svc_name, svc in (result.get("services") or {}).items():
        if svc is None:
            result["services"][svc_name] = {}
        elif not isinstance(svc, dict):
            imp.error(f"services.{svc_name}", "a service must be a mapping", "", source)
            return None
        else:
            result["services"][svc_name] = normalise_service(svc)
    return result


def _interpolate(imp: Importer, node: Any, path: str, errors: list[FieldError]) -> Any:
    if isinstance(node, str):
        for match in _VAR_REF.finditer(node):
            var = match.group("named") or match.group("braced")
            unset = var and not match.group("op") and var not in imp.env
            if unset and var not in imp.unset_reported:
                imp.unset_reported.add(var)
                imp.note(
                    path, f"variable {var} is not set: an empty string is used, as Compose does"
                )
        try:
            return interpolate(node, imp.env)
        except InterpolationError as exc:
            errors.append(FieldError(path, exc.message, exc.hint))
            return node
    if isinstance(node, Override):
        return Override(_interpolate(imp, node.value, path, errors))
    if isinstance(node, list):
        return [_interpolate(imp, v, f"{path}[{i}]", errors) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return {str(k): _interpolate(imp, v, f"{path}.{k}", errors) for k, v in node.items()}
    return node


# -- extends ------------------------------------------------------------------------------


def resolve_extends(
    imp: Importer, doc: dict[str, Any], file: Path, seen: set[tuple[str, str]]
) -> dict[str, Any]:
    services = doc.get("services") or {}
    resolved: dict[str, Any] = {}
    for name in services:
        resolved[name] = _extended_service(imp, doc, file, name, seen)
    if services:
        doc = {**doc, "services": resolved}
    return doc


def _extended_service(
    imp: Importer, doc: dict[str, Any], file: Path, name: str, seen: set[tuple[str, str]]
) -> dict[str, Any]:
    services = doc.get("services") or {}
    svc: dict[str, Any] = dict(services[name])
    ext = svc.pop("extends", None)
    if ext is None:
        return svc
    path = f"services.{name}.extends"
    key = (str(file.resolve()), name)
    if key in seen:
        imp.error(path, f"extends loops back to service {name!r}", "", str(file))
        return svc
    seen = seen | {key}
    if isinstance(ext, str):
        ext = {"service": ext}
    if not isinstance(ext, dict) or not isinstance(ext.get("service"), str):
        imp.error(path, "extends needs a service name", "extends: {service: base}", str(file))
        return svc
    base_name = ext["service"]
    if ext.get("file"):
        other = (file.parent / str(ext["file"])).resolve()
        other_doc = read_file(imp, other)
        if other_doc is None:
            imp.error(f"{path}.file", f"cannot load {ext['file']}", "", str(file))
            return svc
        base_file = other
        base_services = other_doc.get("services") or {}
        base_doc = other_doc
    else:
        base_file = file
        base_services = services
        base_doc = doc
    if base_name not in base_services:
        imp.error(
            f"{path}.service",
            f"no service {base_name!r} to extend in {base_file.name}",
            f"services there: {', '.join(sorted(base_services)) or 'none'}",
            str(file),
        )
        return svc
    base = _extended_service(imp, base_doc, base_file, base_name, seen)
    if base_file.parent.resolve() != file.parent.resolve():
        base = rebase_service(base, base_file.parent.resolve(), file.parent.resolve())
    merged = merge(copy.deepcopy(base), svc, ("services", name))
    return dict(merged)


# -- name and profiles --------------------------------------------------------------------


def apply_profiles(imp: Importer, doc: dict[str, Any]) -> None:
    if imp.profiles is not None:
        active = set(imp.profiles)
    else:
        raw = imp.env.get("COMPOSE_PROFILES", "")
        active = {p.strip() for p in raw.split(",") if p.strip()}
    services: dict[str, Any] = doc.get("services") or {}
    kept: dict[str, Any] = {}
    for name, svc in services.items():
        wanted = svc.get("profiles") or []
        if isinstance(wanted, str):
            wanted = [wanted]
        if not wanted or "*" in active or active.intersection(str(p) for p in wanted):
            kept[name] = svc
        else:
            imp.note(
                f"services.{name}",
                f"not imported: its profiles ({', '.join(map(str, wanted))}) are not active",
            )
    for name, svc in kept.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep in kept:
                continue
            required = not isinstance(cond, dict) or cond.get("required", True) is not False
            if dep in services and required:
                imp.error(
                    f"services.{name}.depends_on.{dep}",
                    f"depends on service {dep!r}, which is disabled by its profiles",
                    "activate the profile (--profile) or remove the dependency",
                )
    doc["services"] = kept


# -- translation --------------------------------------------------------------------------
