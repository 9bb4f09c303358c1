"""Properties of the planner over random small apps and random engine states, without Docker.

The engine state is what an earlier version of the app left behind (a random
app, planned and simulated), then disturbed the way real engines are: containers
deleted, stopped, dead, carrying a stale config hash, extra managed replicas,
strangers with unrelated names, networks with stale settings. A rollout from a
cleanly applied version to an edit of it must succeed in any order the
dependencies allow.
"""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Kind, Plan
from dockyard.plan.planner import plan_app, plan_delete
from dockyard.spec import naming
from dockyard.spec.load import load_text
from dockyard.state.observed import (
    ObservedContainer,
    ObservedState,
    normalize_image_ref,
)
from plan_sim import SimState, check_order, configs_of, new_id, run

APP = "prop"
SERVICES = ("db", "api", "web", "worker", "cache")
IMAGES = ("busybox:1.36", "nginx:1.27", "registry.local/app:2")
NETWORKS = ("front", "back")
VOLUMES = ("data", "logs")
HEALTHCHECK = {"test": ["CMD", "true"], "interval": "2s", "retries": 2}

# Operations that act on an existing container, by `ref`.
ON_CONTAINER = {
    Kind.STOP_CONTAINER,
    Kind.REMOVE_CONTAINER,
    Kind.START_CONTAINER,
    Kind.CONNECT_NETWORK,
    Kind.WAIT_HEALTHY,
    Kind.WAIT_COMPLETED,
}

# --- random apps ---------------------------------------------------------------------------


@st.composite
def app_docs(draw: st.DrawFn) -> dict[str, Any]:
    """An App manifest: 1-4 services, each depending only on services before it."""
    networks = draw(st.lists(st.sampled_from(NETWORKS), unique=True, max_size=2))
    volumes = draw(st.lists(st.sampled_from(VOLUMES), unique=True, max_size=2))
    names = draw(st.lists(st.sampled_from(SERVICES), unique=True, min_size=1, max_size=4))
    free_ports = [8000, 8001, 8002, 8003]  # one per service: validation refuses clashes
    services: list[dict[str, Any]] = []
    # How others depend on a service: a job that completes is never also awaited as healthy.
    awaited: dict[str, str] = {}
    for i, name in enumerate(names):
        svc: dict[str, Any] = {
            "name": name,
            "image": draw(st.sampled_from(IMAGES)),
            "replicas": draw(st.sampled_from([0, 1, 1, 2, 3])),
            "restart": draw(st.sampled_from(["no", "always", "unless-stopped", "on-failure"])),
            "pullPolicy": draw(
                st.sampled_from(["IfNotPresent", "IfNotPresent", "Always", "Never"])
            ),
        }
        env = draw(st.dictionaries(st.sampled_from("ABC"), st.sampled_from(["1", "2"]), max_size=2))
        if env:
            svc["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
        attached = draw(st.lists(st.sampled_from(networks), unique=True)) if networks else []
        if attached:
            svc["networks"] = [{"name": n} for n in attached]
        else:
            mode = draw(st.sampled_from([None, None, "bridge", "host", "none"]))
            if mode:
                svc["networkMode"] = mode
        chosen = draw(st.lists(st.sampled_from(volumes), unique=True)) if volumes else []
        mounts: list[dict[str, Any]] = [{"mountPath": f"/mnt/{v}", "volume": v} for v in chosen]
        if draw(st.booleans()):
            mounts.append({"mountPath": "/scratch"})
        if mounts:
            svc["volumeMounts"] = mounts
        if svc.get("networkMode") not in ("host", "none") and draw(st.booleans()):
            port: dict[str, Any] = {"target": 80}
            if svc["replicas"] == 1 and draw(st.booleans()):
                port["published"] = draw(st.sampled_from(free_ports))
                free_ports.remove(port["published"])
            svc["ports"] = [port]
        if draw(st.booleans()):
            svc["healthcheck"] = HEALTHCHECK
        depends = []
        for dep in draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []:
            condition = awaited.setdefault(
                dep, draw(st.sampled_from(["started", "healthy", "completed"]))
            )
            target = services[names.index(dep)]
            if condition == "healthy":
                target["healthcheck"] = HEALTHCHECK
            elif condition == "completed":
                target["restart"] = "no"
            depends.append({"service": dep, "condition": condition})
        if depends:
            svc["dependsOn"] = depends
        services.append(svc)
    spec: dict[str, Any] = {"services": services}
    if networks:
        spec["networks"] = [{"name": n} for n in networks]
    if volumes:
        spec["volumes"] = [{"name": v} for v in volumes]
    return {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": APP},
        "spec": spec,
    }


def desired(doc: dict[str, Any]) -> DesiredApp:
    text = yaml.safe_dump(doc, sort_keys=False)
    (loaded,) = load_text(text, source="t.yaml", base_dir=Path("/nonexistent"), environ={}).apps
    return desired_app(loaded, {})


# --- random engine states ------------------------------------------------------------------


def disturb(draw: st.DrawFn, state: SimState) -> SimState:
    """What happens to an engine between two reconciles, beyond dockyard's control."""
    containers: list[ObservedContainer] = []
    configs = dict(state.configs)
    for c in state.containers:
        what = draw(st.sampled_from(["keep", "keep", "keep", "delete", "stop", "stale", "dead"]))
        if what == "delete":
            configs.pop(c.id, None)
            continue
        if what == "stop" and c.running:
            code = draw(st.sampled_from([0, 1, 137]))
            c = replace(c, state="exited", exit_code=code, health=None)
        elif what == "stale":
            c = replace(c, labels={**c.labels, naming.CONFIG_HASH: "0123456789abcdef0123"})
        elif what == "dead":
            c = replace(c, state="dead", health=None)
        containers.append(c)
    managed = [c for c in containers if c.managed]
    if managed and draw(st.booleans()):
        # A replica beyond the wanted count, as a scale-down cut short would leave.
        model = draw(st.sampled_from(managed))
        extra = 7
        containers.append(
            replace(
                model,
                id=new_id(),
                name=naming.container_name(APP, str(model.service), extra),
                labels={**model.labels, naming.REPLICA: str(extra)},
            )
        )
    for i in range(draw(st.integers(0, 2))):
        # Someone else's containers: no labels, names dockyard never uses.
        containers.append(
            ObservedContainer(
                id=new_id(), name=f"stranger{i}", state="running", networks=("bridge",)
            )
        )
    networks = []
    for n in state.networks:
        if n.managed and draw(st.integers(0, 4)) == 0:
            n = replace(n, labels={**n.labels, naming.CONFIG_HASH: "stale"})
        networks.append(n)
    return SimState(
        containers=tuple(containers),
        networks=tuple(networks),
        volumes=state.volumes,
        images=state.images,
        configs={k: v for k, v in configs.items() if k in {c.id for c in containers}},
    )


def edit(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """The next version of an app: services with new env, rescaled, renamed; ports swapped."""
    doc = copy.deepcopy(doc)
    services: list[dict[str, Any]] = doc["spec"]["services"]
    for svc in services:
        change = draw(st.sampled_from(["none", "env", "scale", "rename"]))
        if change == "env":
            svc["env"] = [{"name": "EDITED", "value": "1"}]
        elif change == "scale":
            publishes = any("published" in p for p in svc.get("ports", []))
            svc["replicas"] = draw(st.integers(0, 1 if publishes else 3))
        elif change == "rename":
            unused = [n for n in SERVICES if n not in {s["name"] for s in services}]
            old, svc["name"] = svc["name"], draw(st.sampled_from(unused))
            for other in services:
                for dep in other.get("dependsOn", []):
                    if dep["service"] == old:
                        dep["service"] = svc["name"]
    # A published port moving from one service to another.
    single = [s for s in services if s["replicas"] == 1 and "networkMode" not in s]
    if len(single) >= 2 and draw(st.booleans()):
        a, b = draw(st.permutations(single))[:2]
        a["ports"], b["ports"] = b.get("ports", []), a.get("ports", [])
    return doc


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], SimState]:
    """A desired app, and an engine holding some images and perhaps an earlier version of
    the app (a random one, or one the desired app is an edit of), then disturbed."""
    present = draw(st.lists(st.sampled_from(IMAGES), unique=True))
    state = SimState(images=frozenset(normalize_image_ref(i) for i in present))
    doc = draw(app_docs())
    if draw(st.booleans()):
        earlier = draw(app_docs())
        order = random.Random(draw(st.integers(0, 2**16)))
        state = run(plan_app(desired(earlier), state), state, rng=order).state
        if draw(st.booleans()):
            doc = edit(draw, earlier)
    return doc, disturb(draw, state)


# --- properties ----------------------------------------------------------------------------


IMAGE_OPS = {Kind.PULL_IMAGE, Kind.BUILD_IMAGE, Kind.MISSING_IMAGE}


def assert_well_formed(plan: Plan, observed: ObservedState) -> None:
    check_order(plan)
    assert Kind.REMOVE_VOLUME not in {op.kind for op in plan.operations}
    ops = {op.id: op for op in plan.operations}
    needed = {dep for op in plan.operations for dep in op.deps}
    for op in plan.operations:
        if op.kind in IMAGE_OPS:
            assert op.id in needed, f"nothing waits for {op.id}"
        if op.kind is Kind.CREATE_CONTAINER and op.container is not None:
            policy = op.container.pull_policy
            images = {ops[d].kind for d in op.deps if ops[d].kind in IMAGE_OPS}
            if policy == "Always":
                assert images == {Kind.PULL_IMAGE}, f"{op.id} does not wait for its pull"
    for op in plan.operations:
        if op.kind not in ON_CONTAINER:
            continue
        ref = op.ref or op.target
        existing = next((c for c in observed.containers if ref in (c.id, c.name)), None)
        if existing is not None:
            assert existing.managed, f"{op.id} targets unlabelled container {existing.name}"
            assert existing.app == APP, f"{op.id} targets {existing.name} of app {existing.app}"


def expected_failures(plan: Plan, observed: ObservedState, failed: list[str]) -> None:
    """What may fail at apply: an image pullPolicy Never cannot get, a wait on a container
    the plan does not start (stopped by hand, or a job that failed)."""
    started = {op.target for op in plan.operations if op.kind is Kind.START_CONTAINER}
    for op_id in failed:
        kind, _, target = op_id.partition(":")
        if kind == Kind.MISSING_IMAGE:
            continue
        assert kind in (Kind.WAIT_HEALTHY, Kind.WAIT_COMPLETED), op_id
        assert target not in started, f"{op_id} failed though the plan starts it"
        assert observed.container_named(target) is not None, op_id


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenario=scenarios(),
    health=st.sampled_from(["healthy", "starting"]),
    seed=st.integers(0, 2**16),
    teardown_last=st.booleans(),
)
def test_replanning_after_apply_is_empty(
    scenario: tuple[dict[str, Any], SimState], health: str, seed: int, teardown_last: bool
) -> None:
    doc, observed = scenario
    want = desired(doc)
    plan = plan_app(want, observed)
    assert_well_formed(plan, observed)
    # Strangers have unrelated names and nothing is external: nothing to refuse.
    assert plan.errors == ()
    order = random.Random(seed)
    outcome = run(plan, observed, health=health, rng=order, teardown_last=teardown_last)
    if outcome.ok:
        replan = plan_app(want, outcome.state)
        assert replan.empty, f"plan:\n{plan.render()}\n\nreplan:\n{replan.render()}"
        return
    expected_failures(plan, observed, [op.id for op in outcome.failed])
    # A replacement whose image is missing leaves the old container as it was.
    missing = {op.target for op in outcome.failed if op.kind is Kind.MISSING_IMAGE}
    for d in want.containers:
        old = observed.container_named(d.name)
        if d.config.image in missing and old is not None and old.managed:
            assert outcome.state.container_named(d.name) == old


@st.composite
def rollouts(draw: st.DrawFn) -> tuple[dict[str, Any], SimState]:
    """An app applied cleanly (every image present), and the next version of it."""
    state = SimState(images=frozenset(normalize_image_ref(i) for i in IMAGES))
    earlier = draw(app_docs())
    state = run(plan_app(desired(earlier), state), state).state
    return edit(draw, earlier), state


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rollout=rollouts(),
    seed=st.integers(0, 2**16),
    teardown_last=st.booleans(),
)
def test_rollout_to_the_next_version_succeeds_in_any_order(
    rollout: tuple[dict[str, Any], SimState], seed: int, teardown_last: bool
) -> None:
    doc, observed = rollout
    want = desired(doc)
    plan = plan_app(want, observed)
    assert_well_formed(plan, observed)
    outcome = run(plan, observed, rng=random.Random(seed), teardown_last=teardown_last)
    assert outcome.ok, f"failed: {[op.id for op in outcome.failed]}\n{plan.render()}"
    assert plan_app(want, outcome.state).empty


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), volumes=st.booleans(), seed=st.integers(0, 2**16))
def test_delete_leaves_nothing_of_the_app_but_its_volumes(
    scenario: tuple[dict[str, Any], SimState], volumes: bool, seed: int
) -> None:
    observed = scenario[1]
    plan = plan_delete(APP, observed, volumes=volumes)
    check_order(plan)
    outcome = run(plan, observed, remove_volumes=volumes, rng=random.Random(seed))
    assert outcome.ok
    after = outcome.state
    assert not after.app_containers(APP)
    assert not [n for n in after.networks if n.app == APP]
    kept = [v.name for v in after.volumes if v.app == APP]
    assert kept == ([] if volumes else [v.name for v in observed.volumes if v.app == APP])
    assert [c.name for c in after.containers] == [
        c.name for c in observed.containers if not c.managed
    ]
    assert set(configs_of(after)) <= {c.id for c in after.containers}
