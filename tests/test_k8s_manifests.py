"""manifests/ deploys the operator: checked for shape (the test API server serves no
Deployments or RBAC), and against what the operator really calls and accepts."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from helpers import DOCKYARD, REPO_ROOT

MANIFESTS = REPO_ROOT / "manifests"


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((MANIFESTS / name).read_text()):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def test_deployment_is_locked_down_and_probed() -> None:
    objects = _objects()
    assert ("Namespace", "dockyard-system") in objects
    assert ("ServiceAccount", "dockyard-operator") in objects
    deploy = objects[("Deployment", "dockyard-operator")]
    pod = deploy["spec"]["template"]["spec"]
    assert deploy["spec"]["replicas"] == 2  # one active, one standby
    assert pod["serviceAccountName"] == "dockyard-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # Every writable path is a volume.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/var/lib/dockyard/operator", "/tmp"} <= mounts
    # The arguments are ones `dockyard operator` accepts.
    help_text = subprocess.run(
        [str(DOCKYARD), "operator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for arg in container["args"][1:]:
        option = arg.split("=")[0]
        assert option in help_text, option
    assert "--state-dir=/var/lib/dockyard/operator" in container["args"]


def test_rbac_is_least_privilege_and_covers_what_the_operator_calls() -> None:
    objects = _objects()
    role = objects[("ClusterRole", "dockyard-operator")]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    leases = objects[("Role", "dockyard-operator-leader-election")]
    for rule in leases["rules"]:
        for resource in rule["resources"]:
            granted.setdefault(("coordination.k8s.io", resource), set()).update(rule["verbs"])
    assert all("*" not in verbs for verbs in granted.values())
    assert all("*" not in key for key in granted)
    needed = {
        ("dockyard.dev", "apps"): {"get", "list", "watch", "patch"},
        ("dockyard.dev", "apps/status"): {"patch"},
        ("dockyard.dev", "dockerhosts/status"): {"patch"},
        ("", "secrets"): {"get", "list", "watch"},
        ("", "events"): {"create"},
        ("", "configmaps"): {"get", "create", "update"},
        ("coordination.k8s.io", "leases"): {"get", "create", "update"},
    }
    for key, verbs in needed.items():
        assert verbs <= granted.get(key, set()), key
    # Secrets are read, never written; nothing may delete.
    assert granted[("", "secrets")] == {"get", "list", "watch"}
    assert not any("delete" in verbs for verbs in granted.values())
    # The Lease is namespaced to the operator's own namespace.
    assert leases["metadata"]["namespace"] == "dockyard-system"
    binding = objects[("ClusterRoleBinding", "dockyard-operator")]
    assert binding["subjects"][0]["name"] == "dockyard-operator"


def test_the_operator_source_calls_only_what_rbac_grants() -> None:
    """Each Kubernetes API method used in sources/kubernetes/api.py maps to a granted verb."""
    api = (REPO_ROOT / "operator/dockyard/sources/kubernetes/api.py").read_text()
    calls = set(re.findall(r"self\.(?:core|custom|coordination)\.(\w+)", api))
    assert calls == {
        "list_cluster_custom_object",
        "list_namespaced_custom_object",
        "read_namespaced_secret",
        "patch_namespaced_custom_object_status",
        "create_namespaced_event",
        "read_namespaced_config_map",
        "replace_namespaced_config_map",
        "create_namespaced_config_map",
        "read_namespaced_lease",
        "create_namespaced_lease",
        "replace_namespaced_lease",
    }


def test_the_lease_is_in_the_pods_namespace_where_the_role_grants_it() -> None:
    objects = _objects()
    deploy = objects[("Deployment", "dockyard-operator")]
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    # No --lease-namespace: the operator takes its own namespace from the downward API.
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert not any(arg.startswith("--lease-namespace") for arg in container["args"])
    role = objects[("Role", "dockyard-operator-leader-election")]
    binding = objects[("RoleBinding", "dockyard-operator-leader-election")]
    namespace = deploy["metadata"]["namespace"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
