"""The publisher's split of each source update (no broker needed: `observe` is pure)."""

from __future__ import annotations

from pathlib import Path

from dockyard.controller.source import SourceUpdate
from dockyard.sources.mqtt.broker import broker_config
from dockyard.sources.mqtt.publisher import AgentPublisher
from dockyard.spec.load import load_text

HOSTS = """\
apiVersion: dockyard.dev/v1alpha1
kind: DockerHost
metadata: {name: edge-1, labels: {role: edge, agent: edge-1}}
spec: {agent: {id: edge-1}}
---
apiVersion: dockyard.dev/v1alpha1
kind: DockerHost
metadata: {name: edge-2, labels: {role: edge, agent: edge-2}}
spec: {agent: {id: edge-2}}
---
apiVersion: dockyard.dev/v1alpha1
kind: DockerHost
metadata: {name: lab, labels: {role: edge}}
spec: {url: "unix:///var/run/docker.sock"}
"""


def app(name: str, placement: str, replicas: int = 1, secret: bool = False) -> str:
    secrets = "  secrets: [{name: token, env: TOKEN}]\n" if secret else ""
    mount = "    secrets: [{name: token}]\n" if secret else ""
    return f"""\
---
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
{placement}{secrets}  services:
  - name: web
    image: busybox
    replicas: {replicas}
{mount}"""


def update(tmp_path: Path, text: str, revision: str = "r1") -> SourceUpdate:
    result = load_text(text, "fleet.yaml", tmp_path, environ={"TOKEN": "t0ken"})
    return SourceUpdate("dir:test", revision, tuple(result.apps), hosts=tuple(result.hosts))


def apps_of(publisher: AgentPublisher, agent: str) -> dict[str, int]:
    body, _ = publisher.wanted[agent]
    return {doc["metadata"]["name"]: doc["spec"]["services"][0]["replicas"] for doc in body["apps"]}


def test_agents_get_their_replicas_and_the_controller_the_rest(tmp_path: Path) -> None:
    publisher = AgentPublisher(broker_config("mqtt://127.0.0.1"), tmp_path)
    spread = "  placement: {hostSelector: {matchLabels: {role: edge}}}\n"
    solo = "  placement: {hostSelector: {matchLabels: {agent: edge-1}}}\n"
    text = HOSTS + app("spread", spread, 3) + app("solo", solo, secret=True) + app("plain", "")
    passed = publisher.observe(update(tmp_path, text))

    assert apps_of(publisher, "edge-1") == {"spread": 1, "solo": 1}
    assert apps_of(publisher, "edge-2") == {"spread": 1}
    shares = {a.name: a.app.spec.services[0].replicas for a in passed.apps or ()}
    # All of solo runs on an agent: the controller does not see it; one spread replica
    # is for the engine host `lab`; plain has no placement and stays on `local`.
    assert shares == {"spread": 1, "plain": 1}
    assert passed.hosts == update(tmp_path, text).hosts
    # The secret goes only to the agent whose app uses it.
    assert publisher.wanted["edge-1"][0]["secrets"] == {"solo": {"token": "dDBrZW4="}}
    assert publisher.wanted["edge-2"][0]["secrets"] == {}


def test_a_placement_mistake_never_removes_an_app_from_devices(tmp_path: Path) -> None:
    publisher = AgentPublisher(broker_config("mqtt://127.0.0.1"), tmp_path)
    good = "  placement: {hostSelector: {matchLabels: {agent: edge-1}}}\n"
    typo = "  placement: {hostSelector: {matchLabels: {agnet: edge-1}}}\n"
    publisher.observe(update(tmp_path, HOSTS + app("solo", good)))
    before = publisher.wanted["edge-1"]
    publisher.observe(update(tmp_path, HOSTS + app("solo", typo), "r2"))
    assert publisher.wanted["edge-1"][0] == before[0]
    # Removing the app from the manifests does remove it.
    publisher.observe(update(tmp_path, HOSTS, "r3"))
    assert apps_of(publisher, "edge-1") == {}


def fleet(n: int) -> str:
    hosts = "".join(
        f"---\napiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
        f"metadata: {{name: d{i}, labels: {{role: edge, site: s{i % 2}}}}}\n"
        f"spec: {{agent: {{id: d{i}}}}}\n"
        for i in range(n)
    )
    return hosts


def global_app(name: str, selector: str, value: str) -> str:
    return f"""\
---
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
  placement: {{mode: global, hostSelector: {{matchLabels: {{{selector}}}}}}}
  services:
  - name: web
    image: busybox
    env: [{{name: V, value: "{value}"}}]
"""


def test_an_edit_is_due_only_on_the_devices_it_touches(tmp_path: Path) -> None:
    publisher = AgentPublisher(broker_config("mqtt://127.0.0.1"), tmp_path)
    text = fleet(6) + global_app("all", "role: edge", "1") + global_app("s0", "site: s0", "1")
    publisher.observe(update(tmp_path, text))
    due = publisher.due()
    assert due == [(f"d{i}", 1) for i in range(6)]
    # What was published (as the publish loop records it) is not due again.
    for agent, revision in due:
        publisher.published[agent] = {"revision": revision, "digest": publisher.digests[agent]}
    assert publisher.due() == []
    # One site's app changes: only that site's devices get a new revision.
    edit = fleet(6) + global_app("all", "role: edge", "1") + global_app("s0", "site: s0", "2")
    publisher.observe(update(tmp_path, edit, "r2"))
    assert publisher.due() == [("d0", 2), ("d2", 2), ("d4", 2)]
    # Devices with the same apps share one document, rendered once.
    assert publisher.wanted["d1"][0] is publisher.wanted["d3"][0]
