"""Golden plans: what the planner decides for one app against one engine state, as text.

Each test builds the desired App from YAML and the engine's state by hand or by
simulating an earlier plan (tests/plan_sim.py), then compares `plan.render()`
with tests/golden/<test>.txt. Run with UPDATE_GOLDEN=1 to rewrite the files,
then read the diff: it is the change in behaviour.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Kind, Plan
from dockyard.plan.planner import plan_app, plan_delete
from dockyard.spec import naming
from dockyard.spec.load import load_text
from dockyard.state.observed import (
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
    normalize_image_ref,
)
from plan_sim import SimState, new_id, run, simulate, with_containers

GOLDEN = Path(__file__).parent / "golden"

Load = Callable[..., DesiredApp]
Golden = Callable[..., None]

SHOP = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: shop}
spec:
  networks: [{name: backend}, {name: front}]
  volumes: [{name: data}]
  services:
    - name: db
      image: postgres:16
      restart: always
      networks: [{name: backend}]
      volumeMounts: [{mountPath: /var/lib/postgresql/data, volume: data}]
      healthcheck: {test: [CMD, pg_isready], interval: 2s, timeout: 1s, retries: 5}
    - name: web
      image: nginx:1.27
      replicas: 2
      restart: always
      env: [{name: MODE, value: prod}]
      ports: [{target: 80}]
      networks: [{name: front}, {name: backend, aliases: [www]}]
      dependsOn: [{service: db, condition: healthy}]
    - name: worker
      image: busybox:1.36
      command: [sleep, infinity]
      restart: unless-stopped
      dependsOn: [{service: db}]
"""

SHOP_IMAGES = ("postgres:16", "nginx:1.27", "busybox:1.36")


def images(*refs: str) -> frozenset[str]:
    return frozenset(normalize_image_ref(r) for r in refs)


@pytest.fixture
def load(tmp_path: Path) -> Load:
    """YAML text -> DesiredApp, with optional build tags per service."""

    def load(text: str, build_tags: dict[str, str] | None = None) -> DesiredApp:
        (loaded,) = load_text(text, source="t.yaml", base_dir=tmp_path, environ={}).apps
        return desired_app(loaded, build_tags or {})

    return load


@pytest.fixture
def golden(request: pytest.FixtureRequest, tmp_path: Path) -> Golden:
    """Compare a plan's rendering with tests/golden/<test name>.txt."""

    def check(plan: Plan, name: str | None = None) -> None:
        text = plan.render().replace(str(tmp_path), "<tmp>") + "\n"
        path = GOLDEN / f"{name or request.node.name.removeprefix('test_')}.txt"
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1"
        assert text == path.read_text(encoding="utf-8"), f"plan differs from {path}"

    return check


def applied(desired: DesiredApp, observed: ObservedState | None = None) -> SimState:
    """The engine after a successful apply of `desired` (images already present)."""
    base = observed or ObservedState(images=images(*SHOP_IMAGES))
    plan = plan_app(desired, base)
    assert not plan.errors
    return simulate(plan, base)


def container(name: str, state: ObservedState) -> ObservedContainer:
    found = state.container_named(name)
    assert found is not None, name
    return found


def targets(plan: Plan, kind: Kind) -> list[str]:
    return [op.target for op in plan.operations if op.kind is kind]


# --- creating and converging ---------------------------------------------------------------


def test_fresh_app(load: Load, golden: Golden) -> None:
    plan = plan_app(load(SHOP), ObservedState())
    golden(plan)
    ops = {op.id: i for i, op in enumerate(plan.operations)}
    # Web starts only once db is healthy; the worker only needs db started.
    assert ops["wait-healthy:shop-db-1"] < ops["start-container:shop-web-1"]
    assert "wait-healthy:shop-db-1" in plan.operations[ops["start-container:shop-web-1"]].deps
    worker_start = plan.operations[ops["start-container:shop-worker-1"]]
    assert "start-container:shop-db-1" in worker_start.deps


def test_replan_after_apply_is_empty(load: Load) -> None:
    desired = load(SHOP)
    state = simulate(plan_app(desired, ObservedState()), ObservedState())
    assert plan_app(desired, state).render() == ""


def test_replan_while_healthchecks_are_starting_is_empty(load: Load) -> None:
    desired = load(SHOP)
    plan = plan_app(desired, ObservedState(images=images(*SHOP_IMAGES)))
    state = simulate(plan, ObservedState(images=images(*SHOP_IMAGES)), health="starting")
    assert plan_app(desired, state).empty


def test_env_changed_replaces_only_that_service(load: Load, golden: Golden) -> None:
    state = applied(load(SHOP))
    plan = plan_app(load(SHOP.replace("value: prod", "value: staging")), state)
    golden(plan)
    assert {op.service for op in plan.operations} == {"web"}
    assert targets(plan, Kind.STOP_CONTAINER) == ["shop-web-1", "shop-web-2"]
    assert targets(plan, Kind.REMOVE_CONTAINER) == ["shop-web-1", "shop-web-2"]
    # db is unchanged and healthy: no wait on it.
    assert not targets(plan, Kind.WAIT_HEALTHY)


def test_scale_down_removes_the_highest_replicas(load: Load, golden: Golden) -> None:
    three = SHOP.replace("replicas: 2", "replicas: 3")
    state = applied(load(three))
    plan = plan_app(load(three.replace("replicas: 3", "replicas: 1")), state)
    golden(plan)
    assert targets(plan, Kind.REMOVE_CONTAINER) == ["shop-web-2", "shop-web-3"]
    assert plan_app(load(SHOP.replace("replicas: 2", "replicas: 1")), simulate(plan, state)).empty


def test_scale_up_adds_replicas(load: Load, golden: Golden) -> None:
    state = applied(load(SHOP.replace("replicas: 2", "replicas: 1")))
    plan = plan_app(load(SHOP.replace("replicas: 2", "replicas: 3")), state)
    golden(plan)
    assert targets(plan, Kind.CREATE_CONTAINER) == ["shop-web-2", "shop-web-3"]
    assert not targets(plan, Kind.STOP_CONTAINER)


def test_service_removed_with_its_network(load: Load, golden: Golden) -> None:
    state = applied(load(SHOP))
    # Only the worker uses the default network, so it goes with it.
    without_worker = SHOP.split("    - name: worker")[0]
    plan = plan_app(load(without_worker), state)
    golden(plan)
    ops = [op.id for op in plan.operations]
    assert ops.index("remove-container:shop-worker-1") < ops.index("remove-network:shop_default")
    assert "remove-container:shop-worker-1" in plan.operations[-1].deps
    assert plan_app(load(without_worker), simulate(plan, state)).empty


def test_network_settings_changed_recreates_it(load: Load, golden: Golden) -> None:
    state = applied(load(SHOP))
    changed = SHOP.replace("{name: front}", "{name: front, internal: true}", 1)
    plan = plan_app(load(changed), state)
    golden(plan)
    assert plan_app(load(changed), simulate(plan, state)).empty


def test_dead_container_is_replaced(load: Load, golden: Golden) -> None:
    state = applied(load(SHOP))
    dead = container("shop-worker-1", state)
    state = with_containers(state, ObservedContainer(**{**dead.__dict__, "state": "dead"}))
    golden(plan_app(load(SHOP), state))


# --- containers dockyard does not own ------------------------------------------------------


def test_unlabelled_container_with_the_same_name(load: Load, golden: Golden) -> None:
    stranger = ObservedContainer(id="abc123", name="shop-worker-1", state="running")
    plan = plan_app(load(SHOP), ObservedState(containers=(stranger,)))
    golden(plan)
    assert any("shop-worker-1" in e and "not managed by dockyard" in e for e in plan.errors)
    assert not [op for op in plan.operations if "shop-worker-1" in op.target]


def test_container_of_another_app_with_the_same_name(load: Load, golden: Golden) -> None:
    labels = {**naming.owner_labels("shop-worker"), naming.SERVICE: "x"}
    theirs = ObservedContainer(id="def456", name="shop-worker-1", state="running", labels=labels)
    plan = plan_app(load(SHOP), ObservedState(containers=(theirs,)))
    golden(plan)
    assert any("belongs to app shop-worker" in e for e in plan.errors)
    assert not [op for op in plan.operations if "shop-worker-1" in op.target]


def test_external_network_missing(load: Load, golden: Golden) -> None:
    text = SHOP.replace("{name: front}", "{name: front, external: true}", 1)
    plan = plan_app(load(text), ObservedState())
    golden(plan)
    assert any("external network front does not exist" in e for e in plan.errors)


# --- images ---------------------------------------------------------------------------------

ONE = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: one}
spec:
  services:
    - name: app
      image: registry.local/app:2
      pullPolicy: %s
      restart: %s
      env: [{name: VERSION, value: "%s"}]
"""


def one(policy: str = "IfNotPresent", restart: str = "always", version: str = "1") -> str:
    return ONE % (policy, restart, version)


def test_pull_never_with_missing_image_keeps_the_old_container(load: Load, golden: Golden) -> None:
    state = applied(load(one("Never")), ObservedState(images=images("registry.local/app:2")))
    # Version 2 names an image the engine does not have; pulling is not allowed.
    desired = load(one("Never", version="2").replace("app:2", "app:3"))
    plan = plan_app(desired, state)
    golden(plan)
    assert "missing-image:registry.local/app:3" in plan.operations[1].deps  # the stop
    outcome = run(plan, state)
    assert [op.kind for op in outcome.failed] == [Kind.MISSING_IMAGE]
    assert container("one-app-1", outcome.state) == container("one-app-1", state)


def test_if_not_present_with_the_image_present(load: Load, golden: Golden) -> None:
    plan = plan_app(load(one()), ObservedState(images=images("registry.local/app:2")))
    golden(plan)
    assert not targets(plan, Kind.PULL_IMAGE)


def test_if_not_present_with_the_image_absent(load: Load, golden: Golden) -> None:
    plan = plan_app(load(one()), ObservedState(images=images("registry.local/app:1")))
    golden(plan)
    assert targets(plan, Kind.PULL_IMAGE) == ["registry.local/app:2"]


def test_pull_always_pulls_only_when_creating(load: Load, golden: Golden) -> None:
    present = ObservedState(images=images("registry.local/app:2"))
    plan = plan_app(load(one("Always")), present)
    golden(plan)
    assert plan_app(load(one("Always")), simulate(plan, present)).empty


SHARED = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: shared}
spec:
  services:
    - {name: a, image: busybox:1.36, pullPolicy: Never}
    - {name: b, image: busybox:1.36, pullPolicy: IfNotPresent}
    - {name: c, image: busybox:1.36, pullPolicy: Always}
"""


def test_services_sharing_an_image_keep_their_own_pull_policy(load: Load, golden: Golden) -> None:
    plan = plan_app(load(SHARED), ObservedState())
    golden(plan)
    # One pull serves the Never service too; nothing is reported missing.
    assert not targets(plan, Kind.MISSING_IMAGE)
    assert plan_app(load(SHARED), simulate(plan, ObservedState())).empty


BUILT = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: built}
spec:
  services:
    - name: api
      build: {context: ./api}
      image: built/api:latest
"""


@pytest.fixture
def build_context(tmp_path: Path) -> Path:
    context = tmp_path / "api"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    return context


@pytest.mark.usefixtures("build_context")
def test_build_tag_absent_builds(load: Load, golden: Golden) -> None:
    desired = load(BUILT, {"api": "built-api:dy-abc"})
    plan = plan_app(desired, ObservedState(images=images("built/api:latest")))
    golden(plan)
    assert plan_app(desired, simulate(plan, ObservedState())).empty


@pytest.mark.usefixtures("build_context")
def test_build_tag_present_does_not_build(load: Load, golden: Golden) -> None:
    plan = plan_app(
        load(BUILT, {"api": "built-api:dy-abc"}), ObservedState(images=images("built-api:dy-abc"))
    )
    golden(plan)
    assert not targets(plan, Kind.BUILD_IMAGE)


# --- stopped and completed containers ------------------------------------------------------


def stopped(state: SimState, name: str, exit_code: int) -> SimState:
    c = container(name, state)
    return with_containers(
        state, ObservedContainer(**{**c.__dict__, "state": "exited", "exit_code": exit_code})
    )


def test_stopped_container_with_restart_always_is_started(load: Load, golden: Golden) -> None:
    state = stopped(applied(load(one())), "one-app-1", 137)
    plan = plan_app(load(one()), state)
    golden(plan)
    assert [op.kind for op in plan.operations] == [Kind.START_CONTAINER]


def test_exited_container_with_restart_no_stays_completed(load: Load) -> None:
    state = stopped(applied(load(one(restart="no"))), "one-app-1", 0)
    assert plan_app(load(one(restart="no")), state).empty


JOBS = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: jobs}
spec:
  services:
    - name: migrate
      image: busybox:1.36
      command: [sh, -c, "echo migrated"]
    - name: api
      image: busybox:1.36
      command: [sleep, infinity]
      restart: always
      env: [{name: LEVEL, value: "%s"}]
      dependsOn: [{service: migrate, condition: completed}]
"""


def test_depends_on_completed(load: Load, golden: Golden) -> None:
    desired = load(JOBS % "info")
    plan = plan_app(desired, ObservedState(images=images("busybox:1.36")))
    golden(plan)
    start = next(op for op in plan.operations if op.id == "start-container:jobs-api-1")
    assert "wait-completed:jobs-migrate-1" in start.deps
    state = simulate(plan, ObservedState(images=images("busybox:1.36")))
    assert container("jobs-migrate-1", state).state == "exited"
    assert plan_app(desired, state).empty


def test_depends_on_completed_job_that_already_completed(load: Load, golden: Golden) -> None:
    state = applied(load(JOBS % "info"), ObservedState(images=images("busybox:1.36")))
    plan = plan_app(load(JOBS % "debug"), state)
    golden(plan)
    assert not targets(plan, Kind.WAIT_COMPLETED)


# --- ports ----------------------------------------------------------------------------------

PORTAL = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: portal}
spec:
  services:
    - name: %s
      image: nginx:1.27
      restart: always
      ports: [{target: 80, published: 8080}]
"""


def test_renamed_service_starts_after_the_old_one_frees_its_port(
    load: Load, golden: Golden
) -> None:
    state = applied(load(PORTAL % "web"))
    plan = plan_app(load(PORTAL % "site"), state)
    golden(plan)
    start = next(op for op in plan.operations if op.id == "start-container:portal-site-1")
    assert "stop-container:portal-web-1" in start.deps


# --- deleting an app ------------------------------------------------------------------------


def test_delete_keeps_volumes(load: Load, golden: Golden) -> None:
    state = applied(load(SHOP))
    plan = plan_delete("shop", state)
    golden(plan)
    after = simulate(plan, state)
    assert not after.containers and not after.networks
    assert [v.name for v in after.volumes] == ["shop_data"]


def test_delete_with_volumes(load: Load, golden: Golden) -> None:
    state = applied(load(SHOP))
    foreign = ObservedVolume(name="shared")
    state = SimState(
        containers=state.containers,
        networks=(*state.networks, ObservedNetwork(id=new_id("n"), name="bridge")),
        volumes=(*state.volumes, foreign),
        images=state.images,
        configs=state.configs,
    )
    plan = plan_delete("shop", state, volumes=True)
    golden(plan)
    after = simulate(plan, state, remove_volumes=True)
    assert [v.name for v in after.volumes] == ["shared"]
    assert [n.name for n in after.networks] == ["bridge"]


EXPLICIT_DEFAULT = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: x}
spec:
  networks: [{name: back}]
  services:
    - {name: a, image: busybox:1.36, networks: [{name: default}, {name: back}]}
"""


def test_explicitly_attached_default_network_is_created(load: Load) -> None:
    empty = ObservedState(images=images("busybox:1.36"))
    simulate(plan_app(load(EXPLICIT_DEFAULT), empty), empty)


# --- taking over a stack that Compose runs ---------------------------------------------------


def composed(state: SimState, project: str) -> SimState:
    """`state` as Compose would have left it: the same objects, with Compose's labels only."""

    def labels(kind: str, name: str) -> dict[str, str]:
        return {"com.docker.compose.project": project, f"com.docker.compose.{kind}": name}

    containers = tuple(
        replace(
            c,
            labels={
                **labels("service", c.service or ""),
                "com.docker.compose.container-number": str(c.replica),
                "com.docker.compose.oneoff": "False",
                "com.docker.compose.config-hash": "0f" * 32,
            },
        )
        for c in state.containers
    )
    networks = tuple(
        replace(n, labels=labels("network", n.name.removeprefix(f"{project}_")))
        for n in state.networks
    )
    volumes = tuple(
        replace(v, labels=labels("volume", v.name.removeprefix(f"{project}_")))
        for v in state.volumes
    )
    return replace(state, containers=containers, networks=networks, volumes=volumes)


def test_compose_stack_is_taken_over(load: Load, golden: Golden) -> None:
    state = composed(applied(load(SHOP)), "shop")
    plan = plan_app(load(SHOP), state)
    golden(plan)
    # Compose's volume and networks are used as they are: data stays, nothing recreated.
    assert not targets(plan, Kind.CREATE_VOLUME) and not targets(plan, Kind.REMOVE_VOLUME)
    assert not targets(plan, Kind.CREATE_NETWORK) and not targets(plan, Kind.REMOVE_NETWORK)
    assert targets(plan, Kind.REMOVE_CONTAINER) == [
        "shop-db-1",
        "shop-web-1",
        "shop-web-2",
        "shop-worker-1",
    ]
    # One at a time: each stop waits for the container before it to be up again.
    by_id = {op.id: op for op in plan.operations}
    assert "wait-healthy:shop-db-1" in by_id["stop-container:shop-web-1"].deps
    assert "start-container:shop-web-1" in by_id["stop-container:shop-web-2"].deps
    after = simulate(plan, state)
    assert all(c.managed for c in after.containers)
    assert plan_app(load(SHOP), after).empty


def test_compose_stack_taken_over_in_any_order_the_plan_allows(load: Load) -> None:
    state = composed(applied(load(SHOP)), "shop")
    plan = plan_app(load(SHOP), state)
    for seed in range(20):
        after = simulate(plan, state, rng=random.Random(seed))
        assert plan_app(load(SHOP), after).empty


def test_compose_stack_taken_over_after_compose_down(load: Load, golden: Golden) -> None:
    # `docker compose down` removed containers and networks; the volume stays.
    state = composed(applied(load(SHOP)), "shop")
    down = replace(state, containers=(), networks=(), configs={})
    plan = plan_app(load(SHOP), down)
    golden(plan)
    assert not targets(plan, Kind.CREATE_VOLUME)
    assert plan_app(load(SHOP), simulate(plan, down)).empty


def test_compose_container_of_another_project_is_refused(load: Load, golden: Golden) -> None:
    state = composed(applied(load(SHOP)), "shop-old")
    plan = plan_app(load(SHOP), state)
    golden(plan)
    assert any("belongs to Compose project shop-old, not shop" in e for e in plan.errors)
    assert not targets(plan, Kind.STOP_CONTAINER) and not targets(plan, Kind.REMOVE_CONTAINER)


def test_compose_orphans_go_and_compose_run_containers_stay(load: Load, golden: Golden) -> None:
    state = composed(applied(load(SHOP)), "shop")
    orphan = ObservedContainer(
        id=new_id(),
        name="shop-adminer-1",
        state="running",
        networks=("shop_default",),
        labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "adminer"},
    )
    session = ObservedContainer(
        id=new_id(),
        name="shop-worker-run-0a1b2c",
        state="running",
        labels={
            "com.docker.compose.project": "shop",
            "com.docker.compose.service": "worker",
            "com.docker.compose.oneoff": "True",
        },
    )
    state = with_containers(state, orphan, session)
    plan = plan_app(load(SHOP), state)
    golden(plan)
    assert "shop-adminer-1" in targets(plan, Kind.REMOVE_CONTAINER)
    assert not [op for op in plan.operations if op.target == session.name]


def test_delete_after_take_over_removes_adopted_network_and_volume(load: Load) -> None:
    state = composed(applied(load(SHOP)), "shop")
    after = simulate(plan_app(load(SHOP), state), state)
    plan = plan_delete("shop", after, volumes=True)
    gone = simulate(plan, after, remove_volumes=True)
    assert not gone.containers and not gone.networks and not gone.volumes
    kept = simulate(plan_delete("shop", after), after)
    assert [v.name for v in kept.volumes] == ["shop_data"]


PUBLISHED = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {name: edge}
spec:
  services:
    - {name: a, image: nginx:1.27, restart: always, ports: [{target: 80, published: 8081}]}
    - {name: b, image: nginx:1.27, restart: always, ports: [{target: 80, published: 8082}]}
    - {name: c, image: nginx:1.27, restart: always, ports: [{target: 80, published: 8083}]}
"""


def test_compose_services_publishing_ports_are_taken_over_in_a_chain(load: Load) -> None:
    # A start that publishes ports waits for the plan's stops, but not for the stops that
    # wait for it in turn (the next take-over): that would be a cycle.
    desired = load(PUBLISHED)
    state = composed(applied(desired, ObservedState(images=images("nginx:1.27"))), "edge")
    plan = plan_app(desired, state)
    by_id = {op.id: op for op in plan.operations}
    assert "start-container:edge-a-1" in by_id["stop-container:edge-b-1"].deps
    assert "start-container:edge-b-1" in by_id["stop-container:edge-c-1"].deps
    assert "stop-container:edge-c-1" not in by_id["start-container:edge-a-1"].deps
    for seed in range(10):
        after = simulate(plan, state, rng=random.Random(seed))
        assert plan_app(desired, after).empty


def test_compose_service_with_an_update_strategy_is_taken_over_by_a_rollout(
    load: Load,
) -> None:
    from dockyard.plan.converge import rolling_changes

    text = SHOP.replace(
        "      replicas: 2\n", "      replicas: 2\n      update: {order: start-first}\n"
    )
    state = composed(applied(load(text)), "shop")
    rolling = rolling_changes(load(text), state)
    assert set(rolling) == {"shop-web-1", "shop-web-2"}
    assert all(cause.startswith("take over Compose's container") for cause in rolling.values())
    # The rest is taken over by the first plan, one at a time; web waits for its rollout.
    first = plan_app(load(text), state, hold=set(rolling))
    assert targets(first, Kind.REMOVE_CONTAINER) == ["shop-db-1", "shop-worker-1"]
