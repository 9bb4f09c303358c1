"""Each App's revision history kept in the cluster too: a ConfigMap beside the App.

The hosts hold the history (controller/history.py); in Kubernetes mode the cluster is what
every replica shares for sure, so a failover replica, or an operator with a new state
folder and new hosts, reads the revisions and the pin from there. The ConfigMap is
`dockyard-history-<app>` in the App's namespace, labelled, owned by the App (deleted
with it by the garbage collector), holding the same record as the hosts' copy: secrets by
reference only, never a value.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.spec.crd import GROUP, VERSION

from .api import KubeApi
from .source import KubernetesSource

PREFIX = "dockyard-history-"
KEY = "history.json"
HISTORY_LABEL = "dockyard.dev/history"


def config_map_name(app: str) -> str:
    return f"{PREFIX}{app}"


class ClusterHistory:
    """The controller's history mirror (controller/history_sync.HistoryMirror)."""

    name = "the cluster"

    def __init__(self, api: KubeApi, source: KubernetesSource) -> None:
        self.api = api
        self.source = source

    async def read(self, app: str) -> dict[str, Any] | None:
        record = self.source.records.get(app)
        if record is None:
            return None  # no App of that name (any more): nothing of it in the cluster
        found = await self.api.read_config_map(record.namespace, config_map_name(app))
        text = ((found or {}).get("data") or {}).get(KEY)
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            where = f"ConfigMap {record.namespace}/{config_map_name(app)}"
            raise ValueError(f"{where}: {KEY} is not JSON ({exc})") from None
        return parsed if isinstance(parsed, dict) else None

    async def write(self, app: str, record: dict[str, Any]) -> None:
        owner = self.source.records.get(app)
        if owner is None or not owner.uid:
            return  # the App is gone: its ConfigMap goes with it
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": config_map_name(app),
                "namespace": owner.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "dockyard",
                    HISTORY_LABEL: app,
                },
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "App",
                        "name": owner.name,
                        "uid": owner.uid,
                    }
                ],
            },
            "data": {KEY: json.dumps(record, sort_keys=True)},
        }
        await self.api.put_config_map(owner.namespace, body)
