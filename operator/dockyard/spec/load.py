"""Loading manifests from files and folders: YAML, interpolation, validation, resolution.

A load either returns every document fully resolved or raises one SpecError
listing every problem; nothing downstream ever sees a half-valid spec.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from .compose import import_compose, is_compose_document
from .envfile import read_env_file
from .errors import FieldError, SpecError
from .inputs import file_hash, path_digest, secret_hash
from .interpolate import interpolate_tree
from .models import API_VERSION, App, DockerHost, Service
from .policy import policy_errors
from .secret_command import run_secret_command
from .validate import app_warnings, unique_apps, validate_app
from .yamldoc import Document, gc_paused, parse_documents, yaml_error

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

_M = TypeVar("_M", App, DockerHost)

# Reads a Kubernetes Secret's key: (secret name, key) -> value; LookupError says what is missing.
KubernetesSecrets = Callable[[str, str], bytes]


class Secret:
    """A secret's value. Its repr and str never show the value."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def reveal(self) -> bytes:
        return self._data

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._data == self._data

    def __hash__(self) -> int:
        return hash(self._data)


@dataclass(frozen=True)
class LoadedApp:
    """An App with everything it refers to read and resolved: ready to plan."""

    app: App
    source: str
    base_dir: Path
    # Final environment per service: env files first, then `env` entries.
    env: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    secrets: Mapping[str, Secret] = field(default_factory=dict, repr=False)
    # Content digests of watched hostPath mounts (`onChange`), by "service:mountPath".
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    # hostPath mounts from the manifest's side (relative paths), by "service:mountPath":
    # the path as written, normalized. Engines on other machines get their content.
    manifest_paths: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.app.name

    def input_hash(self, input_id: str) -> str:
        """The hash of an input's content: "secret:NAME" or "file:SERVICE:PATH" ("" when
        unknown). The same on every machine; safe to show (see spec/inputs.py)."""
        kind, _, rest = input_id.partition(":")
        if kind == "secret":
            secret = self.secrets.get(rest)
            return secret_hash(self.name, rest, secret.reveal()) if secret is not None else ""
        digest = self.files.get(rest)
        return file_hash(digest) if digest is not None else ""

    def service_env(self, service: str) -> tuple[tuple[str, str], ...]:
        return self.env.get(service, ())


@dataclass(frozen=True)
class LoadResult:
    apps: list[LoadedApp]
    hosts: list[DockerHost]
    # Compose keys that had no exact equivalent (files given as Compose are imported).
    warnings: list[str] = field(default_factory=list)


def load_paths(paths: list[Path], environ: Mapping[str, str] | None = None) -> LoadResult:
    """Load every manifest in the given files and folders; all or nothing."""
    # Not copied: each variable asked for is then one lookup (cli/input_record.py).
    environ = os.environ if environ is None else environ
    errors: list[FieldError] = []
    apps: list[LoadedApp] = []
    hosts: list[DockerHost] = []
    files: list[tuple[Path, bool]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file()
            )
            files.extend((p, False) for p in found)
        elif path.is_file():
            files.append((path, True))
        else:
            errors.append(
                FieldError(str(path), "no such file or folder", "check the path given to -f")
            )
    warnings: list[str] = []
    for group, explicit in _group_compose_files(files):
        file = group[0]
        try:
            text = file.read_text(encoding="utf-8")
            # Parsed once: a folder of 10,000 DockerHosts is one large YAML text, and
            # parsing is most of what loading it costs (see docs/edge.md, sizing).
            documents = None if len(group) > 1 else _try_parse(text)
            if len(group) > 1 or _is_compose(text, documents):
                loaded = _load_compose(group, environ, warnings)
                apps.append(loaded)
                continue
            result = load_text(
                text,
                source=str(file),
                base_dir=file.parent,
                environ=environ,
                explicit=explicit,
                documents=documents,
            )
        except SpecError as exc:
            errors.extend(exc.with_source(str(file)).errors)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(FieldError(str(file), f"cannot read: {exc}"))
            continue
        apps.extend(result.apps)
        hosts.extend(result.hosts)
    errors.extend(unique_apps([(a.app, a.source) for a in apps]))
    if errors:
        raise SpecError(errors)
    for loaded in apps:
        warnings.extend(f"{loaded.source}: {w}" for w in app_warnings(loaded.app))
    return LoadResult(apps, hosts, warnings)


_COMPOSE_BASES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_COMPOSE_OVERRIDES = {
    "compose.override.yaml": "compose",
    "compose.override.yml": "compose",
    "docker-compose.override.yaml": "docker-compose",
    "docker-compose.override.yml": "docker-compose",
}


def _group_compose_files(files: list[tuple[Path, bool]]) -> list[tuple[list[Path], bool]]:
    """In a folder, `compose.override.yaml` is merged over `compose.yaml`, as Compose does."""
    found = {f for f, _ in files}
    groups: list[tuple[list[Path], bool]] = []
    merged: set[Path] = set()
    for file, explicit in files:
        stem = _COMPOSE_OVERRIDES.get(file.name)
        if stem is not None and not explicit:
            bases = [file.parent / f"{stem}{ext}" for ext in (".yaml", ".yml")]
            if any(b in found for b in bases):
                continue  # merged into its base below
        group = [file]
        if file.name in _COMPOSE_BASES and not explicit:
            stem = file.name.rsplit(".", 1)[0]
            for ext in (".yaml", ".yml"):
                override = file.parent / f"{stem}.override{ext}"
                if override in found and override not in merged:
                    group.append(override)
                    merged.add(override)
        groups.append((group, explicit))
    return groups


def _try_parse(text: str) -> list[Document] | None:
    """The text's documents, or None when it is not plain YAML (load_text says why)."""
    try:
        return parse_documents(text)
    except yaml.YAMLError:
        return None


def _is_compose(text: str, documents: list[Document] | None) -> bool:
    if documents is None:
        # Compose's own tags (!reset, !override) are not plain YAML: let the importer judge.
        return "services:" in text and "apiVersion:" not in text
    return len(documents) == 1 and is_compose_document(documents[0].data)


def _load_compose(group: list[Path], environ: Mapping[str, str], warnings: list[str]) -> LoadedApp:
    """A Compose project read directly: imported to an App, then loaded like any manifest."""
    imported = import_compose(group, environ=environ)
    source = str(group[0])
    warnings.extend(f"{source}: {w.render()}" for w in imported.warnings)
    env = _interpolation_env(imported.base_dir, environ)
    errors: list[FieldError] = []
    loaded = parse_app(imported.app, source, imported.base_dir, env, errors)
    if loaded is None or errors:
        raise SpecError(errors)
    return loaded


def load_text(
    text: str,
    source: str,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    explicit: bool = True,
    documents: list[Document] | None = None,
) -> LoadResult:
    """Load the documents of one YAML text (one or more `---`-separated documents);
    `documents`: the text already parsed (`parse_documents(text)`)."""
    try:
        if documents is None:
            documents = parse_documents(text)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source) from None
    docs = [d.data for d in documents]
    env = _interpolation_env(base_dir, environ)
    apps: list[LoadedApp] = []
    hosts: list[DockerHost] = []
    errors: list[FieldError] = []
    with gc_paused():  # thousands of models that all survive (see yamldoc.parse_documents)
        for index, doc in enumerate(docs):
            prefix = f"document {index + 1}: " if len(docs) > 1 else ""
            if not isinstance(doc, dict):
                # In a folder, other YAML (configuration files beside the manifest) is not ours.
                if explicit:
                    errors.append(FieldError(f"{prefix}(root)", "expected a mapping", "", source))
                continue
            kind = doc.get("kind")
            api_version = doc.get("apiVersion")
            if kind == "Policy" and api_version == API_VERSION and not explicit:
                continue  # read by --policy (spec/policy.py), never applied
            if api_version != API_VERSION or kind not in ("App", "DockerHost"):
                # In a folder, skip YAML that is not ours, but never a near miss: an App
                # silently dropped for a typo in apiVersion would look like a deleted App.
                ours = kind in ("App", "DockerHost") or str(api_version).startswith("dockyard.dev/")
                if explicit or ours:
                    errors.append(
                        FieldError(
                            f"{prefix}{'kind' if api_version == API_VERSION else 'apiVersion'}",
                            f"not a dockyard manifest (apiVersion {doc.get('apiVersion')!r}, "
                            f"kind {kind!r})",
                            f"use apiVersion: {API_VERSION} with kind App or DockerHost",
                            source,
                        )
                    )
                continue
            doc_errors: list[FieldError] = []
            if kind == "App":
                loaded = parse_app(doc, source, base_dir, env, doc_errors)
                if loaded is not None:
                    apps.append(loaded)
            else:
                host = _parse_model(DockerHost, doc, doc_errors)
                if host is not None:
                    host = _resolve_host(host, base_dir, doc_errors)
                if host is not None:
                    hosts.append(host)
            errors.extend(
                FieldError(
                    prefix + e.path,
                    e.message,
                    e.hint,
                    source,
                    e.line or documents[index].line_of(e.path),
                    _app_named(doc) if kind == "App" else "",
                )
                for e in doc_errors
            )
    if errors:
        raise SpecError(errors)
    return LoadResult(apps, hosts)


def _app_named(doc: dict[str, Any]) -> str:
    """The App's name as its document gives it ("" when it gives none that could be one)."""
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _interpolation_env(base_dir: Path, environ: Mapping[str, str] | None) -> Mapping[str, str]:
    # As in Compose: the `.env` beside the manifest, overridden by the process environment.
    env: dict[str, str] = {}
    process = os.environ if environ is None else environ
    dotenv = base_dir / ".env"
    if dotenv.is_file():
        # A broken .env is reported when a service names it in envFiles.
        with contextlib.suppress(OSError, ValueError):
            read_env_file(dotenv, process, env)  # `${VAR}` inside: process env, then earlier lines
    return ChainMap(process, env)  # type: ignore[arg-type]


def parse_app(
    doc: dict[str, Any],
    source: str,
    base_dir: Path,
    env: Mapping[str, str],
    errors: list[FieldError],
    kubernetes_secrets: KubernetesSecrets | None = None,
) -> LoadedApp | None:
    """Validate one App document and resolve what it refers to. `kubernetes_secrets`
    reads `kubernetesSecret: {name, key}` (raising LookupError with what is missing)."""
    if isinstance(doc.get("spec"), dict):
        doc = {**doc, "spec": interpolate_tree(doc["spec"], env, "spec", errors)}
    app = _parse_model(App, doc, errors)
    if app is None:
        return None
    errors.extend(validate_app(app))
    errors.extend(policy_errors(app))  # before anything is read from disk or a store
    if errors:
        return None
    return _resolve(app, source, base_dir, env, errors, kubernetes_secrets)


def _parse_model(model: type[_M], doc: dict[str, Any], errors: list[FieldError]) -> _M | None:
    try:
        # Manifests use the camelCase names only; snake_case is for Python callers.
        return model.model_validate(doc, by_alias=True, by_name=False)
    except ValidationError as exc:
        for err in exc.errors():
            errors.append(_field_error(doc, err, model))
        return None


def _field_error(doc: dict[str, Any], err: Any, model: type[BaseModel]) -> FieldError:
    path = _render_loc(doc, err["loc"])
    kind = err["type"]
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    hint = ""
    if kind == "extra_forbidden":
        msg = "unknown field"
        hint = "check the spelling against docs/manifest.md (field names are camelCase)"
        known = _known_fields(model, err["loc"][:-1])
        close = difflib.get_close_matches(to_camel(str(err["loc"][-1])), known, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {close[0]}?"
        elif known:
            hint = f"known fields here: {', '.join(known)}"
    elif kind == "missing":
        msg = "required field is missing"
    elif kind == "string_type" and isinstance(err.get("input"), int | float | bool):
        # YAML reads 1.4, 8080, true and 22:22 (base 60!) as numbers or booleans.
        hint = f"got {err.get('input')!r}; quote it in YAML to keep it a string"
    elif kind == "list_type":
        hint = f"got {err.get('input')!r}; write a YAML list (one '- ' item per entry)"
    elif kind in (
        "int_parsing",
        "int_type",
        "int_from_float",
        "float_parsing",
        "float_type",
        "bool_parsing",
        "bool_type",
        "literal_error",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
    ):
        hint = f"got {err.get('input')!r}"
    return FieldError(path, msg, hint)


def _known_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names (as written in manifests) of the model found at `loc`, if any."""
    current: Any = model
    for item in loc:
        if isinstance(item, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        by_alias = {(f.alias or name): f for name, f in current.model_fields.items()}
        found = by_alias.get(str(item))
        if found is None:
            continue  # union member or validator names in loc
        current = _model_in(found.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [(f.alias or name) for name, f in current.model_fields.items()]
    return []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside `X`, `X | None`, `list[X]` or `dict[str, X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _render_loc(doc: Any, loc: tuple[Any, ...]) -> str:
    """`spec.services[web].replicas` rather than `spec.services.0.replicas`."""
    parts: list[str] = []
    node = doc
    for item in loc:
        if isinstance(item, int):
            label = str(item)
            if isinstance(node, list) and 0 <= item < len(node):
                child = node[item]
                if isinstance(child, dict):
                    key = child.get("name") or child.get("mountPath") or child.get("service")
                    if isinstance(key, str):
                        label = key
                    elif isinstance(child.get("target"), int):
                        label = str(child["target"])
                node = child
            else:
                node = None
            parts.append(f"[{label}]")
        else:
            # Union members and validator names show up in loc; skip what the user never wrote.
            if isinstance(node, dict) and item in node:
                node = node[item]
                parts.append(("." if parts else "") + str(item))
            elif not isinstance(node, dict) or item[:1].isupper() or "[" in str(item):
                continue
            else:
                node = None
                parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(root)"


def _within(base: Path, raw: str, path: str, errors: list[FieldError]) -> Path | None:
    """Resolve a manifest-relative path; refuse (None) relative paths that climb out of it."""
    candidate = Path(raw)
    if candidate.is_absolute():
        return candidate
    resolved = (base / candidate).resolve()
    try:
        resolved.relative_to(base.resolve())
    except ValueError:
        errors.append(
            FieldError(
                path,
                f"relative path {raw!r} leaves the manifest's folder",
                "keep files beside the manifest, or write an absolute path if you mean it",
            )
        )
        return None
    return resolved


def _resolve(
    app: App,
    source: str,
    base_dir: Path,
    env: Mapping[str, str],
    errors: list[FieldError],
    kubernetes_secrets: KubernetesSecrets | None = None,
) -> LoadedApp | None:
    secrets: dict[str, Secret] = {}
    for index, sec in enumerate(app.spec.secrets):
        path = f"spec.secrets[{sec.name}]"
        if sec.file is not None:
            file = _within(base_dir, sec.file, f"{path}.file", errors)
            if file is None:
                continue
            try:
                secrets[sec.name] = Secret(file.read_bytes())
            except OSError as exc:
                errors.append(
                    FieldError(
                        f"{path}.file",
                        f"cannot read secret file {sec.file!r}: {exc.strerror}",
                        "create the file, or point file: at an existing one",
                    )
                )
            else:
                app = _replace_secret_file(app, index, str(file))
        elif sec.env is not None:
            value = env.get(sec.env)
            if value is None:
                errors.append(
                    FieldError(
                        f"{path}.env",
                        f"environment variable {sec.env} is not set",
                        f"export {sec.env}=… before running dockyard",
                    )
                )
            else:
                secrets[sec.name] = Secret(value.encode())
        elif sec.content is not None:
            secrets[sec.name] = Secret(sec.content.encode())
        elif sec.command is not None:
            if kubernetes_secrets is not None:
                errors.append(
                    FieldError(
                        f"{path}.command",
                        "command secrets are not run for Apps from Kubernetes (whoever may "
                        "create an App would run programs in the operator)",
                        "use kubernetesSecret, synced from the store by its own operator",
                    )
                )
                continue
            got = run_secret_command(sec, base_dir, path)
            if isinstance(got, FieldError):
                errors.append(got)
            else:
                secrets[sec.name] = Secret(got)
        elif kubernetes_secrets is not None and sec.kubernetes_secret is not None:
            ref = sec.kubernetes_secret
            try:
                secrets[sec.name] = Secret(kubernetes_secrets(ref.name, ref.key))
            except LookupError as exc:
                errors.append(
                    FieldError(
                        f"{path}.kubernetesSecret",
                        str(exc.args[0]) if exc.args else f"secret {ref.name} is not readable",
                        f"create it: kubectl create secret generic {ref.name} "
                        f"--from-literal={ref.key}=…",
                    )
                )
        else:
            errors.append(
                FieldError(
                    f"{path}.kubernetesSecret",
                    "kubernetesSecret is only available when the App comes from Kubernetes",
                    "use file: or env: for manifests applied from files",
                )
            )

    services: list[Service] = []
    service_env: dict[str, tuple[tuple[str, str], ...]] = {}
    files: dict[str, bytes] = {}
    manifest_paths: dict[str, str] = {}
    for svc in app.spec.services:
        base = f"spec.services[{svc.name}]"
        merged: dict[str, str] = {}
        env_files: list[str] = []
        for raw in svc.env_files:
            file = _within(base_dir, raw, f"{base}.envFiles[{raw}]", errors)
            if file is None:
                continue
            env_files.append(str(file))
            try:
                merged.update(read_env_file(file, env))  # `${VAR}` from the project env, as Compose
            except OSError as exc:
                errors.append(
                    FieldError(
                        f"{base}.envFiles[{raw}]",
                        f"cannot read env file: {exc.strerror}",
                        "create the file or remove it from envFiles",
                    )
                )
            except ValueError as exc:
                errors.append(FieldError(f"{base}.envFiles[{raw}]", str(exc)))
        for var in svc.env:
            merged[var.name] = var.value
        service_env[svc.name] = tuple(merged.items())

        update: dict[str, Any] = {"env_files": env_files}
        if svc.build is not None:
            context = _within(base_dir, svc.build.context, f"{base}.build.context", errors)
            if context is None:
                pass
            elif not context.is_dir():
                errors.append(
                    FieldError(
                        f"{base}.build.context",
                        f"build context {svc.build.context!r} is not a folder",
                        "point context at the folder holding the Dockerfile",
                    )
                )
            elif not (context / svc.build.dockerfile).is_file():
                errors.append(
                    FieldError(
                        f"{base}.build.dockerfile",
                        f"no {svc.build.dockerfile} in {svc.build.context}",
                        "name the Dockerfile relative to the build context",
                    )
                )
            update["build"] = svc.build.model_copy(update={"context": str(context)})
        mounts = []
        for mount in svc.volume_mounts:
            if mount.host_path is not None:
                where = f"{base}.volumeMounts[{mount.mount_path}].hostPath"
                host = _within(base_dir, mount.host_path, where, errors)
                if host is not None:
                    if not Path(mount.host_path).is_absolute():
                        relative = host.relative_to(base_dir.resolve()).as_posix()
                        manifest_paths[f"{svc.name}:{mount.mount_path}"] = relative
                    mount = mount.model_copy(update={"host_path": str(host)})
                    if mount.on_change is not None:
                        try:
                            files[f"{svc.name}:{mount.mount_path}"] = path_digest(host)
                        except OSError as exc:
                            errors.append(
                                FieldError(
                                    where,
                                    f"cannot read {mount.host_path} to watch it: {exc.strerror}",
                                    "create it, or drop onChange",
                                )
                            )
            mounts.append(mount)
        update["volume_mounts"] = mounts
        services.append(svc.model_copy(update=update))

    if errors:
        return None
    app = app.model_copy(update={"spec": app.spec.model_copy(update={"services": services})})
    return LoadedApp(
        app=app,
        source=source,
        base_dir=base_dir,
        env=service_env,
        secrets=secrets,
        files=files,
        manifest_paths=manifest_paths,
    )


def _resolve_host(host: DockerHost, base_dir: Path, errors: list[FieldError]) -> DockerHost | None:
    """Resolve the TLS files of a DockerHost against the manifest's folder."""
    tls = host.spec.tls
    if tls is None:
        return host
    update: dict[str, str] = {}
    for attr, alias in (("ca_file", "caFile"), ("cert_file", "certFile"), ("key_file", "keyFile")):
        raw = getattr(tls, attr)
        if raw is None:
            continue
        where = f"spec.tls.{alias}"
        file = _within(base_dir, raw, where, errors)
        if file is None:
            continue
        if not file.is_file():
            errors.append(
                FieldError(where, f"no such file {raw!r}", "relative paths start at the manifest")
            )
            continue
        update[attr] = str(file)
    if len(errors) > 0:
        return None
    spec = host.spec.model_copy(update={"tls": tls.model_copy(update=update)})
    return host.model_copy(update={"spec": spec})


def _replace_secret_file(app: App, index: int, file: str) -> App:
    secrets = list(app.spec.secrets)
    secrets[index] = secrets[index].model_copy(update={"file": file})
    return app.model_copy(update={"spec": app.spec.model_copy(update={"secrets": secrets})})
