"""What a manifest author may ask of a host, as the person running dockyard decides it.

A policy file (`--policy FILE` or `DOCKYARD_POLICY`) refuses `privileged`, host
networking, host paths outside an allowed list, added capabilities, devices and the
programs of `command` secrets unless it allows them. It is checked with the rest of
validation, before any Docker call, and every refusal names the field and the rule.
Without a policy file nothing is refused.

```yaml
apiVersion: dockyard.dev/v1alpha1
kind: Policy
spec:
  privileged: false
  hostNetwork: false
  hostPaths: [{path: /srv/data}, {path: /etc/ssl/certs, readOnly: true}]
  capabilities: [NET_BIND_SERVICE]
  devices: [/dev/ttyUSB0]
  commands: [aws, vault]
```
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from .errors import FieldError
from .models import App, Service

ENV_VAR = "DOCKYARD_POLICY"

# refuse(field path, what is refused, what would allow it)
Refuse = Callable[[str, str, str], None]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r}: write an absolute path on the host")
    return posixpath.normpath(value)


class HostPathRule(_Model):
    path: str
    read_only: bool = False  # true: mounts under `path` must be readOnly

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _absolute(value)


class PolicySpec(_Model):
    """Deny by default: a policy file allows only what it names."""

    privileged: bool = False
    host_network: bool = False
    host_paths: list[HostPathRule] = Field(default_factory=list)
    capabilities: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    # Programs a `command` secret may run (its first word, as written: `aws`, `vault`).
    commands: list[str] = Field(default_factory=list)

    @field_validator("capabilities")
    @classmethod
    def _caps(cls, values: list[str]) -> list[str]:
        return [capability(v) for v in values]

    @field_validator("devices")
    @classmethod
    def _devices(cls, values: list[str]) -> list[str]:
        return [_absolute(v) for v in values]


class Policy(_Model):
    api_version: Literal["dockyard.dev/v1alpha1"] = "dockyard.dev/v1alpha1"
    kind: Literal["Policy"] = "Policy"
    spec: PolicySpec = Field(default_factory=PolicySpec)


class PolicyError(ValueError):
    """The policy file itself cannot be used: nothing is applied while it is broken."""


def capability(name: str) -> str:
    """`net_admin`, `CAP_NET_ADMIN` and `NET_ADMIN` are one capability."""
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def read_policy(path: Path) -> Policy:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}") from None
    try:
        return Policy.model_validate(doc if doc is not None else {}, by_alias=True, by_name=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise PolicyError(f"{where}: {message}") from None


@dataclass(frozen=True)
class _Cached:
    key: tuple[str, int, int]
    policy: Policy


_cache: list[_Cached] = []


def active_policy() -> tuple[Path, Policy] | None:
    """The policy named by $DOCKYARD_POLICY (re-read when the file changes), or None."""
    name = os.environ.get(ENV_VAR)
    if not name:
        return None
    path = Path(name)
    try:
        st = path.stat()
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror or exc}") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if _cache and _cache[0].key == key:
        return path, _cache[0].policy
    policy = read_policy(path)
    _cache[:] = [_Cached(key, policy)]
    return path, policy


def policy_errors(app: App) -> list[FieldError]:
    """What the active policy refuses in `app` (a broken policy file refuses everything)."""
    try:
        found = active_policy()
    except PolicyError as exc:
        name = os.environ.get(ENV_VAR, "")
        return [FieldError(f"policy {name}", str(exc), f"fix the file named by {ENV_VAR}")]
    if found is None:
        return []
    path, policy = found
    return check(app, policy.spec, str(path))


def check(app: App, policy: PolicySpec, policy_name: str = "the policy") -> list[FieldError]:
    errors: list[FieldError] = []

    def refuse(field: str, message: str, allow: str) -> None:
        errors.append(FieldError(field, f"refused by policy {policy_name}: {message}", allow))

    for svc in app.spec.services:
        _check_service(svc, policy, refuse)
    for sec in app.spec.secrets:
        if sec.command is not None and sec.command[0] not in policy.commands:
            program = sec.command[0]
            where = f"spec.secrets[{sec.name}].command"
            refuse(where, f"running {program}", _allow(f"commands: [{program}]"))
    for vol in app.spec.volumes:
        # The local driver's bind options mount a host folder as a "named" volume.
        opts = {k.lower(): v for k, v in vol.driver_opts.items()}
        if "bind" in opts.get("o", "").split(",") and opts.get("device"):
            where = f"spec.volumes[{vol.name}].driverOpts.device"
            _check_host_path(opts["device"], False, where, policy, refuse)
    return errors


def _check_service(svc: Service, policy: PolicySpec, refuse: Refuse) -> None:
    base = f"spec.services[{svc.name}]"
    if svc.privileged and not policy.privileged:
        refuse(f"{base}.privileged", "privileged containers", _allow("privileged: true"))
    if svc.network_mode == "host" and not policy.host_network:
        refuse(f"{base}.networkMode", "host networking", _allow("hostNetwork: true"))
    allowed_caps = set(policy.capabilities)
    for cap in svc.cap_add:
        if capability(cap) not in allowed_caps and "ALL" not in allowed_caps:
            refuse(
                f"{base}.capAdd[{cap}]",
                f"added capability {capability(cap)}",
                _allow(f"capabilities: [{capability(cap)}]"),
            )
    allowed_devices = set(policy.devices)
    for dev in svc.devices:
        if posixpath.normpath(dev.host_path) not in allowed_devices:
            refuse(
                f"{base}.devices[{dev.host_path}]",
                f"device {dev.host_path}",
                _allow(f"devices: [{dev.host_path}]"),
            )
    for mount in svc.volume_mounts:
        if mount.host_path is not None:
            where = f"{base}.volumeMounts[{mount.mount_path}].hostPath"
            _check_host_path(mount.host_path, mount.read_only, where, policy, refuse)


def _check_host_path(
    raw: str, read_only: bool, where: str, policy: PolicySpec, refuse: Refuse
) -> None:
    if not raw.startswith("/"):
        return  # inside the manifest's folder: loading refuses a path that leaves it
    path = posixpath.normpath(raw)
    rules = [r for r in policy.host_paths if _under(path, r.path)]
    if not rules:
        refuse(where, f"host path {path}", _allow(f"hostPaths: [{{path: {path}}}]"))
    elif not read_only and all(r.read_only for r in rules):
        refuse(
            where,
            f"host path {path} writable (allowed read-only only)",
            "set readOnly: true on the mount",
        )


def _allow(rule: str) -> str:
    return f"drop the field, or the policy's owner adds spec.{rule}"


def _under(path: str, folder: str) -> bool:
    return folder == "/" or path == folder or path.startswith(folder.rstrip("/") + "/")
