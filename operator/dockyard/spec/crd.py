"""CustomResourceDefinitions for `App` and `DockerHost`, generated from the pydantic models.

The models are the single source of truth: `dockyard crds` prints what this module
makes, `crds/` holds the same text, and a test fails when the two differ.

The schemas are *structural* (every node has a type, no `$ref`, no type unions), as
the API server demands. What a structural schema cannot say (a value that is a list
or a string; a duration written `30s` or `30`) is left to dockyard's own validation,
which reports it as a condition on the object.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .models import (
    API_VERSION,
    COMPOSE_PROJECT_PATTERN,
    OBJECT_NAME_PATTERN,
    App,
    DockerHost,
    _compose_project,
    _dns_label,
    _mode,
    _object_name,
)
from .units import parse_duration, parse_size

GROUP, VERSION = API_VERSION.split("/")
CATEGORY = "dockyard"

# Values written either as a number or as a string with a unit (`30s`, `256Mi`, "0400").
_NUMBER_OR_STRING = {parse_duration, parse_size, _mode}


def _validators(info: FieldInfo | None, extra: tuple[Any, ...]) -> list[Any]:
    found: list[Any] = list(extra)
    if info is not None:
        found.extend(info.metadata)
    return found


def _type_schema(annotation: Any, metadata: list[Any]) -> dict[str, Any]:
    """OpenAPI v3 (structural) schema of one annotation."""
    origin = get_origin(annotation)
    if origin is Annotated:
        args = get_args(annotation)
        return _type_schema(args[0], metadata + list(args[1:]))
    funcs = {getattr(m, "func", None) for m in metadata}
    if funcs & _NUMBER_OR_STRING:
        # A structural schema has no "number or string"; dockyard validates the value.
        return {"x-kubernetes-int-or-string": True}
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _type_schema(members[0], metadata)
        # e.g. healthcheck.test: a list or a string. Checked by dockyard, not the schema.
        return {"x-kubernetes-preserve-unknown-fields": True}
    if origin is Literal:
        values = list(get_args(annotation))
        return {"type": _scalar(type(values[0])), "enum": values}
    if origin is list:
        (item,) = get_args(annotation)
        return {"type": "array", "items": _type_schema(item, [])}
    if origin is dict:
        _, value = get_args(annotation)
        return {"type": "object", "additionalProperties": _type_schema(value, [])}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_schema(annotation)
    schema: dict[str, Any] = {"type": _scalar(annotation)}
    if _dns_label in {getattr(m, "func", None) for m in metadata}:
        schema.update(maxLength=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    if _object_name in {getattr(m, "func", None) for m in metadata}:
        schema.update(maxLength=63, pattern=OBJECT_NAME_PATTERN)
    if _compose_project in {getattr(m, "func", None) for m in metadata}:
        schema.update(maxLength=63, pattern=COMPOSE_PROJECT_PATTERN)
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            schema["minimum"] = m.ge
        elif isinstance(m, annotated_types.Gt):
            schema["minimum"] = m.gt
            schema["exclusiveMinimum"] = True
        elif isinstance(m, annotated_types.Le):
            schema["maximum"] = m.le
        elif isinstance(m, annotated_types.Lt):
            schema["maximum"] = m.lt
            schema["exclusiveMaximum"] = True
    return schema


def _scalar(kind: Any) -> str:
    if kind is bool:
        return "boolean"
    if kind is int:
        return "integer"
    if kind is float:
        return "number"
    if kind is str:
        return "string"
    raise TypeError(f"no OpenAPI type for {kind!r}")


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        schema = _type_schema(info.annotation, _validators(info, ()))
        if info.description:
            schema["description"] = info.description
        properties[alias] = schema
        if info.is_required():
            required.append(alias)
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _spec_schema(model: type[BaseModel]) -> dict[str, Any]:
    return _model_schema(model.model_fields["spec"].annotation)  # type: ignore[arg-type]


_CONDITIONS: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "observedGeneration": {"type": "integer"},
        },
    },
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}

_APP_STATUS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "observedGeneration": {"type": "integer"},
        "conditions": _CONDITIONS,
        "ready": {"type": "string", "description": "ready replicas / desired replicas"},
        "hosts": {"type": "string", "description": "the hosts running the app's replicas"},
        "appRevision": {"type": "integer", "description": "the revision in dockyard history"},
        "services": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "placement": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "rollout": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "lastError": {"type": "string"},
        "driftRepairs": {"type": "integer"},
        "restarts": {"type": "integer"},
    },
}

_HOST_STATUS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "observedGeneration": {"type": "integer"},
        "conditions": _CONDITIONS,
        "reachable": {"type": "boolean"},
        "engineVersion": {"type": "string"},
        "runningContainers": {"type": "integer"},
        "lastContact": {"type": "string"},
        "error": {"type": "string"},
    },
}


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec: dict[str, Any],
    status: dict[str, Any],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "dockyard"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def _condition(type_: str) -> str:
    return f'.status.conditions[?(@.type=="{type_}")].status'


def app_crd() -> dict[str, Any]:
    return _crd(
        "App",
        "apps",
        ["dyapp", "dyapps"],
        _spec_schema(App),
        _APP_STATUS,
        [
            {"name": "Ready", "type": "string", "jsonPath": _condition("Ready")},
            {"name": "Services", "type": "string", "jsonPath": ".status.ready"},
            {"name": "Hosts", "type": "string", "jsonPath": ".status.hosts"},
            {"name": "Revision", "type": "integer", "jsonPath": ".status.appRevision"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def dockerhost_crd() -> dict[str, Any]:
    return _crd(
        "DockerHost",
        "dockerhosts",
        ["dyhost", "dyhosts"],
        _spec_schema(DockerHost),
        _HOST_STATUS,
        [
            {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
            {"name": "Reachable", "type": "boolean", "jsonPath": ".status.reachable"},
            {"name": "Version", "type": "string", "jsonPath": ".status.engineVersion"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


CRD_FILES = {"apps.dockyard.dev.yaml": app_crd, "dockerhosts.dockyard.dev.yaml": dockerhost_crd}

_HEADER = "# Generated from dockyard's pydantic models by `dockyard crds`: do not edit.\n"


def render(crd: dict[str, Any]) -> str:
    return _HEADER + yaml.safe_dump(crd, sort_keys=False, default_flow_style=False, width=100)


def render_all() -> str:
    """Every CRD, as one multi-document YAML text (what `dockyard crds` prints)."""
    return "---\n".join(render(make()) for make in CRD_FILES.values())
