"""The Kubernetes source: every App and DockerHost the operator can see, as snapshots.

kopf's watch handlers call `app_event`, `host_event` and `secret_event`; `run` then
emits one SourceUpdate holding every valid App (resolved, with its Kubernetes Secrets)
and every DockerHost. An App whose new spec is invalid keeps its last good spec in the
snapshot, so nothing is removed because of a typo; its status says why it is rejected.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dockyard.controller.source import Emit, SourceUpdate
from dockyard.retry import Backoff
from dockyard.spec.errors import FieldError
from dockyard.spec.load import LoadedApp, parse_app
from dockyard.spec.models import DockerHost

from .api import KubeApi, decode_secret_data

log = logging.getLogger("dockyard.kubernetes.source")

SOURCE_ID = "kubernetes"
Key = tuple[str, str]  # (namespace, name)

# Keys of a referenced TLS Secret, as `kubectl create secret generic --from-file`
# (or a kubernetes.io/tls Secret plus ca.crt) writes them.
TLS_KEYS = {"ca_file": "ca.crt", "cert_file": "tls.crt", "key_file": "tls.key"}


@dataclass
class AppRecord:
    """The Kubernetes object behind one app name."""

    namespace: str
    name: str
    uid: str
    generation: int
    invalid: str | None = None  # why the newest spec is rejected (None: it is valid)
    conflict: str | None = None  # another namespace has an App of the same name


def _key(body: dict[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "")


def _relevant(body: dict[str, Any]) -> tuple[Any, ...]:
    """What of an object matters to dockyard (kopf's own annotations and status do not)."""
    meta = body.get("metadata") or {}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(("kopf.", "dockyard.dev/kopf")) and "last-applied" not in k
    }
    return (
        meta.get("uid"),
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        repr(meta.get("labels")),
        repr(sorted(annotations.items())),
        repr(body.get("spec")),
    )


class KubernetesSource:
    def __init__(
        self,
        api: KubeApi | None,
        namespaces: Iterable[str] = (),
        state_dir: Path = Path("/var/lib/dockyard/operator"),
        base_dir: Path | None = None,
    ) -> None:
        self.api = api
        self.namespaces = set(namespaces)
        self.state_dir = state_dir
        # Relative paths in an App (build contexts, env files) are the operator's: its cwd.
        self.base_dir = base_dir or Path.cwd()
        self.apps: dict[Key, dict[str, Any]] = {}
        self.hosts: dict[Key, dict[str, Any]] = {}
        self.secrets: dict[Key, dict[str, bytes] | None] = {}
        self.records: dict[str, AppRecord] = {}  # app name -> its object
        self.host_records: dict[str, AppRecord] = {}
        self.resolved_hosts: dict[str, DockerHost] = {}
        self.last_good: dict[Key, LoadedApp] = {}
        self.touch: Callable[[str], None] | None = None  # ask the controller to look again
        self.on_change: Callable[[], None] | None = None  # records changed (status writer)
        self._changed = asyncio.Event()
        self._revision = 0
        self._generations: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._emitted: dict[str, int] = {}
        self._referenced: set[Key] = set()
        self._pending: dict[str, int] = {}
        self._conflicts: dict[Key, AppRecord] = {}
        self._logged: dict[Key, str] = {}
        # Invalid Apps with no valid spec seen since the operator started: nothing to run
        # them with, and their containers must not be taken for orphans either.
        self.held: set[str] = set()
        self.listed = False

    @property
    def id(self) -> str:
        return SOURCE_ID

    # ---- fed by kopf -------------------------------------------------------------------

    def watching(self, namespace: str | None) -> bool:
        return not self.namespaces or (namespace or "default") in self.namespaces

    def app_event(self, type_: str | None, body: dict[str, Any]) -> None:
        self._store(self.apps, type_, body)

    def host_event(self, type_: str | None, body: dict[str, Any]) -> None:
        self._store(self.hosts, type_, body)

    def wants_secret(self, namespace: str | None, name: str | None) -> bool:
        return (str(namespace), str(name)) in self._referenced

    def secret_event(self, type_: str | None, body: dict[str, Any]) -> None:
        key = _key(body)
        if key not in self._referenced:
            return
        data = None if type_ == "DELETED" else decode_secret_data(body.get("data"))
        if self.secrets.get(key) != data or key not in self.secrets:
            self.secrets[key] = data
            log.info("secret %s/%s changed", *key)  # the name only, never the data
            self._changed.set()

    def _store(
        self, store: dict[Key, dict[str, Any]], type_: str | None, body: dict[str, Any]
    ) -> None:
        key = _key(body)
        if not self.watching(key[0]):
            return
        if type_ == "DELETED":
            if store.pop(key, None) is not None:
                self._changed.set()
            return
        old = store.get(key)
        if old is not None and _relevant(old) == _relevant(body):
            store[key] = body
            return
        store[key] = body
        self._changed.set()

    # ---- the source --------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        await self._initial_list()
        while True:
            self._changed.clear()
            update = await self.snapshot()
            await emit(update)
            self._after_emit()
            await self._changed.wait()
            await asyncio.sleep(0.05)  # a burst of changes (kubectl apply -f dir/) is one snapshot

    async def _initial_list(self) -> None:
        """List once before the first snapshot: an empty first snapshot would prune apps
        that exist but have not been seen by the watch yet."""
        if self.api is None:
            self.listed = True
            return
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                apps, hosts = [], []
                scopes: list[str | None] = [*sorted(self.namespaces)] or [None]
                for namespace in scopes:
                    apps += await self.api.list_objects("apps", namespace)
                    hosts += await self.api.list_objects("dockerhosts", namespace)
                break
            except Exception as exc:
                delay = backoff.next()
                log.warning("cannot list Apps and DockerHosts yet: %s (retry in %.1fs)", exc, delay)
                await asyncio.sleep(delay)
        for body in apps:
            if self.watching(_key(body)[0]):
                self.apps.setdefault(_key(body), body)
        for body in hosts:
            if self.watching(_key(body)[0]):
                self.hosts.setdefault(_key(body), body)
        self.listed = True

    def generation_at(self, revision: str, app: str) -> int | None:
        """The generation of `app` in the snapshot `revision` (None: too old or unknown)."""
        return self._generations.get(revision, {}).get(app)

    async def snapshot(self) -> SourceUpdate:
        await self._read_secrets()
        self._revision += 1
        revision = str(self._revision)
        records: dict[str, AppRecord] = {}
        self._conflicts = {}
        apps: list[LoadedApp] = []
        generations: dict[str, int] = {}
        held: set[str] = set()
        ordered = sorted(
            self.apps.items(),
            key=lambda kv: (str((kv[1].get("metadata") or {}).get("creationTimestamp")), kv[0]),
        )
        for key, body in ordered:
            meta = body.get("metadata") or {}
            name = key[1]
            record = AppRecord(
                key[0], name, str(meta.get("uid") or ""), int(meta.get("generation") or 0)
            )
            owner = records.get(name)
            if owner is not None:
                record.conflict = (
                    f"an App named {name} already exists in namespace {owner.namespace}; "
                    "app names are unique across namespaces (they name containers)"
                )
                self._conflicts[key] = record
                continue
            records[name] = record
            if meta.get("deletionTimestamp"):
                continue  # being deleted: left out, so the controller removes its containers
            loaded, invalid = self._parse_app(key, body)
            record.invalid = invalid
            if loaded is not None:
                self.last_good[key] = loaded
            loaded = loaded or self.last_good.get(key)
            if loaded is not None:
                apps.append(loaded)
                generations[name] = record.generation
            else:
                held.add(name)
        self.held = held
        for key in list(self.last_good):
            if key not in self.apps:
                del self.last_good[key]
        self.records = records
        hosts = self._hosts()
        self._generations[revision] = generations
        while len(self._generations) > 64:
            self._generations.popitem(last=False)
        self._pending = generations
        if self.on_change is not None:
            self.on_change()
        return SourceUpdate(SOURCE_ID, revision, tuple(apps), hosts=tuple(hosts))

    def _after_emit(self) -> None:
        # A generation whose desired state is unchanged (or an invalid one) makes the
        # controller reconcile nothing: ask it to look, so status reports the generation.
        for name, generation in self._pending.items():
            if self._emitted.get(name) != generation and self.touch is not None:
                self.touch(name)
        self._emitted = dict(self._pending)

    def conflicts(self) -> list[AppRecord]:
        """Apps left out because another namespace has one of the same name."""
        return [r for k, r in self._conflicts.items() if k in self.apps]

    def _parse_app(self, key: Key, body: dict[str, Any]) -> tuple[LoadedApp | None, str | None]:
        meta = body.get("metadata") or {}
        doc = {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "labels": meta.get("labels") or {},
                "annotations": {
                    k: v
                    for k, v in (meta.get("annotations") or {}).items()
                    if "last-applied" not in k
                },
                "generation": meta.get("generation"),
            },
            "spec": body.get("spec"),
        }
        errors: list[FieldError] = []

        def secret(name: str, field: str) -> bytes:
            data = self.secrets.get((key[0], name))
            if data is None:
                raise LookupError(f"Secret {key[0]}/{name} does not exist")
            if field not in data:
                raise LookupError(f"Secret {key[0]}/{name} has no key {field!r}")
            return data[field]

        loaded = parse_app(
            doc,
            f"kubernetes:{key[0]}/{key[1]}",
            self.base_dir,
            {},  # no interpolation from the operator's own environment
            errors,
            kubernetes_secrets=secret,
        )
        if errors or loaded is None:
            message = "; ".join(e.render() for e in errors) or "invalid App"
            if self._logged.get(key) != message:
                self._logged[key] = message
                log.error("App %s/%s is invalid: %s", key[0], key[1], message)
            return None, message
        self._logged.pop(key, None)
        return loaded, None

    def _hosts(self) -> list[DockerHost]:
        hosts: list[DockerHost] = []
        records: dict[str, AppRecord] = {}
        resolved: dict[str, DockerHost] = {}
        for key, body in sorted(self.hosts.items()):
            meta = body.get("metadata") or {}
            record = AppRecord(
                key[0], key[1], str(meta.get("uid") or ""), int(meta.get("generation") or 0)
            )
            records[key[1]] = record
            if meta.get("deletionTimestamp"):
                continue
            doc = {
                "apiVersion": body.get("apiVersion"),
                "kind": body.get("kind"),
                "metadata": {
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "labels": meta.get("labels") or {},
                    "generation": meta.get("generation"),
                },
                "spec": body.get("spec"),
            }
            try:
                host = DockerHost.model_validate(doc, by_alias=True, by_name=False)
                host = self._host_tls(key[0], host)
            except ValidationError as exc:
                record.invalid = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
            except LookupError as exc:
                record.invalid = str(exc.args[0])
            else:
                hosts.append(host)
                resolved[key[1]] = host
            if record.invalid:
                log.error("DockerHost %s/%s is invalid: %s", key[0], key[1], record.invalid)
        self.host_records = records
        self.resolved_hosts = resolved
        return hosts

    def _host_tls(self, namespace: str, host: DockerHost) -> DockerHost:
        """TLS material from the Secret named by `tls.secretRef`, written to private files."""
        tls = host.spec.tls
        if tls is None or tls.secret_ref is None:
            return host
        data = self.secrets.get((namespace, tls.secret_ref))
        if data is None:
            raise LookupError(
                f"spec.tls.secretRef: Secret {namespace}/{tls.secret_ref} does not exist"
            )
        folder = self.state_dir / "tls" / f"{namespace}_{host.metadata.name}"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        update: dict[str, Any] = {"secret_ref": None}
        for attr, secret_key in TLS_KEYS.items():
            value = data.get(secret_key)
            if value is None:
                raise LookupError(
                    f"spec.tls.secretRef: Secret {namespace}/{tls.secret_ref} has no key "
                    f"{secret_key!r} (it needs ca.crt, tls.crt and tls.key)"
                )
            path = folder / secret_key
            if not path.exists() or path.read_bytes() != value:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(value)
            update[attr] = str(path)
        spec = host.spec.model_copy(update={"tls": tls.model_copy(update=update)})
        return host.model_copy(update={"spec": spec})

    async def _read_secrets(self) -> None:
        referenced: set[Key] = set()
        for key, body in self.apps.items():
            for sec in (body.get("spec") or {}).get("secrets") or []:
                ref = sec.get("kubernetesSecret") if isinstance(sec, dict) else None
                if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                    referenced.add((key[0], ref["name"]))
        for key, body in self.hosts.items():
            tls = (body.get("spec") or {}).get("tls") or {}
            if isinstance(tls, dict) and isinstance(tls.get("secretRef"), str):
                referenced.add((key[0], tls["secretRef"]))
        self._referenced = referenced
        for key in referenced - self.secrets.keys():
            if self.api is None:
                self.secrets[key] = None
                continue
            try:
                self.secrets[key] = await self.api.read_secret(*key)
            except Exception as exc:
                log.warning("%s", exc)
                self.secrets[key] = None
        for key in set(self.secrets) - referenced:
            del self.secrets[key]
