"""The import, step by step: read and merge the files, translate, validate, report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import FieldError, SpecError
from ..models import API_VERSION, App
from ..validate import DEFAULT_NETWORK, validate_app
from . import configs
from .context import Importer
from .files import apply_profiles, interpolation_env, read_file, resolve_extends
from .include import with_includes
from .merge import merge, normalise_service, strip_markers
from .names import app_name, rename, to_dns_label
from .networks import network_definition
from .report import ComposeImport
from .secrets import secret_definition
from .service import translate_service
from .values import (
    definitions,
    escape_dollars,
)
from .volumes import volume_definition


def import_compose(
    files: list[Path],
    environ: Mapping[str, str] | None = None,
    env_files: list[Path] | None = None,
    profiles: list[str] | None = None,
    project_name: str | None = None,
    strict: bool = False,
) -> ComposeImport:
    """Translate Compose files (merged in order, as `docker compose -f a -f b`) into an App.

    Raises SpecError (with key paths) for what Compose itself would reject, for a manifest
    that would not validate, and, with `strict`, for any key dockyard cannot honour.
    """
    if not files:
        raise SpecError([FieldError("(files)", "no Compose file given", "pass -f compose.yaml")])
    return run(Importer(files, environ, env_files, profiles, project_name), strict)


_TOP_LEVEL_HANDLED = {"services", "volumes", "networks", "secrets", "configs", "name", "version"}


def run(imp: Importer, strict: bool) -> ComposeImport:
    imp.env = interpolation_env(imp)
    imp.raise_if_errors()
    merged: dict[str, Any] = {}
    for index, file in enumerate(imp.files):
        doc = read_file(imp, file)
        if doc is None:
            continue
        doc = with_includes(imp, doc, file, (file.resolve(),))
        doc = resolve_extends(imp, doc, file, set())
        merged = doc if index == 0 else merge(merged, doc, ())
    imp.raise_if_errors()
    merged = strip_markers(merged)
    name, project = app_name(imp, merged)
    apply_profiles(imp, merged)
    imp.raise_if_errors()
    app = translate(imp, merged, name, project)
    imp.raise_if_errors()
    validate(imp, app)
    imp.raise_if_errors()
    if strict and imp.warnings:
        raise SpecError(
            [
                FieldError(
                    w.path,
                    f"unsupported: {w.reason}",
                    "remove the key, or import without --strict to drop it with a warning",
                    imp.source,
                )
                for w in imp.warnings
            ]
        )
    return ComposeImport(
        app=escape_dollars(app),
        warnings=list(imp.warnings),
        base_dir=imp.base_dir,
        notes=list(imp.notes),
        sources=list(imp.files),
    )


def translate(
    imp: Importer, doc: dict[str, Any], name: str, project: str | None = None
) -> dict[str, Any]:
    for key in doc:
        if key in _TOP_LEVEL_HANDLED:
            continue
        if key.startswith("x-"):
            imp.note(key, "extension field, ignored as Compose does")
        else:
            imp.unsupported(key, "not a Compose top-level key dockyard knows")
    if "version" in doc:
        imp.note("version", "obsolete in Compose, ignored")
    services: dict[str, Any] = doc.get("services") or {}
    volumes = definitions(doc.get("volumes"))
    networks = definitions(doc.get("networks"))
    secrets = definitions(doc.get("secrets"))
    rename(imp, "services", list(services), imp.svc_names)
    rename(imp, "volumes", list(volumes), imp.vol_names)
    rename(imp, "networks", [n for n in networks if n != DEFAULT_NETWORK], imp.net_names)
    imp.net_names[DEFAULT_NETWORK] = DEFAULT_NETWORK
    rename(imp, "secrets", list(secrets), imp.sec_names)
    imp.raise_if_errors()

    # Resources first: an external one may take its engine name, which services refer to.
    app_volumes = [volume_definition(imp, raw, vol) for raw, vol in volumes.items()]
    app_networks = [network_definition(imp, raw, net) for raw, net in networks.items()]
    app_secrets = [
        s for s in (secret_definition(imp, raw, sec) for raw, sec in secrets.items()) if s
    ]
    imp.cfg_defs, config_secrets = configs.config_definitions(
        imp, definitions(doc.get("configs")), set(imp.sec_names.values()), to_dns_label
    )
    app_secrets.extend(config_secrets)
    spec: dict[str, Any] = {}
    if project and project != name:
        spec["project"] = project  # Compose's name for the engine objects (`my_stack`)
    spec["services"] = [
        translate_service(imp, raw, normalise_service(svc))
        for raw, svc in services.items()
        if raw in imp.svc_names
    ]
    if app_volumes:
        spec["volumes"] = app_volumes
    if app_networks:
        spec["networks"] = app_networks
    if app_secrets:
        spec["secrets"] = app_secrets
    return {
        "apiVersion": API_VERSION,
        "kind": "App",
        "metadata": {"name": name},
        "spec": spec,
    }


def validate(imp: Importer, app: dict[str, Any]) -> None:
    """The translated manifest must validate; anything else is a bug or a Compose error."""
    try:
        model = App.model_validate(app)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            imp.error(loc, f"the translated manifest is invalid: {msg}")
        return
    for problem in validate_app(model):
        imp.error(
            problem.path, f"the translated manifest is invalid: {problem.message}", problem.hint
        )


# -- top-level resources ------------------------------------------------------------------
