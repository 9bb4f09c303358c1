"""Manifests in tests: App documents built from parts, and written where a source reads them."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from helpers import BASE_IMAGE

Doc = Mapping[str, Any]


def service(name: str, command: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """A busybox service that stops fast (init, 1 s grace); `fields` are manifest keys."""
    svc: dict[str, Any] = {
        "name": name,
        "image": BASE_IMAGE,
        "pullPolicy": "Never",
        "command": command or ["sleep", "3600"],
        "restart": "always",
        "init": True,
        "stopGracePeriod": "1s",
    }
    svc.update(fields)
    return svc


def app(
    name: str,
    services: list[dict[str, Any]],
    volumes: Sequence[str | Doc] = (),
    networks: Sequence[str | Doc] = (),
    **spec: Any,
) -> dict[str, Any]:
    """The App document `name` of `services`; `spec` are more keys of its spec. A volume or
    network is its name or its whole entry."""
    body: dict[str, Any] = {"services": services}
    if volumes:
        body["volumes"] = [_entry(v) for v in volumes]
    if networks:
        body["networks"] = [_entry(n) for n in networks]
    body.update(spec)
    doc: dict[str, Any] = {"apiVersion": "dockyard.dev/v1alpha1", "kind": "App"}
    doc["metadata"] = {"name": name}
    doc["spec"] = body
    return doc


def _entry(item: str | Doc) -> dict[str, Any]:
    return {"name": item} if isinstance(item, str) else dict(item)


def manifest(
    name: str,
    services: list[dict[str, Any]],
    volumes: Sequence[str | Doc] = (),
    networks: Sequence[str | Doc] = (),
) -> str:
    """`app(...)` as the YAML a user writes."""
    return to_yaml(app(name, services, volumes, networks))


def app_doc(
    name: str, version: str = "1", *, spec: Doc | None = None, **fields: Any
) -> dict[str, Any]:
    """App `name` of one service `web` whose environment has VERSION=`version`, so that a
    new version is a change to roll out; `fields` are more keys of the service, `spec` of
    the App's spec."""
    web = service("web", env=[{"name": "VERSION", "value": version}], **fields)
    return app(name, [web], **dict(spec or {}))


def to_yaml(*docs: Doc) -> str:
    """One YAML document per doc, keys in the order given."""
    return yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)


def write(folder: Path, filename: str, content: str | Doc | Sequence[Doc]) -> Path:
    """Write a file atomically, so a polling source never reads half of it.

    `content` is text (dedented) or documents (as YAML, one document each)."""
    if isinstance(content, str):
        text = textwrap.dedent(content)
    elif isinstance(content, Mapping):
        text = to_yaml(content)
    else:
        text = to_yaml(*content)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    tmp = folder / f".{filename}.tmp"
    tmp.write_text(text)
    tmp.replace(path)
    return path


def host_manifests(engines: Mapping[str, Any], labels: str = "{role: edge}") -> str:
    """DockerHost manifests for private engines (name -> PrivateEngine), one document each."""
    return "---\n".join(
        "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
        f"metadata: {{name: {name}, labels: {labels}}}\n"
        f'spec: {{url: "{engine.url}"}}\n'
        for name, engine in engines.items()
    )
