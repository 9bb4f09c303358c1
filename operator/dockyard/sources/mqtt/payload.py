"""The desired-state payload: what the publisher sends one agent, and how the agent
validates it (like any manifest: every problem is reported, nothing half-valid is used).

    {
      "apiVersion": "dockyard.dev/v1alpha1",
      "kind": "AgentDesiredState",
      "agent": "edge-17",
      "revision": 12,                     # per agent, only ever grows
      "digest": "…",                      # of apps + secrets: same content, same digest
      "publishedAt": "2026-01-01T00:00:00Z",
      "source": {"id": "dir:/srv/apps", "revision": "3f9a…"},
      "apps": [ {App manifest: this agent's replicas, env resolved, no placement} ],
      "secrets": {"APP": {"SECRET": "base64…"}}   # only secrets of this agent's apps
    }
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.spec.errors import FieldError
from dockyard.spec.load import LoadedApp, Secret, parse_app
from dockyard.spec.models import API_VERSION

KIND = "AgentDesiredState"
STATUS_KIND = "AgentStatus"
SECRET_ENV = "DOCKYARD_AGENT_SECRET_"


class PayloadError(Exception):
    """A desired-state payload the agent will not apply; every problem, by field."""

    def __init__(self, errors: Sequence[FieldError], revision: int | None = None) -> None:
        self.errors = list(errors)
        self.revision = revision
        super().__init__(self.render())

    def render(self) -> str:
        return "; ".join(e.render() for e in self.errors)


@dataclass(frozen=True)
class AppVersion:
    """One app as the agent received it: the wire form (kept on disk) and the loaded app."""

    name: str
    doc: Mapping[str, Any]
    secrets: Mapping[str, str] = field(repr=False)  # name -> base64
    revision: int
    loaded: LoadedApp

    @property
    def digest(self) -> str:
        return digest_of(self.doc, self.secrets)

    def wire(self) -> dict[str, Any]:
        return {"app": self.doc, "secrets": dict(self.secrets), "revision": self.revision}


@dataclass(frozen=True)
class DesiredState:
    agent: str
    revision: int
    apps: Mapping[str, AppVersion]
    published_at: str = ""
    source: Mapping[str, str] = field(default_factory=dict)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def digest_of(doc: Any, secrets: Any = None) -> str:
    text = json.dumps([doc, secrets or {}], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- publisher side ----------------------------------------------------------------------


def _escape(node: Any) -> Any:
    """`$` → `$$` in every string: the agent loads the app like a manifest, which
    interpolates; what the publisher already resolved must arrive unchanged."""
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, list):
        return [_escape(n) for n in node]
    if isinstance(node, dict):
        return {k: _escape(v) for k, v in node.items()}
    return node


def agent_app(loaded: LoadedApp, replicas: Mapping[str, int]) -> tuple[dict[str, Any], list[str]]:
    """The App one agent runs: `replicas` per service (placement is decided by the
    publisher, so it is dropped), environment resolved (env files are read here), secrets
    named only (their values travel beside the app). Returns (document, problems)."""
    problems: list[str] = []
    doc = loaded.app.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    doc["apiVersion"], doc["kind"] = API_VERSION, "App"
    spec = doc.setdefault("spec", {})
    spec.pop("placement", None)
    services = []
    for svc_doc, svc in zip(spec.get("services", []), loaded.app.spec.services, strict=True):
        svc_doc.pop("placement", None)
        svc_doc.pop("envFiles", None)
        svc_doc["replicas"] = replicas.get(svc.name, 0)
        env = loaded.service_env(svc.name)
        if env:
            svc_doc["env"] = [{"name": k, "value": v} for k, v in env]
        else:
            svc_doc.pop("env", None)
        if svc.build is not None:
            if svc.image is None:
                problems.append(
                    f"service {svc.name} has build but no image: an agent cannot build from "
                    "the controller's files; build and push the image, and set image"
                )
            svc_doc.pop("build", None)
        services.append(svc_doc)
    spec["services"] = services
    if loaded.app.spec.secrets:
        spec["secrets"] = [{"name": s.name} for s in loaded.app.spec.secrets]
    doc["spec"] = _escape(spec)
    return doc, problems


def agent_secrets(loaded: LoadedApp) -> dict[str, str]:
    return {
        name: base64.b64encode(secret.reveal()).decode() for name, secret in loaded.secrets.items()
    }


def content(apps: Sequence[tuple[dict[str, Any], dict[str, str]]]) -> dict[str, Any]:
    """The part of a payload that says what to run (its digest decides a new revision)."""
    ordered = sorted(apps, key=lambda a: str(a[0]["metadata"]["name"]))
    return {
        "apps": [doc for doc, _ in ordered],
        "secrets": {str(doc["metadata"]["name"]): s for doc, s in ordered if s},
    }


def encode(
    agent: str, revision: int, body: Mapping[str, Any], source: Mapping[str, str] | None = None
) -> bytes:
    payload = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "agent": agent,
        "revision": revision,
        "digest": digest_of(body["apps"], body["secrets"]),
        "publishedAt": now(),
        "source": dict(source or {}),
        **body,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


# ---- agent side --------------------------------------------------------------------------


def peek_revision(data: bytes) -> int | None:
    """The revision of a payload, if it has a readable one (even when the rest is bad)."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    rev = raw.get("revision") if isinstance(raw, dict) else None
    return rev if isinstance(rev, int) and not isinstance(rev, bool) and rev > 0 else None


def decode(data: bytes, agent: str, base_dir: Path) -> DesiredState:
    """Validate a whole payload; PayloadError lists every problem."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError([FieldError("(payload)", f"not valid JSON: {exc}")]) from None
    if not isinstance(raw, dict):
        raise PayloadError([FieldError("(payload)", "expected a JSON object")])
    errors: list[FieldError] = []
    revision = peek_revision(data)
    if raw.get("apiVersion") != API_VERSION or raw.get("kind") != KIND:
        errors.append(
            FieldError(
                "kind",
                f"not an agent desired state (apiVersion {raw.get('apiVersion')!r}, "
                f"kind {raw.get('kind')!r})",
                f"publish apiVersion {API_VERSION}, kind {KIND}",
            )
        )
    if raw.get("agent") != agent:
        errors.append(FieldError("agent", f"is {raw.get('agent')!r}, but this agent is {agent!r}"))
    if revision is None:
        errors.append(FieldError("revision", "must be a positive integer"))
    apps_raw = raw.get("apps")
    secrets_raw = raw.get("secrets", {})
    if not isinstance(apps_raw, list):
        errors.append(FieldError("apps", "must be a list of App manifests"))
        apps_raw = []
    if not isinstance(secrets_raw, dict):
        errors.append(FieldError("secrets", "must map app names to {secret: base64}"))
        secrets_raw = {}
    apps: dict[str, AppVersion] = {}
    for index, doc in enumerate(apps_raw):
        name = _doc_name(doc, index)
        path = f"apps[{name}]"
        if not isinstance(doc, dict):
            errors.append(FieldError(path, "expected an App manifest (a JSON object)"))
            continue
        secrets = secrets_raw.get(name, {})
        version = decode_app(doc, secrets, revision or 0, base_dir, errors, path)
        if version is None:
            continue
        if version.name in apps:
            errors.append(FieldError(path, f"app {version.name!r} is sent twice"))
        apps[version.name] = version
    if errors:
        raise PayloadError(errors, revision)
    source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
    return DesiredState(
        agent=agent,
        revision=revision or 0,
        apps=apps,
        published_at=str(raw.get("publishedAt", "")),
        source={str(k): str(v) for k, v in (source or {}).items()},
    )


def decode_app(
    doc: dict[str, Any],
    secrets: Any,
    revision: int,
    base_dir: Path,
    errors: list[FieldError],
    path: str = "app",
) -> AppVersion | None:
    """One App of a payload (or of the agent's state on disk), loaded like a manifest."""
    local: list[FieldError] = []
    wire = doc
    if not isinstance(secrets, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
    ):
        errors.append(FieldError(f"secrets.{_doc_name(doc, 0)}", "must map names to base64"))
        return None
    env: dict[str, str] = {}
    spec = doc.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("secrets"), list):
        refs: list[dict[str, str]] = []
        for item in spec["secrets"]:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                local.append(FieldError("spec.secrets", "each secret needs a name"))
                continue
            if name not in secrets:
                local.append(
                    FieldError(
                        f"spec.secrets[{name}]",
                        "no value was sent for this secret",
                        "the publisher sends the values in secrets.APP.NAME",
                    )
                )
                continue
            try:
                value = base64.b64decode(secrets[name], validate=True)
            except (binascii.Error, ValueError):
                local.append(FieldError(f"spec.secrets[{name}]", "its value is not base64"))
                continue
            key = f"{SECRET_ENV}{len(refs)}"
            env[key] = value.decode("latin-1")  # any bytes; the exact ones are kept below
            refs.append({"name": name, "env": key})
        doc = {**doc, "spec": {**spec, "secrets": refs}}
    loaded = parse_app(doc, f"mqtt:{path}", base_dir, env, local) if not local else None
    errors.extend(FieldError(f"{path}.{e.path}", e.message, e.hint) for e in local)
    if loaded is None or local:
        return None
    # Secret values as bytes exactly as sent (env strings are only the carrier).
    values = {s.name: Secret(base64.b64decode(secrets[s.name])) for s in loaded.app.spec.secrets}
    loaded = dataclasses.replace(loaded, secrets=values)
    return AppVersion(loaded.name, wire, dict(secrets), revision, loaded)


def _doc_name(doc: Any, index: int) -> str:
    if isinstance(doc, dict):
        meta = doc.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            return str(meta["name"])
    return str(index)
