"""The few Kubernetes API calls dockyard makes itself (kopf does the watching).

The official `kubernetes` client is synchronous: every call runs in a thread. Secret
values are returned as bytes and never logged; errors name the object, never its data.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as _client
from kubernetes import config as _config
from kubernetes.client.exceptions import ApiException

from dockyard.spec.crd import GROUP, VERSION

log = logging.getLogger("dockyard.kubernetes")

# The client's own annotations are partial: dockyard passes and reads plain dicts.
client: Any = _client
config: Any = _config


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class KubeError(RuntimeError):
    """A call to the Kubernetes API failed; the message is one line that says what."""

    def __init__(self, message: str, status: int | None = None, missing_namespace: str = ""):
        super().__init__(message)
        self.status = status
        self.missing_namespace = missing_namespace  # set when the namespace does not exist


def kube_error(exc: Exception, doing: str, namespace: str | None = None) -> KubeError:
    """`exc` (the client's ApiException, with its headers and body over many lines, or a
    connection error) as one line: what failed, what the server said, what to do."""
    if isinstance(exc, KubeError):
        return exc
    if not isinstance(exc, ApiException):
        if isinstance(exc, urllib3.exceptions.HTTPError):
            return KubeError(
                f"{doing}: cannot reach the Kubernetes API server ({type(exc).__name__}); "
                "check --kubeconfig (or KUBECONFIG) and that the API server is up"
            )
        return KubeError(f"{doing}: {' '.join(str(exc).split())}")
    status = int(exc.status or 0)
    said = _server_message(exc)
    if status == 404 and namespace and f'namespaces "{namespace}" not found' in said:
        return KubeError(
            f"{doing}: namespace {namespace} does not exist: kubectl create namespace {namespace}",
            status,
            missing_namespace=namespace,
        )
    if status == 401:
        return KubeError(
            f"{doing}: the API server does not accept these credentials (HTTP 401); "
            "check the user in --kubeconfig, or the pod's service account token",
            status,
        )
    if status == 403:
        return KubeError(
            f"{doing}: forbidden: {said}; grant it as manifests/rbac.yaml does", status
        )
    return KubeError(f"{doing}: HTTP {status} {exc.reason}: {said}", status)


def _server_message(exc: ApiException) -> str:
    """The `message` of the Status the server sent back (never the request's data)."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message or exc.reason or "no message").split())[:300]


def now_rfc3339(micro: bool = False) -> str:
    stamp = dt.datetime.now(dt.UTC)
    if micro:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_secret_data(data: dict[str, str] | None) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (data or {}).items()}


@dataclass(frozen=True)
class ObjectRef:
    """Enough of an object to post an Event about it."""

    kind: str
    namespace: str
    name: str
    uid: str
    api_version: str = f"{GROUP}/{VERSION}"


class KubeApi:
    def __init__(self, kubeconfig: str | None = None) -> None:
        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except config.ConfigException:
            if kubeconfig is not None:
                raise
            config.load_incluster_config(client_configuration=configuration)
        self._api: Any = client.ApiClient(configuration)
        self.core: Any = client.CoreV1Api(self._api)
        self.custom: Any = client.CustomObjectsApi(self._api)
        self.coordination: Any = client.CoordinationV1Api(self._api)

    def close(self) -> None:
        self._api.close()

    # ---- reads -------------------------------------------------------------------------

    async def list_objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        try:
            if namespace is None:
                result = await asyncio.to_thread(
                    self.custom.list_cluster_custom_object, GROUP, VERSION, plural
                )
            else:
                result = await asyncio.to_thread(
                    self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, plural
                )
        except ApiException as exc:
            if exc.status == 404:
                raise RuntimeError(
                    f"{plural}.{GROUP} is not installed: kubectl apply -f crds/ "
                    "(or: dockyard crds | kubectl apply -f -)"
                ) from None
            if exc.status in (401, 403):
                raise RuntimeError(
                    f"not allowed to list {plural}.{GROUP}: HTTP {exc.status}; "
                    "see manifests/rbac.yaml for what the operator needs"
                ) from None
            raise kube_error(exc, f"listing {plural}.{GROUP}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise kube_error(exc, f"listing {plural}.{GROUP}") from None
        return list(result.get("items", []))

    async def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The Secret's data, decoded; None when it does not exist."""
        body = await self._read(self.core.read_namespaced_secret, "Secret", namespace, name)
        return None if body is None else decode_secret_data(body.get("data"))

    async def read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ConfigMap as a plain dict; None when it does not exist."""
        return await self._read(self.core.read_namespaced_config_map, "ConfigMap", namespace, name)

    async def _read(
        self, read: Callable[..., Any], kind: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """One namespaced object as a plain dict, read by the client's `read`; None when
        it does not exist; any other failure as one line (kube_error)."""
        doing = f"reading {kind} {namespace}/{name}"
        try:
            found = await asyncio.to_thread(read, name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise kube_error(exc, doing, namespace) from None
        except urllib3.exceptions.HTTPError as exc:
            raise kube_error(exc, doing) from None
        return dict(json.loads(found.data))

    # ---- writes ------------------------------------------------------------------------

    async def put_config_map(self, namespace: str, body: dict[str, Any]) -> None:
        """Create the ConfigMap, or replace the one of that name (the last write wins)."""
        name = body["metadata"]["name"]
        doing = f"writing ConfigMap {namespace}/{name}"
        try:
            try:
                await asyncio.to_thread(
                    self.core.replace_namespaced_config_map, name, namespace, body
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
                await asyncio.to_thread(self.core.create_namespaced_config_map, namespace, body)
        except ApiException as exc:
            raise kube_error(exc, doing, namespace) from None
        except urllib3.exceptions.HTTPError as exc:
            raise kube_error(exc, doing) from None

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        try:
            await asyncio.to_thread(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                {"status": status},
            )
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f"{plural} {namespace}/{name}") from None
            raise kube_error(exc, f"writing the status of {plural} {namespace}/{name}") from None

    async def post_event(
        self, ref: ObjectRef, type_: str, reason: str, message: str, component: str
    ) -> None:
        stamp = now_rfc3339()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{ref.name}.{uuid.uuid4().hex[:16]}", "namespace": ref.namespace},
            "involvedObject": {
                "apiVersion": ref.api_version,
                "kind": ref.kind,
                "name": ref.name,
                "namespace": ref.namespace,
                "uid": ref.uid,
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await asyncio.to_thread(self.core.create_namespaced_event, ref.namespace, body)
        except ApiException as exc:
            log.warning(
                "cannot post event %s on %s/%s: HTTP %s %s",
                reason,
                ref.namespace,
                ref.name,
                exc.status,
                exc.reason,
            )

    # ---- leases ------------------------------------------------------------------------

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            lease = await asyncio.to_thread(
                self.coordination.read_namespaced_lease, name, namespace
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise kube_error(exc, f"reading Lease {namespace}/{name}", namespace) from None
        except urllib3.exceptions.HTTPError as exc:
            raise kube_error(exc, f"reading Lease {namespace}/{name}") from None
        return dict(self._api.sanitize_for_serialization(lease))

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        try:
            await asyncio.to_thread(self.coordination.create_namespaced_lease, namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(name) from None
            raise kube_error(exc, f"creating Lease {namespace}/{name}", namespace) from None
        except urllib3.exceptions.HTTPError as exc:
            raise kube_error(exc, f"creating Lease {namespace}/{name}") from None

    async def replace_lease(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(
                self.coordination.replace_namespaced_lease, name, namespace, body
            )
        except ApiException as exc:
            if exc.status in (409, 404):
                raise Conflict(name) from None
            raise kube_error(exc, f"updating Lease {namespace}/{name}", namespace) from None
        except urllib3.exceptions.HTTPError as exc:
            raise kube_error(exc, f"updating Lease {namespace}/{name}") from None
