"""Compose import: turn one or more Compose files into an equivalent `App` manifest.

Pure translation, no Docker calls. The steps follow `docker compose config`:

1. read each file (YAML 1.2-like: `22:22` stays a string, `no` is not a boolean),
2. interpolate `${VAR}` with the process environment over `.env` (or `--env-file`s),
3. resolve `extends`, then merge the files with Compose's override rules,
4. drop services whose profiles are not active,
5. translate every key into the manifest (camelCase, lists of named items).

A key dockyard cannot honour becomes an `UnsupportedKey` (key path and why), never a silent
drop; with `strict=True` they are an error. Purely informational remarks (such as `expose`,
or a renamed service) are `ImportNote`s. Names that are not DNS-1123 labels (`web_app`) are
converted (`web-app`) consistently in every reference, and renamed services keep their old
name as a network alias so other containers still resolve it.

The resulting `app` is a manifest document as it would be written to a file: interpolation
has been done, so every literal `$` is written `$$` (the manifest loader interpolates again).
"""

from __future__ import annotations

import copy
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from . import compose_configs, compose_include, compose_keys
from .envfile import read_env_file
from .errors import FieldError, SpecError
from .imageref import HINT as IMAGE_HINT
from .imageref import reference_problem
from .interpolate import InterpolationError, interpolate
from .models import API_VERSION, OBJECT_NAME_PATTERN, App
from .validate import DEFAULT_NETWORK, validate_app

__all__ = [
    "ComposeImport",
    "ImportNote",
    "UnsupportedKey",
    "import_compose",
    "is_compose_document",
    "load_compose_yaml",
    "to_dns_label",
]

_OBJECT_NAME = re.compile(OBJECT_NAME_PATTERN)


@dataclass(frozen=True)
class UnsupportedKey:
    """A Compose key with no exact equivalent in dockyard: where it is and why."""

    path: str
    reason: str

    def render(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class ImportNote:
    """Something the user should know about the translation; nothing was lost."""

    path: str
    message: str

    def render(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class ComposeImport:
    """The result of an import: the App manifest as plain data, plus what did not map."""

    app: dict[str, Any]
    warnings: list[UnsupportedKey]
    base_dir: Path
    notes: list[ImportNote] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.app["metadata"]["name"])

    def to_yaml(self) -> str:
        """The manifest as YAML, with a comment at the top listing what had no equivalent."""
        lines: list[str] = []
        if self.sources:
            names = ", ".join(_display_path(p, self.base_dir) for p in self.sources)
            lines.append(f"# Imported from Compose ({names}) by `dockyard import compose`.")
        else:
            lines.append("# Imported from Compose by `dockyard import compose`.")
        if self.warnings:
            lines.append("# Compose keys with no exact equivalent in dockyard (not imported):")
            lines.extend(f"#   - {_one_line(w.render())}" for w in self.warnings)
        else:
            lines.append("# Every Compose key had an equivalent in dockyard.")
        if self.notes:
            lines.append("# Notes:")
            lines.extend(f"#   - {_one_line(n.render())}" for n in self.notes)
        body = yaml.safe_dump(
            self.app, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
        )
        return "\n".join(lines) + "\n" + body


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _display_path(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# Recognising and reading Compose files


def is_compose_document(doc: object) -> bool:
    """True for a Compose file's content: a `services:` mapping and no apiVersion or kind."""
    if not isinstance(doc, dict):
        return False
    if "apiVersion" in doc or "kind" in doc:
        return False
    return isinstance(doc.get("services"), dict)


class _Reset:
    """`!reset`: the attribute is removed when merging."""

    def __repr__(self) -> str:
        return "!reset"


@dataclass(frozen=True)
class _Override:
    """`!override value`: the attribute replaces, rather than merges with, the earlier one."""

    value: Any


_RESET = _Reset()


class _ComposeLoader(yaml.SafeLoader):
    """PyYAML with YAML 1.2 core scalars, as Compose (go-yaml v3) reads them.

    YAML 1.1 would turn `22:22` into 1342 (base 60), `no`/`on` into booleans and `2024-01-01`
    into a date; Compose keeps all of those as strings.
    """


_IMPLICIT_TAGS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
_ComposeLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in _IMPLICIT_TAGS]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_reset(loader: yaml.SafeLoader, node: yaml.Node) -> _Reset:
    return _RESET


def _construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> _Override:
    value: Any
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return _Override(value)


_ComposeLoader.add_constructor("!reset", _construct_reset)
_ComposeLoader.add_constructor("!override", _construct_override)


def load_compose_yaml(text: str, source: str = "") -> Any:
    """Parse one Compose file's text the way Compose does (see `_ComposeLoader`)."""
    try:
        return yaml.load(text, Loader=_ComposeLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(root)"
        raise SpecError(
            [FieldError(where, f"not valid YAML: {getattr(exc, 'problem', exc)}", "", source)]
        ) from None


# --------------------------------------------------------------------------------------------
# Names


def _is_object_name(name: str) -> bool:
    return len(name) <= 63 and _OBJECT_NAME.match(name) is not None


def to_dns_label(name: str) -> str:
    """A Compose name as a DNS-1123 label: lower-case, `_`/`.`/spaces to `-`, others dropped."""
    text = name.lower()
    text = re.sub(r"[_.\s]", "-", text)
    text = re.sub(r"[^a-z0-9-]", "", text)
    text = text.strip("-")[:63].rstrip("-")
    return text


def _project_name(raw: str) -> str:
    # Compose: lower-case, keep [a-z0-9_-], trim leading '_'/'-'. dockyard then needs a label.
    return to_dns_label(re.sub(r"[^a-z0-9_-]", "", raw.lower()))


# --------------------------------------------------------------------------------------------
# The import


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
    importer = _Importer(files, environ, env_files, profiles, project_name)
    return importer.run(strict)


_TOP_LEVEL_HANDLED = {"services", "volumes", "networks", "secrets", "configs", "name", "version"}


class _Importer:
    def __init__(
        self,
        files: list[Path],
        environ: Mapping[str, str] | None,
        env_files: list[Path] | None,
        profiles: list[str] | None,
        project_name: str | None,
    ) -> None:
        self.files = [Path(f) for f in files]
        self.base_dir = self.files[0].resolve().parent
        self.process_env = dict(os.environ if environ is None else environ)
        self.env_files = [Path(p) for p in env_files or []]
        self.profiles = profiles
        self.project_name = project_name
        self.source = ", ".join(str(f) for f in self.files)
        self.errors: list[FieldError] = []
        self.warnings: list[UnsupportedKey] = []
        self.notes: list[ImportNote] = []
        self.env: dict[str, str] = {}
        self._unset_reported: set[str] = set()
        # Original Compose name -> manifest name, per kind.
        self.svc_names: dict[str, str] = {}
        self.vol_names: dict[str, str] = {}
        self.net_names: dict[str, str] = {}
        self.sec_names: dict[str, str] = {}
        self.cfg_defs: dict[str, compose_configs.ConfigDef] = {}

    # -- helpers ------------------------------------------------------------------------------

    def error(self, path: str, message: str, hint: str = "", source: str | None = None) -> None:
        self.errors.append(
            FieldError(path, message, hint, self.source if source is None else source)
        )

    def unsupported(self, path: str, reason: str) -> None:
        self.warnings.append(UnsupportedKey(path, reason))

    def note(self, path: str, message: str) -> None:
        self.notes.append(ImportNote(path, message))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise SpecError(self.errors)

    # -- pipeline -----------------------------------------------------------------------------

    def run(self, strict: bool) -> ComposeImport:
        self.env = self._interpolation_env()
        self.raise_if_errors()
        merged: dict[str, Any] = {}
        for index, file in enumerate(self.files):
            doc = self._read_file(file)
            if doc is None:
                continue
            doc = self._with_includes(doc, file, (file.resolve(),))
            doc = self._resolve_extends(doc, file, set())
            merged = doc if index == 0 else _merge(merged, doc, ())
        self.raise_if_errors()
        merged = _strip_markers(merged)
        name = self._app_name(merged)
        self._apply_profiles(merged)
        self.raise_if_errors()
        app = self._translate(merged, name)
        self.raise_if_errors()
        self._validate(app)
        self.raise_if_errors()
        if strict and self.warnings:
            raise SpecError(
                [
                    FieldError(
                        w.path,
                        f"unsupported: {w.reason}",
                        "remove the key, or import without --strict to drop it with a warning",
                        self.source,
                    )
                    for w in self.warnings
                ]
            )
        return ComposeImport(
            app=_escape_dollars(app),
            warnings=list(self.warnings),
            base_dir=self.base_dir,
            notes=list(self.notes),
            sources=list(self.files),
        )

    def _interpolation_env(self) -> dict[str, str]:
        # As Compose: `--env-file`s replace the project's `.env`; the process environment wins.
        # Inside the files `${VAR}` is expanded from the process environment first, then
        # from lines read before (earlier files included), as compose-go does.
        env: dict[str, str] = {}
        if self.env_files:
            for path in self.env_files:
                self._read_env(path, "--env-file", env)
        else:
            dotenv = self.base_dir / ".env"
            if dotenv.is_file():
                self._read_env(dotenv, ".env", env)
        env.update(self.process_env)
        return env

    def _read_env(self, path: Path, what: str, into: dict[str, str]) -> None:
        try:
            read_env_file(path, self.process_env, into)
        except OSError as exc:
            self.error(what, f"cannot read {path}: {exc.strerror}", "check the path", str(path))
        except ValueError as exc:
            self.error(what, str(exc), "write KEY=VALUE lines", str(path))

    def _read_file(self, file: Path) -> dict[str, Any] | None:
        source = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            self.error("(file)", f"cannot read Compose file: {exc.strerror}", "check -f", source)
            return None
        except UnicodeDecodeError:
            self.error("(file)", "not UTF-8 text", "", source)
            return None
        try:
            doc = load_compose_yaml(text, source)
        except SpecError as exc:
            self.errors.extend(exc.errors)
            return None
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            self.error("(root)", "a Compose file is a mapping with a services: key", "", source)
            return None
        if "apiVersion" in doc or "kind" in doc:
            self.error(
                "apiVersion",
                "this is a manifest, not a Compose file",
                "apply it with dockyard apply -f",
                source,
            )
            return None
        errors: list[FieldError] = []
        result = {str(k): self._interpolate(v, str(k), errors) for k, v in doc.items()}
        self.errors.extend(FieldError(e.path, e.message, e.hint, source) for e in errors)
        for key in ("services", "volumes", "networks", "secrets", "configs"):
            if key in result and result[key] is not None and not isinstance(result[key], dict):
                self.error(key, f"{key} must be a mapping of names to definitions", "", source)
                return None
        for svc_name, svc in (result.get("services") or {}).items():
            if svc is None:
                result["services"][svc_name] = {}
            elif not isinstance(svc, dict):
                self.error(f"services.{svc_name}", "a service must be a mapping", "", source)
                return None
            else:
                result["services"][svc_name] = _normalise_service(svc)
        return result

    def _interpolate(self, node: Any, path: str, errors: list[FieldError]) -> Any:
        if isinstance(node, str):
            for match in _VAR_REF.finditer(node):
                var = match.group("named") or match.group("braced")
                unset = var and not match.group("op") and var not in self.env
                if unset and var not in self._unset_reported:
                    self._unset_reported.add(var)
                    self.note(
                        path, f"variable {var} is not set: an empty string is used, as Compose does"
                    )
            try:
                return interpolate(node, self.env)
            except InterpolationError as exc:
                errors.append(FieldError(path, exc.message, exc.hint))
                return node
        if isinstance(node, _Override):
            return _Override(self._interpolate(node.value, path, errors))
        if isinstance(node, list):
            return [self._interpolate(v, f"{path}[{i}]", errors) for i, v in enumerate(node)]
        if isinstance(node, dict):
            return {str(k): self._interpolate(v, f"{path}.{k}", errors) for k, v in node.items()}
        return node

    # -- extends ------------------------------------------------------------------------------

    def _with_includes(
        self, doc: dict[str, Any], file: Path, stack: tuple[Path, ...]
    ) -> dict[str, Any]:
        """`doc` with the definitions of the files it includes (recursively) added; one
        defined both here and in an included file, differently, is an error (as Compose)."""
        value = doc.pop("include", None)
        if value is None:
            return doc
        added: dict[str, dict[str, Any]] = {s: {} for s in compose_include.SECTIONS}
        for inc in compose_include.entries(self, value, file):
            sub: dict[str, Any] = {}
            for i, part in enumerate(inc.files):
                if part.resolve() in stack:
                    self.error(inc.path, f"{part} includes itself", "remove the cycle", str(file))
                    continue
                if not part.is_file():
                    self.error(
                        inc.path, f"included file {part} does not exist", "fix the path", str(file)
                    )
                    continue
                part_doc = self._read_file(part)
                if part_doc is None:
                    continue
                part_doc = self._with_includes(part_doc, part, (*stack, part.resolve()))
                part_doc = self._resolve_extends(part_doc, part, set())
                sub = part_doc if i == 0 else _merge(sub, part_doc, ())
            sub = _rebase_doc(sub, inc.project_dir, self.base_dir)
            for section in compose_include.SECTIONS:
                for name, definition in (sub.get(section) or {}).items():
                    mine = (doc.get(section) or {}).get(name, added[section].get(name))
                    if mine is not None and mine != definition:
                        self.error(
                            f"{section}.{name}",
                            f"defined both in {file.name} and in the included {inc.path} "
                            f"({', '.join(p.name for p in inc.files)}), differently",
                            "define it in one place, as Compose requires",
                            str(file),
                        )
                        continue
                    added[section][name] = definition
        for section, defs in added.items():
            if defs:
                doc[section] = {**defs, **(doc.get(section) or {})}
        return doc

    def _resolve_extends(
        self, doc: dict[str, Any], file: Path, seen: set[tuple[str, str]]
    ) -> dict[str, Any]:
        services = doc.get("services") or {}
        resolved: dict[str, Any] = {}
        for name in services:
            resolved[name] = self._extended_service(doc, file, name, seen)
        if services:
            doc = {**doc, "services": resolved}
        return doc

    def _extended_service(
        self, doc: dict[str, Any], file: Path, name: str, seen: set[tuple[str, str]]
    ) -> dict[str, Any]:
        services = doc.get("services") or {}
        svc: dict[str, Any] = dict(services[name])
        ext = svc.pop("extends", None)
        if ext is None:
            return svc
        path = f"services.{name}.extends"
        key = (str(file.resolve()), name)
        if key in seen:
            self.error(path, f"extends loops back to service {name!r}", "", str(file))
            return svc
        seen = seen | {key}
        if isinstance(ext, str):
            ext = {"service": ext}
        if not isinstance(ext, dict) or not isinstance(ext.get("service"), str):
            self.error(path, "extends needs a service name", "extends: {service: base}", str(file))
            return svc
        base_name = ext["service"]
        if ext.get("file"):
            other = (file.parent / str(ext["file"])).resolve()
            other_doc = self._read_file(other)
            if other_doc is None:
                self.error(f"{path}.file", f"cannot load {ext['file']}", "", str(file))
                return svc
            base_file = other
            base_services = other_doc.get("services") or {}
            base_doc = other_doc
        else:
            base_file = file
            base_services = services
            base_doc = doc
        if base_name not in base_services:
            self.error(
                f"{path}.service",
                f"no service {base_name!r} to extend in {base_file.name}",
                f"services there: {', '.join(sorted(base_services)) or 'none'}",
                str(file),
            )
            return svc
        base = self._extended_service(base_doc, base_file, base_name, seen)
        if base_file.parent.resolve() != file.parent.resolve():
            base = _rebase_service(base, base_file.parent.resolve(), file.parent.resolve())
        merged = _merge(copy.deepcopy(base), svc, ("services", name))
        return dict(merged)

    # -- name and profiles --------------------------------------------------------------------

    def _app_name(self, doc: dict[str, Any]) -> str:
        raw: str | None = self.project_name or self.env.get("COMPOSE_PROJECT_NAME") or None
        where = "project name"
        if raw is None and isinstance(doc.get("name"), str) and doc["name"]:
            raw, where = doc["name"], "name"
        if raw is None:
            raw, where = self.base_dir.name, f"folder name {self.base_dir.name!r}"
        name = _project_name(raw)
        if not name:
            self.error(
                "name",
                f"cannot make an app name from {where} {raw!r}",
                "set name: in the Compose file or pass a project name",
            )
        elif name != raw:
            self.note("name", f"project name {raw!r} becomes app name {name!r}")
        return name

    def _apply_profiles(self, doc: dict[str, Any]) -> None:
        if self.profiles is not None:
            active = set(self.profiles)
        else:
            raw = self.env.get("COMPOSE_PROFILES", "")
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
                self.note(
                    f"services.{name}",
                    f"not imported: its profiles ({', '.join(map(str, wanted))}) are not active",
                )
        for name, svc in kept.items():
            for dep, cond in (svc.get("depends_on") or {}).items():
                if dep in kept:
                    continue
                required = not isinstance(cond, dict) or cond.get("required", True) is not False
                if dep in services and required:
                    self.error(
                        f"services.{name}.depends_on.{dep}",
                        f"depends on service {dep!r}, which is disabled by its profiles",
                        "activate the profile (--profile) or remove the dependency",
                    )
        doc["services"] = kept

    # -- translation --------------------------------------------------------------------------

    def _rename(self, kind: str, names: list[str], table: dict[str, str]) -> None:
        # Services, volumes and networks keep their Compose names (`db_data` stays
        # `<app>_db_data` on the engine, so Compose's data is found); only a name Docker
        # could not carry, and secret names (DNS-1123 in a manifest), are converted.
        keep = kind != "secrets"
        taken: dict[str, str] = {}
        for raw in names:
            new = raw if keep and _is_object_name(raw) else to_dns_label(raw)
            if not new:
                self.error(f"{kind}.{raw}", f"cannot turn {raw!r} into a DNS-1123 name")
                continue
            if new in taken:
                self.error(
                    f"{kind}.{raw}",
                    f"{raw!r} and {taken[new]!r} would both become {new!r}",
                    "rename one of them in the Compose file",
                )
                continue
            taken[new] = raw
            table[raw] = new
            if new != raw:
                rule = "DNS-1123 labels" if not keep else "letters, digits, _ . - (Docker's rule)"
                self.note(
                    f"{kind}.{raw}",
                    f"renamed to {new!r} (dockyard names are {rule}); "
                    "every reference is renamed too",
                )

    def _translate(self, doc: dict[str, Any], name: str) -> dict[str, Any]:
        for key in doc:
            if key in _TOP_LEVEL_HANDLED:
                continue
            if key.startswith("x-"):
                self.note(key, "extension field, ignored as Compose does")
            else:
                self.unsupported(key, "not a Compose top-level key dockyard knows")
        if "version" in doc:
            self.note("version", "obsolete in Compose, ignored")
        services: dict[str, Any] = doc.get("services") or {}
        volumes = _mapping_of_defs(doc.get("volumes"))
        networks = _mapping_of_defs(doc.get("networks"))
        secrets = _mapping_of_defs(doc.get("secrets"))
        self._rename("services", list(services), self.svc_names)
        self._rename("volumes", list(volumes), self.vol_names)
        self._rename("networks", [n for n in networks if n != DEFAULT_NETWORK], self.net_names)
        self.net_names[DEFAULT_NETWORK] = DEFAULT_NETWORK
        self._rename("secrets", list(secrets), self.sec_names)
        self.raise_if_errors()

        # Resources first: an external one may take its engine name, which services refer to.
        app_volumes = [self._volume(raw, vol) for raw, vol in volumes.items()]
        app_networks = [self._network(raw, net) for raw, net in networks.items()]
        app_secrets = [s for s in (self._secret(raw, sec) for raw, sec in secrets.items()) if s]
        self.cfg_defs, config_secrets = compose_configs.config_definitions(
            self, _mapping_of_defs(doc.get("configs")), set(self.sec_names.values()), to_dns_label
        )
        app_secrets.extend(config_secrets)
        spec: dict[str, Any] = {}
        spec["services"] = [
            self._service(raw, _normalise_service(svc))
            for raw, svc in services.items()
            if raw in self.svc_names
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

    def _validate(self, app: dict[str, Any]) -> None:
        """The translated manifest must validate; anything else is a bug or a Compose error."""
        try:
            model = App.model_validate(app)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                self.error(loc, f"the translated manifest is invalid: {msg}")
            return
        for problem in validate_app(model):
            self.error(
                problem.path, f"the translated manifest is invalid: {problem.message}", problem.hint
            )

    # -- top-level resources ------------------------------------------------------------------

    def _volume(self, raw: str, vol: dict[str, Any]) -> dict[str, Any]:
        path = f"volumes.{raw}"
        out: dict[str, Any] = {"name": self.vol_names[raw]}
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
                out["driverOpts"] = {str(k): _scalar(v) for k, v in (value or {}).items()}
            elif key == "labels":
                out["labels"] = _labels(value)
            elif key == "name":
                pass
            elif key.startswith("x-"):
                self.note(f"{path}.{key}", "extension field, ignored")
            else:
                self.unsupported(f"{path}.{key}", "no equivalent for this volume option")
        self._resource_name(path, raw, vol.get("name"), bool(external), out, self.vol_names)
        return out

    def _network(self, raw: str, net: dict[str, Any]) -> dict[str, Any]:
        path = f"networks.{raw}"
        out: dict[str, Any] = {"name": self.net_names[raw]}
        external = net.get("external")
        if isinstance(external, dict):
            if external.get("name"):
                net = {**net, "name": external["name"]}
            external = True
        for key, value in net.items():
            if key == "external":
                if external:
                    out["external"] = True
            elif key == "driver":
                out["driver"] = str(value)
            elif key == "internal":
                out["internal"] = bool(value)
            elif key == "labels":
                out["labels"] = _labels(value)
            elif key == "name":
                pass
            elif key == "driver_opts":
                if value:
                    out["driverOpts"] = {str(k): _scalar(v) for k, v in value.items()}
            elif key == "enable_ipv6":
                if value:
                    out["enableIpv6"] = True
            elif key == "ipam":
                ipam = self._ipam(f"{path}.ipam", value or {})
                if ipam:
                    out["ipam"] = ipam
            elif key == "attachable":
                self.note(f"{path}.{key}", "a Swarm setting; standalone containers can attach")
            elif key.startswith("x-"):
                self.note(f"{path}.{key}", "extension field, ignored")
            else:
                self.unsupported(
                    f"{path}.{key}", "no equivalent for this network option (Docker's default used)"
                )
        self._resource_name(path, raw, net.get("name"), bool(external), out, self.net_names)
        return out

    def _ipam(self, path: str, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "driver":
                out["driver"] = str(item)
            elif key == "options":
                if item:
                    out["options"] = {str(k): _scalar(v) for k, v in item.items()}
            elif key == "config":
                pools = []
                for index, pool in enumerate(item or []):
                    entry: dict[str, Any] = {}
                    for pkey, pval in (pool or {}).items():
                        if pkey in ("subnet", "gateway", "ip_range"):
                            entry[_camel(pkey)] = str(pval)
                        elif pkey == "aux_addresses":
                            entry["auxAddresses"] = {str(k): str(v) for k, v in pval.items()}
                        else:
                            self.unsupported(f"{path}.config[{index}].{pkey}", "no such option")
                    if "subnet" not in entry:
                        self.error(
                            f"{path}.config[{index}]",
                            "an address pool needs a subnet",
                            "write e.g. subnet: 172.28.0.0/16",
                        )
                        continue
                    pools.append(entry)
                if pools:
                    out["config"] = pools
            else:
                self.unsupported(f"{path}.{key}", "no such ipam option")
        return out

    def _resource_name(
        self,
        path: str,
        raw: str,
        custom: Any,
        external: bool,
        out: dict[str, Any],
        table: dict[str, str],
    ) -> None:
        """Compose uses `name:` (or the key, for external ones) literally on the engine."""
        what = "volume" if path.startswith("volumes") else "network"
        if external:
            # dockyard uses an external resource's name as is, so it must be the engine name.
            engine_name = str(custom) if custom else raw
            if engine_name == out["name"]:
                return
            if _is_object_name(engine_name):
                self.note(path, f"external {what} {engine_name!r} is named {engine_name!r}")
                table[raw] = engine_name
                out["name"] = engine_name
            else:
                self.unsupported(
                    f"{path}.name" if custom else path,
                    f"external {what} {engine_name!r} is not a name dockyard can hold; dockyard "
                    f"would look for {out['name']!r} instead",
                )
        elif custom is not None and _is_object_name(str(custom)):
            out["engineName"] = str(custom)  # used as is on the engine, as Compose does
        elif custom is not None:
            self.unsupported(
                f"{path}.name",
                f"{custom!r} is not a name dockyard can hold (letters, digits, _ . -); "
                f"the {what} is named <app>_{raw} instead",
            )

    def _secret(self, raw: str, sec: dict[str, Any]) -> dict[str, Any] | None:
        path = f"secrets.{raw}"
        out: dict[str, Any] = {"name": self.sec_names[raw]}
        for key, value in sec.items():
            if key == "file":
                out["file"] = str(value)
            elif key == "environment":
                out["env"] = str(value)
            elif key in ("external", "name", "driver", "driver_opts", "template_driver"):
                self.unsupported(
                    f"{path}.{key}",
                    "a Swarm secret; dockyard reads secrets from a file or an environment variable",
                )
            elif key == "content":
                out["content"] = str(value)
            elif key.startswith("x-"):
                self.note(f"{path}.{key}", "extension field, ignored")
            else:
                self.unsupported(f"{path}.{key}", "no equivalent for this secret option")
        sources = [k for k in ("file", "env", "content") if k in out]
        if not sources:
            self.error(
                path,
                "dockyard needs a secret to come from file:, environment: or content:",
                "write e.g. file: ./secrets/" + raw,
            )
            return None
        if len(sources) > 1:
            self.error(path, "set only one of file, environment and content")
            return None
        return out

    # -- services -----------------------------------------------------------------------------

    def _service(self, raw: str, svc: dict[str, Any]) -> dict[str, Any]:
        name = self.svc_names[raw]
        path = f"services.{raw}"
        out: dict[str, Any] = {"name": name}
        ctx = _ServiceCtx(raw, path, out)
        for key, value in svc.items():
            handler = _SERVICE_KEYS.get(key)
            if handler is not None:
                handler(self, ctx, value)
            elif key in _UNSUPPORTED_SERVICE_KEYS:
                self.unsupported(f"{path}.{key}", _UNSUPPORTED_SERVICE_KEYS[key])
            elif key.startswith("x-"):
                self.note(f"{path}.{key}", "extension field, ignored as Compose does")
            else:
                self.unsupported(f"{path}.{key}", "not a service key dockyard knows")
        self._finish_service(ctx, svc)
        return _ordered(out, _SERVICE_ORDER)

    def _finish_service(self, ctx: _ServiceCtx, svc: dict[str, Any]) -> None:
        out = ctx.out
        compose_configs.service_configs(self, ctx, self.cfg_defs)
        compose_keys.finish_links(self, ctx, self.svc_names)
        if "restart" not in out and ctx.deploy_restart is not None:
            out["restart"] = ctx.deploy_restart
        elif "restart" in out and ctx.deploy_restart not in (None, out["restart"]):
            self.note(
                f"{ctx.path}.deploy.restart_policy",
                f"restart: {out['restart']} is used; deploy.restart_policy would mean "
                f"{ctx.deploy_restart}",
            )
        resources = {**ctx.legacy_resources, **ctx.resources}
        gpus = out.pop("_deviceRequests", [])
        if gpus:
            resources["devices"] = [*resources.get("devices", []), *gpus]
        if resources:
            out["resources"] = _ordered(
                resources,
                ["cpus", "memory", "memoryReservation", "pids", "devices"],  # then others
            )
        if ctx.replicas is not None:
            out["replicas"] = ctx.replicas
        if "networkMode" in out and "networks" in out:
            self.error(
                f"{ctx.path}.network_mode",
                "network_mode and networks cannot be combined",
                "remove one of them",
            )
        if "image" not in out and "build" not in out:
            self.error(ctx.path, "a service needs image or build", "add image: or build:")
        self._container_name(ctx, svc.get("container_name"))
        compose_keys.service_mac_address(self, ctx, DEFAULT_NETWORK)
        extra = [ctx.raw] if ctx.raw != out["name"] else []
        if extra and "networkMode" not in out:
            # Keep the Compose names resolvable: other services may reach `web_app` by name.
            nets = out.setdefault("networks", [])
            if not nets:
                nets.append({"name": DEFAULT_NETWORK})
            for att in nets:
                aliases = att.setdefault("aliases", [])
                for index, alias in enumerate(extra):
                    if alias not in aliases:
                        aliases.insert(index, alias)

    def _container_name(self, ctx: _ServiceCtx, value: Any) -> None:
        # The container's name, as Compose names it; dockyard also makes it a DNS alias
        # on the service's networks (`DB_HOST=mysql` for a service with
        # `container_name: mysql` resolves either way).
        if value is None:
            return
        name = str(value)
        path = f"{ctx.path}.container_name"
        if not _is_object_name(name):
            self.error(path, f"{name!r} is not a container name", "use letters, digits, _ . -")
        elif int(ctx.out.get("replicas", 1)) > 1:
            self.error(
                path,
                f"a container name cannot be given to {ctx.out['replicas']} replicas",
                "remove container_name or scale to 1, as Compose requires",
            )
        else:
            ctx.out["containerName"] = name

    # service key handlers -----------------------------------------------------------------

    def _s_image(self, ctx: _ServiceCtx, value: Any) -> None:
        if value is not None:
            ctx.out["image"] = str(value)
            problem = reference_problem(str(value))
            if problem:  # with the Compose path, before anything is created
                self.error(f"{ctx.path}.image", problem, IMAGE_HINT)

    def _s_build(self, ctx: _ServiceCtx, value: Any) -> None:
        path = f"{ctx.path}.build"
        if value is None:
            return
        if isinstance(value, str):
            value = {"context": value}
        if not isinstance(value, dict):
            self.error(path, "build is a folder path or a mapping with context:")
            return
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "context":
                context = str(item)
                if "://" in context or context.startswith("git@"):
                    self.unsupported(
                        f"{path}.context", "remote build contexts; dockyard builds a local folder"
                    )
                out["context"] = context
            elif key == "dockerfile":
                out["dockerfile"] = str(item)
            elif key == "target":
                out["target"] = str(item)
            elif key == "args":
                args: dict[str, str] = {}
                for arg, arg_value in _mapping(item).items():
                    if arg_value is None:
                        if arg in self.env:
                            args[arg] = self.env[arg]
                        else:
                            self.note(
                                f"{path}.args.{arg}",
                                "no value and not set in the environment: the Dockerfile "
                                "default applies, as in Compose",
                            )
                    else:
                        args[arg] = _scalar(arg_value)
                if args:
                    out["args"] = args
            elif key.startswith("x-"):
                self.note(f"{path}.{key}", "extension field, ignored")
            else:
                self.unsupported(
                    f"{path}.{key}",
                    "dockyard builds support context, dockerfile, target and args only",
                )
        out.setdefault("context", ".")
        ctx.out["build"] = _ordered(out, ["context", "dockerfile", "target", "args"])

    def _s_pull_policy(self, ctx: _ServiceCtx, value: Any) -> None:
        mapped = _PULL_POLICIES.get(str(value))
        if mapped is None:
            self.unsupported(
                f"{ctx.path}.pull_policy",
                f"pull policy {value!r}; dockyard knows always, missing/if_not_present, never",
            )
            return
        if value == "build":
            self.note(
                f"{ctx.path}.pull_policy",
                "build: dockyard builds the image from build: and never pulls it",
            )
        ctx.out["pullPolicy"] = mapped

    def _s_command(self, ctx: _ServiceCtx, value: Any) -> None:
        cmd = self._command(f"{ctx.path}.command", value)
        if cmd is not None:
            ctx.out["command"] = cmd

    def _s_entrypoint(self, ctx: _ServiceCtx, value: Any) -> None:
        cmd = self._command(f"{ctx.path}.entrypoint", value)
        if cmd is not None:
            ctx.out["entrypoint"] = cmd

    def _command(self, path: str, value: Any) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                self.error(path, f"cannot split the command like a shell: {exc}", "check quotes")
                return None
        if isinstance(value, list):
            return [_scalar(v) for v in value]
        self.error(path, "a command is a string or a list of strings")
        return None

    def _s_environment(self, ctx: _ServiceCtx, value: Any) -> None:
        env: list[dict[str, str]] = []
        for key, item in _env_mapping(value).items():
            if item is None:
                if key in self.env:
                    env.append({"name": key, "value": self.env[key]})
                else:
                    self.note(
                        f"{ctx.path}.environment.{key}",
                        "no value and not set in the environment: left unset, as in Compose",
                    )
            else:
                env.append({"name": key, "value": _scalar(item)})
        if env:
            ctx.out["env"] = env

    def _s_env_file(self, ctx: _ServiceCtx, value: Any) -> None:
        files: list[str] = []
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            path = f"{ctx.path}.env_file[{index}]"
            if isinstance(item, dict):
                file = str(item.get("path", ""))
                if item.get("format") not in (None, "dotenv"):
                    self.unsupported(f"{path}.format", "dockyard reads dotenv files only")
                if item.get("required", True) is False and not (self.base_dir / file).is_file():
                    self.note(path, f"optional env file {file} does not exist: skipped")
                    continue
                if item.get("required", True) is False:
                    self.note(path, "required: false is not kept: dockyard needs the file")
            elif item is None:
                continue
            else:
                file = str(item)
            if not file:
                self.error(path, "env_file needs a path")
                continue
            files.append(file)
        if files:
            ctx.out["envFiles"] = list(dict.fromkeys(files))

    def _s_secrets(self, ctx: _ServiceCtx, value: Any) -> None:
        mounts: list[dict[str, Any]] = []
        for index, item in enumerate(value or []):
            path = f"{ctx.path}.secrets[{index}]"
            if isinstance(item, str):
                item = {"source": item}
            if not isinstance(item, dict) or not isinstance(item.get("source"), str):
                self.error(path, "a secret is a name or a mapping with source:")
                continue
            source = item["source"]
            if source not in self.sec_names:
                self.error(
                    path,
                    f"service {ctx.raw!r} refers to undefined secret {source!r}",
                    f"declare it under the top-level secrets: with file: ./{source}",
                )
                continue
            mount: dict[str, Any] = {"name": self.sec_names[source]}
            target = item.get("target")
            if target is not None:
                target = str(target)
                mount["mountPath"] = target if target.startswith("/") else f"/run/secrets/{target}"
            elif self.sec_names[source] != source:
                mount["mountPath"] = f"/run/secrets/{source}"
            for key in ("uid", "gid"):
                if item.get(key) is not None:
                    try:
                        mount[key] = int(str(item[key]))
                    except ValueError:
                        self.error(f"{path}.{key}", f"{key} must be a number")
            if item.get("mode") is not None:
                mode = item["mode"]
                mount["mode"] = mode if isinstance(mode, int) else str(mode)
            for key in item:
                if key not in ("source", "target", "uid", "gid", "mode"):
                    self.unsupported(f"{path}.{key}", "no equivalent for this secret option")
            mounts.append(mount)
        if mounts:
            ctx.out["secrets"] = mounts

    def _s_ports(self, ctx: _ServiceCtx, value: Any) -> None:
        ports: list[dict[str, Any]] = ctx.out.setdefault("ports", [])
        for index, item in enumerate(value or []):
            path = f"{ctx.path}.ports[{index}]"
            try:
                ports.extend(self._port(path, item))
            except ValueError as exc:
                self.error(path, str(exc), "write e.g. '8080:80', '127.0.0.1:8080:80/udp'")
        if not ports:
            del ctx.out["ports"]

    def _port(self, path: str, item: Any) -> list[dict[str, Any]]:
        if isinstance(item, bool):
            raise ValueError(f"invalid port {item!r}")
        if isinstance(item, int):
            return [{"target": item}]
        if isinstance(item, str):
            return self._short_port(path, item)
        if isinstance(item, dict):
            return self._long_port(path, item)
        raise ValueError(f"invalid port {item!r}")

    def _short_port(self, path: str, text: str) -> list[dict[str, Any]]:
        spec = text.strip()
        protocol = "tcp"
        if "/" in spec:
            spec, protocol = spec.rsplit("/", 1)
        host_ip: str | None = None
        if spec.startswith("["):
            end = spec.find("]")
            if end < 0 or spec[end + 1 : end + 2] != ":":
                raise ValueError(f"invalid port {text!r}")
            host_ip, spec = spec[1:end], spec[end + 2 :]
            parts = spec.split(":")
            if len(parts) == 1:
                parts = ["", parts[0]]
        else:
            parts = spec.split(":")
            if len(parts) == 3:
                host_ip, parts = parts[0] or None, parts[1:]
            elif len(parts) > 3:
                raise ValueError(f"invalid port {text!r} (write IPv6 host addresses in [])")
        if len(parts) == 1:
            published_raw, target_raw = "", parts[0]
        else:
            published_raw, target_raw = parts
        targets = _port_range(target_raw, text)
        published = _port_range(published_raw, text) if published_raw else []
        return self._port_pairs(path, targets, published, host_ip, protocol, text)

    def _port_pairs(
        self,
        path: str,
        targets: list[int],
        published: list[int],
        host_ip: str | None,
        protocol: str,
        text: str,
    ) -> list[dict[str, Any]]:
        if protocol not in ("tcp", "udp", "sctp"):
            raise ValueError(f"unknown protocol {protocol!r} in {text!r}")
        if published and len(published) != len(targets):
            if len(targets) == 1:
                self.unsupported(
                    path,
                    f"a host port range for one container port ({text}); dockyard publishes "
                    f"the first, {published[0]}",
                )
                published = published[:1]
            else:
                raise ValueError(f"port ranges of different sizes in {text!r}")
        result: list[dict[str, Any]] = []
        for i, target in enumerate(targets):
            port: dict[str, Any] = {"target": target}
            if published:
                port["published"] = published[i]
            if host_ip:
                port["hostIP"] = host_ip
            if protocol != "tcp":
                port["protocol"] = protocol
            result.append(port)
        return result

    def _long_port(self, path: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        if "target" not in item:
            raise ValueError("a port needs target:")
        targets = _port_range(str(item["target"]), str(item))
        pub = item.get("published")
        published = _port_range(str(pub), str(item)) if pub not in (None, "") else []
        for key in item:
            if key in ("target", "published", "host_ip", "protocol"):
                continue
            if key == "mode":
                if item[key] != "host":
                    self.note(
                        f"{path}.mode",
                        "ingress is Swarm's routing mesh; dockyard publishes on the host",
                    )
            else:
                self.unsupported(f"{path}.{key}", "port metadata dockyard does not keep")
        return self._port_pairs(
            path,
            targets,
            published,
            str(item["host_ip"]) if item.get("host_ip") else None,
            str(item.get("protocol") or "tcp"),
            str(item),
        )

    def _s_expose(self, ctx: _ServiceCtx, value: Any) -> None:
        ports = ", ".join(str(p) for p in value or [])
        self.note(
            f"{ctx.path}.expose",
            f"informational only ({ports}): containers on a shared network reach each other "
            "on every port",
        )

    def _s_volumes(self, ctx: _ServiceCtx, value: Any) -> None:
        mounts: list[dict[str, Any]] = ctx.out.setdefault("volumeMounts", [])
        for index, item in enumerate(value or []):
            path = f"{ctx.path}.volumes[{index}]"
            if isinstance(item, str):
                mount = self._short_volume(ctx, path, item)
            elif isinstance(item, dict):
                mount = self._long_volume(ctx, path, item)
            else:
                self.error(path, "a volume is a string or a mapping")
                mount = None
            if mount is not None:
                mounts.append(_ordered(mount, _MOUNT_ORDER))
        if not mounts:
            del ctx.out["volumeMounts"]

    def _short_volume(self, ctx: _ServiceCtx, path: str, text: str) -> dict[str, Any] | None:
        parts = text.split(":")
        if len(parts) > 3 or any(p == "" for p in parts):
            unset = sorted(self._unset_reported)
            self.error(
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
                    self.note(f"{path}", f"{option}: a Docker Desktop hint, no effect on Linux")
                elif option in ("z", "Z"):
                    mount["selinux"] = option
                elif option == "nocopy":
                    mount["noCopy"] = True
                elif option in _PROPAGATIONS:
                    mount["propagation"] = option
                else:
                    self.unsupported(path, f"volume option {option!r} is not applied")
        self._volume_source(ctx, path, source, _is_host_path(source), mount)
        return mount

    def _volume_source(
        self, ctx: _ServiceCtx, path: str, source: str, bind: bool, mount: dict[str, Any]
    ) -> None:
        if bind:
            if source.startswith("~"):
                if source == "~" or source.startswith("~/"):
                    home = self.process_env.get("HOME") or str(Path.home())
                    expanded = home + source[1:]
                else:
                    expanded = os.path.expanduser(source)
                self.note(path, f"{source} is expanded to {expanded}")
                source = expanded
            mount["hostPath"] = source
        elif source not in self.vol_names:
            self.error(
                path,
                f"service {ctx.raw!r} refers to undefined volume {source!r}",
                f"declare it under the top-level volumes: ({source}: {{}})",
            )
        else:
            mount["volume"] = self.vol_names[source]

    def _long_volume(
        self, ctx: _ServiceCtx, path: str, item: dict[str, Any]
    ) -> dict[str, Any] | None:
        kind = item.get("type", "volume")
        target = item.get("target")
        if not isinstance(target, str) or not target:
            self.error(f"{path}.target", "a volume needs a target path")
            return None
        mount: dict[str, Any] = {"mountPath": target}
        if item.get("read_only"):
            mount["readOnly"] = True
        source = item.get("source")
        if kind == "bind":
            if not source:
                self.error(f"{path}.source", "a bind mount needs a source path")
                return None
            self._volume_source(ctx, path, str(source), True, mount)
        elif kind == "volume":
            if source:
                self._volume_source(ctx, path, str(source), False, mount)
        elif kind == "tmpfs":
            tmpfs: dict[str, Any] = {}
            for key, value in (item.get("tmpfs") or {}).items():
                if key == "size":
                    tmpfs["size"] = value
                elif key == "mode":
                    tmpfs["mode"] = value if isinstance(value, int) else str(value)
                else:
                    self.unsupported(f"{path}.tmpfs.{key}", "no equivalent for this tmpfs option")
            mount["tmpfs"] = tmpfs
        else:
            self.unsupported(path, f"{kind} mounts; dockyard mounts volume, bind and tmpfs")
            return None
        for key, value in item.items():
            if key in ("type", "target", "source", "read_only", "tmpfs"):
                continue
            if key == "consistency":
                self.note(f"{path}.consistency", "a Docker Desktop hint, no effect on Linux")
            elif key == "bind" and isinstance(value, dict):
                for opt, val in value.items():
                    if opt == "create_host_path":
                        continue
                    if opt == "propagation" and val in _PROPAGATIONS:
                        mount["propagation"] = val
                    elif opt == "selinux" and val in ("z", "Z"):
                        mount["selinux"] = val
                    else:
                        self.unsupported(f"{path}.bind.{opt}", "bind option not applied")
            elif key == "volume" and isinstance(value, dict):
                for opt, val in value.items():
                    if opt == "nocopy":
                        if val:
                            mount["noCopy"] = True
                    else:
                        self.unsupported(f"{path}.volume.{opt}", "volume option not applied")
            else:
                self.unsupported(f"{path}.{key}", "mount option not applied")
        return mount

    def _s_tmpfs(self, ctx: _ServiceCtx, value: Any) -> None:
        mounts: list[dict[str, Any]] = ctx.out.setdefault("volumeMounts", [])
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            path = f"{ctx.path}.tmpfs[{index}]"
            target, _, options = str(item).partition(":")
            tmpfs: dict[str, Any] = {}
            for option in filter(None, options.split(",")):
                key, _, opt_value = option.partition("=")
                if key == "size":
                    tmpfs["size"] = _tmpfs_size(opt_value)
                elif key == "mode":
                    tmpfs["mode"] = opt_value
                else:
                    self.unsupported(path, f"tmpfs option {option!r} is not applied")
            mounts.append({"mountPath": target, "tmpfs": tmpfs})

    def _s_networks(self, ctx: _ServiceCtx, value: Any) -> None:
        attachments: list[dict[str, Any]] = []
        raw_names: list[str] = []
        for net, config in (value or {}).items():
            path = f"{ctx.path}.networks.{net}"
            if net not in self.net_names:
                self.error(
                    path,
                    f"service {ctx.raw!r} refers to undefined network {net!r}",
                    f"declare it under the top-level networks: ({net}: {{}})",
                )
                continue
            att: dict[str, Any] = {"name": self.net_names[net]}
            for key, item in (config or {}).items():
                if key == "aliases":
                    att["aliases"] = [str(a) for a in item or []]
                elif key == "ipv4_address":
                    att["ipv4Address"] = str(item)
                elif not compose_keys.attachment_options(self, path, key, item, att):
                    self.unsupported(f"{path}.{key}", "no equivalent for this network option")
            attachments.append(att)
            raw_names.append(net)
        compose_keys.order_networks(attachments, raw_names)
        if attachments:
            ctx.out["networks"] = attachments

    def _s_network_mode(self, ctx: _ServiceCtx, value: Any) -> None:
        mode = str(value)
        if mode in ("host", "none", "bridge"):
            ctx.out["networkMode"] = mode
            if mode == "bridge":
                self.note(
                    f"{ctx.path}.network_mode",
                    "bridge is Docker's default network: no name resolution between services",
                )
        elif mode.startswith(("service:", "container:")):
            self.error(
                f"{ctx.path}.network_mode",
                f"{mode}: sharing another container's network namespace is not something "
                "dockyard does: it replaces each service's containers on their own, and the "
                "namespace would go with the other container",
                "attach both services to one network (they reach each other by name), "
                "or run both processes in one service",
            )
        else:
            self.error(
                f"{ctx.path}.network_mode",
                f"{mode!r} is not a network mode dockyard knows",
                "use host, none or bridge, or attach the service to networks:",
            )

    def _s_depends_on(self, ctx: _ServiceCtx, value: Any) -> None:
        deps: list[dict[str, Any]] = []
        for dep, config in (value or {}).items():
            path = f"{ctx.path}.depends_on.{dep}"
            config = config or {}
            if dep not in self.svc_names:
                if config.get("required", True) is False:
                    self.note(path, f"optional dependency on {dep!r}, which is not defined")
                    continue
                self.error(
                    path,
                    f"service {ctx.raw!r} depends on undefined service {dep!r}",
                    "check the service name",
                )
                continue
            condition = str(config.get("condition", "service_started"))
            mapped = _CONDITIONS.get(condition)
            if mapped is None:
                self.error(
                    f"{path}.condition",
                    f"unknown condition {condition!r}",
                    "use service_started, service_healthy or service_completed_successfully",
                )
                continue
            if config.get("restart"):
                self.unsupported(
                    f"{path}.restart", "restarting a service when its dependency restarts"
                )
            if config.get("required", True) is False:
                self.note(f"{path}.required", "dockyard treats the dependency as required")
            for key in config:
                if key not in ("condition", "restart", "required"):
                    self.unsupported(f"{path}.{key}", "no equivalent for this depends_on option")
            dep_out: dict[str, Any] = {"service": self.svc_names[dep]}
            if mapped != "started":
                dep_out["condition"] = mapped
            deps.append(dep_out)
        if deps:
            ctx.out["dependsOn"] = deps

    def _s_healthcheck(self, ctx: _ServiceCtx, value: Any) -> None:
        path = f"{ctx.path}.healthcheck"
        if not isinstance(value, dict):
            self.error(path, "healthcheck is a mapping")
            return
        out: dict[str, Any] = {}
        if value.get("disable"):
            ctx.out["healthcheck"] = {"disable": True}
            return
        test = value.get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        elif isinstance(test, list):
            test = [_scalar(t) for t in test]
            if test[:1] == ["NONE"]:
                ctx.out["healthcheck"] = {"disable": True}
                return
        elif test is not None:
            self.error(f"{path}.test", "test is a string or a list")
        if test is not None:
            out["test"] = test
        for key, item in value.items():
            if key in ("test", "disable"):
                continue
            if key in ("interval", "timeout", "start_period"):
                out[_camel(key)] = item
            elif key == "retries":
                out["retries"] = item
            elif key == "start_interval":
                self.unsupported(f"{path}.{key}", "no equivalent; interval is used throughout")
            else:
                self.unsupported(f"{path}.{key}", "no equivalent for this healthcheck option")
        ctx.out["healthcheck"] = _ordered(
            out, ["test", "interval", "timeout", "retries", "startPeriod"]
        )

    def _s_restart(self, ctx: _ServiceCtx, value: Any) -> None:
        if value is False or value is None:
            value = "no"
        ctx.out["restart"] = str(value)

    def _s_deploy(self, ctx: _ServiceCtx, value: Any) -> None:
        path = f"{ctx.path}.deploy"
        for key, item in (value or {}).items():
            if key == "replicas":
                ctx.replicas = item
            elif key == "mode":
                if item == "global":
                    ctx.out["placement"] = {"mode": "global"}
                    self.note(f"{path}.mode", "global: one replica on each placement host")
                elif item != "replicated":
                    self.unsupported(f"{path}.mode", f"deploy mode {item!r}")
            elif key == "resources":
                self._resources(ctx, f"{path}.resources", item or {})
            elif key == "restart_policy":
                self._restart_policy(ctx, f"{path}.restart_policy", item or {})
            elif key == "update_config":
                self._update_config(ctx, f"{path}.update_config", item or {})
            elif key == "rollback_config":
                self.unsupported(
                    f"{path}.{key}", "dockyard rolls back with the update settings themselves"
                )
            elif key == "placement":
                self.unsupported(
                    f"{path}.{key}",
                    "Swarm placement constraints; use spec.placement.hostSelector",
                )
            elif key == "labels":
                self.unsupported(f"{path}.{key}", "Swarm service labels (not container labels)")
            elif key == "endpoint_mode":
                self.unsupported(f"{path}.{key}", "a Swarm load-balancing setting")
            else:
                self.unsupported(f"{path}.{key}", "no equivalent for this deploy option")

    def _resources(self, ctx: _ServiceCtx, path: str, value: dict[str, Any]) -> None:
        for key, item in value.items():
            if key == "limits":
                for lim, lim_value in (item or {}).items():
                    if lim == "cpus":
                        ctx.resources["cpus"] = _cpus(lim_value)
                    elif lim == "memory":
                        ctx.resources["memory"] = lim_value
                    elif lim == "pids":
                        ctx.resources["pids"] = lim_value
                    else:
                        self.unsupported(f"{path}.limits.{lim}", "no equivalent limit")
            elif key == "reservations":
                for res, res_value in (item or {}).items():
                    if res == "memory":
                        ctx.resources["memoryReservation"] = res_value
                    elif res == "devices":
                        ctx.resources["devices"] = compose_keys.device_requests(
                            self, f"{path}.reservations.devices", res_value
                        )
                    else:
                        self.unsupported(
                            f"{path}.reservations.{res}",
                            "only memory can be reserved on a Docker engine",
                        )
            else:
                self.unsupported(f"{path}.{key}", "no equivalent resource setting")

    def _restart_policy(self, ctx: _ServiceCtx, path: str, value: dict[str, Any]) -> None:
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
            self.error(f"{path}.condition", f"unknown restart condition {condition!r}")
        if attempts and condition != "on-failure":
            self.unsupported(
                f"{path}.max_attempts", "Docker limits restart attempts for on-failure only"
            )
        for key in value:
            if key in ("delay", "window"):
                self.unsupported(f"{path}.{key}", "Docker's own restart back-off is used")
            elif key not in ("condition", "max_attempts"):
                self.unsupported(f"{path}.{key}", "no equivalent restart option")

    def _update_config(self, ctx: _ServiceCtx, path: str, value: dict[str, Any]) -> None:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("parallelism", "delay", "order", "monitor", "max_failure_ratio"):
                out[_camel(key)] = item
            elif key == "failure_action":
                out["failureAction"] = item
            else:
                self.unsupported(f"{path}.{key}", "no equivalent update option")
        if out:
            ctx.out["update"] = _ordered(
                out,
                ["order", "parallelism", "delay", "monitor", "failureAction", "maxFailureRatio"],
            )

    def _s_scale(self, ctx: _ServiceCtx, value: Any) -> None:
        if ctx.replicas is None:
            ctx.replicas = value

    def _s_labels(self, ctx: _ServiceCtx, value: Any) -> None:
        labels = _labels(value)
        if labels:
            ctx.out["labels"] = labels

    def _s_devices(self, ctx: _ServiceCtx, value: Any) -> None:
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
                    self.error(path, f"invalid device {item!r}", "write /dev/x[:/dev/y[:rwm]]")
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
                self.error(path, "a device needs a host path")
                continue
            devices.append(device)
        if devices:
            ctx.out["devices"] = devices

    def _s_profiles(self, ctx: _ServiceCtx, value: Any) -> None:
        pass  # applied before translation


def _string_key(target: str) -> Callable[[_Importer, _ServiceCtx, Any], None]:
    def handler(self: _Importer, ctx: _ServiceCtx, value: Any) -> None:
        if value is not None:
            ctx.out[target] = _scalar(value)

    return handler


def _passthrough_key(target: str) -> Callable[[_Importer, _ServiceCtx, Any], None]:
    def handler(self: _Importer, ctx: _ServiceCtx, value: Any) -> None:
        if value is not None:
            ctx.out[target] = value

    return handler


def _list_key(target: str) -> Callable[[_Importer, _ServiceCtx, Any], None]:
    def handler(self: _Importer, ctx: _ServiceCtx, value: Any) -> None:
        items = [_scalar(v) for v in (value or [])]
        if items:
            ctx.out[target] = list(dict.fromkeys(items))

    return handler


def _legacy_resource(target: str) -> Callable[[_Importer, _ServiceCtx, Any], None]:
    def handler(self: _Importer, ctx: _ServiceCtx, value: Any) -> None:
        if value is not None:
            if target == "cpus":
                value = _cpus(value)
            elif target == "cpuset":
                value = _scalar(value)
            ctx.legacy_resources[target] = value

    return handler


@dataclass
class _ServiceCtx:
    raw: str
    path: str
    out: dict[str, Any]
    replicas: Any = None
    deploy_restart: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    legacy_resources: dict[str, Any] = field(default_factory=dict)


_SERVICE_KEYS: dict[str, Callable[[_Importer, _ServiceCtx, Any], None]] = {
    "image": _Importer._s_image,
    "container_name": lambda _imp, _ctx, _value: None,  # once replicas are known
    "build": _Importer._s_build,
    "pull_policy": _Importer._s_pull_policy,
    "command": _Importer._s_command,
    "entrypoint": _Importer._s_entrypoint,
    "working_dir": _string_key("workingDir"),
    "user": _string_key("user"),
    "hostname": _string_key("hostname"),
    "environment": _Importer._s_environment,
    "env_file": _Importer._s_env_file,
    "secrets": _Importer._s_secrets,
    "ports": _Importer._s_ports,
    "expose": _Importer._s_expose,
    "volumes": _Importer._s_volumes,
    "tmpfs": _Importer._s_tmpfs,
    "networks": _Importer._s_networks,
    "network_mode": _Importer._s_network_mode,
    "depends_on": _Importer._s_depends_on,
    "healthcheck": _Importer._s_healthcheck,
    "restart": _Importer._s_restart,
    "deploy": _Importer._s_deploy,
    "scale": _Importer._s_scale,
    "mem_limit": _legacy_resource("memory"),
    "mem_reservation": _legacy_resource("memoryReservation"),
    "cpus": _legacy_resource("cpus"),
    "pids_limit": _legacy_resource("pids"),
    "cpu_shares": _legacy_resource("cpuShares"),
    "cpu_quota": _legacy_resource("cpuQuota"),
    "cpu_period": _legacy_resource("cpuPeriod"),
    "cpuset": _legacy_resource("cpuset"),
    "memswap_limit": _legacy_resource("memorySwap"),
    "mem_swappiness": _legacy_resource("memorySwappiness"),
    "oom_kill_disable": _legacy_resource("oomKillDisable"),
    "labels": _Importer._s_labels,
    "cap_add": _list_key("capAdd"),
    "cap_drop": _list_key("capDrop"),
    "devices": _Importer._s_devices,
    "read_only": _passthrough_key("readOnly"),
    "init": _passthrough_key("init"),
    "privileged": _passthrough_key("privileged"),
    "stop_grace_period": _passthrough_key("stopGracePeriod"),
    "stop_signal": _string_key("stopSignal"),
    "profiles": _Importer._s_profiles,
    "configs": lambda _imp, ctx, value: ctx.out.__setitem__(compose_configs.PENDING_KEY, value),
}

_SERVICE_KEYS.update(compose_keys.SERVICE_KEYS)

_SWARM = "a Swarm-only setting"
_UNSUPPORTED_SERVICE_KEYS: dict[str, str] = {
    "platform": "dockyard uses the engine's own platform",
    "runtime": "no equivalent: the engine's default runtime is used",
    "attach": "no equivalent: dockyard never attaches to output",
    "isolation": "Windows-only setting",
    "cpu_count": "no equivalent: use deploy.resources.limits.cpus",
    "cpu_percent": "no equivalent: use deploy.resources.limits.cpus",
    "cpu_rt_runtime": "no equivalent",
    "cpu_rt_period": "no equivalent",
    "blkio_config": "no equivalent",
    "annotations": "no equivalent",
    "credential_spec": "Windows-only setting",
    "develop": "Compose watch is a development feature without an equivalent",
    "post_start": "lifecycle hooks are not supported",
    "pre_stop": "lifecycle hooks are not supported",
    "label_file": "no equivalent: write the labels in labels:",
    "models": "no equivalent",
    "provider": "no equivalent",
    "use_api_socket": "no equivalent",
    "net": "legacy network setting; use networks",
}

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
_SERVICE_ORDER = [
    "name",
    "image",
    "build",
    "pullPolicy",
    "command",
    "entrypoint",
    "workingDir",
    "user",
    "hostname",
    "containerName",
    "env",
    "envFiles",
    "secrets",
    "ports",
    "volumeMounts",
    "networks",
    "networkMode",
    "healthcheck",
    "restart",
    "replicas",
    "dependsOn",
    "resources",
    "update",
    "placement",
    "stopGracePeriod",
    "stopSignal",
    "init",
    "labels",
    "capAdd",
    "capDrop",
    "devices",
    "readOnly",
    "privileged",
    "logging",
    "ulimits",
    "sysctls",
    "shmSize",
    "dns",
    "dnsSearch",
    "dnsOptions",
    "extraHosts",
    "securityOpt",
    "tty",
    "stdinOpen",
    "pidMode",
    "ipcMode",
    "groupAdd",
    "oomScoreAdj",
    "cgroupParent",
    "domainname",
    "links",
    "usernsMode",
    "utsMode",
    "cgroupnsMode",
    "deviceCgroupRules",
    "storageOpt",
]
_MOUNT_ORDER = ["volume", "hostPath", "tmpfs", "mountPath", "readOnly"]
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")

_VAR_REF = re.compile(
    r"\$(?:\$|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)|\{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)(?P<op>:?[-?+])?)"
)


# --------------------------------------------------------------------------------------------
# Normalisation and merging (plain data)


def _normalise_service(svc: dict[str, Any]) -> dict[str, Any]:
    """Bring the keys that have several forms into one, so files and extends merge simply."""
    out = dict(svc)
    build = out.get("build")
    if isinstance(build, str):
        out["build"] = {"context": build}
    if isinstance(out.get("build"), dict) and "args" in out["build"]:
        out["build"] = {**out["build"], "args": _mapping(out["build"]["args"])}
    for key in ("environment",):
        if key in out and not isinstance(out[key], _Reset | _Override):
            out[key] = _env_mapping(out[key])
    if "labels" in out and not isinstance(out["labels"], _Reset | _Override):
        out["labels"] = _mapping(out["labels"])
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


def _env_mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    result: dict[str, Any] = {}
    for item in value:
        text = str(item)
        key, sep, val = text.partition("=")
        result[key] = val if sep else None
    return result


def _mapping(value: Any) -> dict[str, Any]:
    """labels / build args: a mapping, or a list of `KEY=VALUE` (or bare `KEY`)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    result: dict[str, Any] = {}
    for item in value:
        key, sep, val = str(item).partition("=")
        result[key] = val if sep else None
    return result


def _labels(value: Any) -> dict[str, str]:
    return {k: "" if v is None else _scalar(v) for k, v in _mapping(value).items()}


def _mapping_of_defs(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in value.items()}


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


def _merge(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    """Compose's override rules: mappings merge, most sequences append (unique by key)."""
    if isinstance(over, _Reset):
        return _RESET
    if isinstance(over, _Override):
        return over.value
    if len(path) == 3 and path[0] == "services" and path[2] in _OVERRIDE_PATHS:
        return over
    if path[-2:] == ("healthcheck", "test") and len(path) == 4:
        return over
    if isinstance(base, dict) and isinstance(over, dict):
        result = dict(base)
        for key, value in over.items():
            if key in result and not key.startswith("x-"):
                merged = _merge(result[key], value, (*path, key))
                if merged is _RESET:
                    del result[key]
                else:
                    result[key] = merged
            elif isinstance(value, _Reset):
                result.pop(key, None)
            else:
                result[key] = value.value if isinstance(value, _Override) else value
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


def _strip_markers(node: Any) -> Any:
    if isinstance(node, _Override):
        return _strip_markers(node.value)
    if isinstance(node, dict):
        return {k: _strip_markers(v) for k, v in node.items() if not isinstance(v, _Reset)}
    if isinstance(node, list):
        return [_strip_markers(v) for v in node if not isinstance(v, _Reset)]
    return node


def _is_host_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", source))


def _rebase(raw: str, from_dir: Path, to_dir: Path) -> str:
    if raw.startswith(("/", "~")) or "://" in raw or raw.startswith("git@"):
        return raw
    rel = os.path.relpath(from_dir / raw, to_dir)
    rel = rel.replace(os.sep, "/")
    return rel if rel.startswith(".") else f"./{rel}"


def _rebase_service(svc: dict[str, Any], from_dir: Path, to_dir: Path) -> dict[str, Any]:
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


def _rebase_doc(doc: dict[str, Any], from_dir: Path, to_dir: Path) -> dict[str, Any]:
    """An included project's relative paths, relative to this project's folder instead."""
    if from_dir.resolve() == to_dir.resolve():
        return doc
    out = dict(doc)
    services = out.get("services") or {}
    out["services"] = {
        name: _rebase_service(svc, from_dir, to_dir) if isinstance(svc, dict) else svc
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


# --------------------------------------------------------------------------------------------
# Small value helpers


def _scalar(value: Any) -> str:
    """A YAML scalar as Compose turns it into a string (`true`, `8000`, `1.5`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _cpus(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _tmpfs_size(value: str) -> Any:
    return int(value) if value.isdigit() else value


def _port_range(text: str, whole: str) -> list[int]:
    text = text.strip()
    start, sep, end = text.partition("-")
    try:
        first = int(start)
        last = int(end) if sep else first
    except ValueError:
        raise ValueError(f"invalid port {whole!r}") from None
    if last < first or not (0 < first <= 65535 and 0 < last <= 65535):
        raise ValueError(f"invalid port range in {whole!r}")
    return list(range(first, last + 1))


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _ordered(item: dict[str, Any], order: list[str]) -> dict[str, Any]:
    rank = {k: i for i, k in enumerate(order)}
    return dict(sorted(item.items(), key=lambda kv: rank.get(kv[0], len(order))))


def _escape_dollars(node: Any) -> Any:
    """Manifests are interpolated when loaded: write every literal `$` as `$$`."""
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, list):
        return [_escape_dollars(v) for v in node]
    if isinstance(node, dict):
        return {k: _escape_dollars(v) for k, v in node.items()}
    return node
