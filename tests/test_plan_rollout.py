"""Rollouts are plans: every step a rolling update may take is planned before anything
runs, shown by `dockyard diff`, and covered here as golden text and by running the
steps in the engine model (tests/plan_sim.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.plan.converge import plan_converge
from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Kind, Operation, Plan
from dockyard.plan.rollout import OLD_SUFFIX
from dockyard.spec.load import load_text
from dockyard.state.observed import ObservedState, normalize_image_ref
from plan_sim import SimState, run, simulate

GOLDEN = Path(__file__).parent / "golden"

WEB = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {{name: shop}}
spec:
  services:
    - name: db
      image: postgres:16
      restart: always
      healthcheck: {{test: [CMD, pg_isready], interval: 2s, timeout: 1s, retries: 5}}
    - name: web
      image: nginx:1.27
      replicas: {replicas}
      restart: always
      env: [{{name: MODE, value: {mode}}}]
      dependsOn: [{{service: db, condition: healthy}}]
      healthcheck: {{test: [CMD, wget, -q, localhost], interval: 1s, retries: 2}}
      update: {update}
"""


def load(tmp_path: Path, mode: str, update: str, replicas: int = 3) -> DesiredApp:
    text = WEB.format(mode=mode, update=update, replicas=replicas)
    (loaded,) = load_text(text, source="t.yaml", base_dir=tmp_path, environ={}).apps
    return desired_app(loaded, {})


def running(desired: DesiredApp) -> SimState:
    base = ObservedState(
        images=frozenset(normalize_image_ref(i) for i in ("postgres:16", "nginx:1.27"))
    )
    return simulate(plan_converge(desired, base), base)


def check_golden(plan: Plan, name: str) -> None:
    text = plan.render() + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"plan differs from {path}"


def steps(ops: tuple[Operation, ...]) -> Plan:
    return Plan(ops)


def test_start_first_rollout_one_at_a_time(tmp_path: Path) -> None:
    update = "{order: start-first, parallelism: 1, monitor: 5s, failureAction: rollback}"
    state = running(load(tmp_path, "prod", update))
    plan = plan_converge(load(tmp_path, "staging", update), state)
    check_golden(plan, "rollout_start_first_one_at_a_time")
    assert plan.operations == ()  # nothing else changes: the rollout is the whole plan
    assert plan.rollout is not None
    assert [[r.name for r in b.replacements] for b in plan.rollout.batches] == [
        ["shop-web-1"],
        ["shop-web-2"],
        ["shop-web-3"],
    ]
    first = plan.rollout.batches[0].replacements[0]
    kinds = [op.kind for op in first.steps]
    # The old container steps aside (kept), the new one starts and is watched; the old
    # one stops only once it passed (start-first), and goes only when all passed.
    assert kinds == [
        Kind.RENAME_CONTAINER,
        Kind.CREATE_CONTAINER,
        Kind.START_CONTAINER,
        Kind.MONITOR_CONTAINER,
    ]
    assert [op.kind for op in first.passed] == [Kind.STOP_CONTAINER]
    assert first.retire[0].target == "shop-web-1" + OLD_SUFFIX
    assert "env MODE: prod -> staging" in first.cause


def test_stop_first_rollout_in_batches_with_a_delay(tmp_path: Path) -> None:
    update = "{order: stop-first, parallelism: 2, delay: 10s, monitor: 1s}"
    state = running(load(tmp_path, "prod", update))
    plan = plan_converge(load(tmp_path, "staging", update), state)
    check_golden(plan, "rollout_stop_first_in_batches")
    assert plan.rollout is not None
    batches = plan.rollout.batches
    assert [len(b.replacements) for b in batches] == [2, 1]
    assert [b.delay for b in batches] == [0.0, 10.0]
    r = batches[0].replacements[0]
    assert [op.kind for op in r.steps][:2] == [Kind.RENAME_CONTAINER, Kind.STOP_CONTAINER]
    assert r.passed == ()


def test_every_path_of_a_rollout_runs_in_the_engine_model(tmp_path: Path) -> None:
    """Passing: steps, passed, retire leave exactly the new containers (re-planning is
    empty). Failing: put-back leaves exactly the old containers under their names."""
    update = "{order: start-first, parallelism: 1, monitor: 1s}"
    state = running(load(tmp_path, "prod", update))
    new = load(tmp_path, "staging", update)
    plan = plan_converge(new, state)
    assert plan.rollout is not None
    after = simulate(steps(plan.operations), state)
    for r in plan.rollout.replacements:
        after = simulate(steps(r.steps), after)
        after = simulate(steps(r.passed), after)
    for r in plan.rollout.replacements:
        after = simulate(steps(r.retire), after)
    assert plan_converge(new, after).empty

    # The first replacement fails its monitor window (the new container is unhealthy).
    r = plan.rollout.replacements[0]
    outcome = run(steps(r.steps), state, health="unhealthy")
    assert [op.kind for op in outcome.failed] == [Kind.MONITOR_CONTAINER]
    back = simulate(steps(r.put_back), outcome.state)
    old = state.container_named("shop-web-1")
    restored = back.container_named("shop-web-1")
    assert old is not None and restored is not None
    assert (restored.id, restored.state) == (old.id, "running")
    assert back.container_named("shop-web-1" + OLD_SUFFIX) is None


def test_a_paused_rollout_plans_nothing_for_the_rolling_containers(tmp_path: Path) -> None:
    update = "{parallelism: 1}"
    state = running(load(tmp_path, "prod", update))
    assert plan_converge(load(tmp_path, "staging", update), state, roll=False).empty


def test_images_are_pulled_before_any_old_container_is_touched(tmp_path: Path) -> None:
    update = "{parallelism: 1}"
    state = running(load(tmp_path, "prod", update))
    changed = load(tmp_path, "prod", update)
    text = WEB.format(mode="prod", update=update, replicas=3).replace("nginx:1.27", "nginx:1.28")
    (loaded,) = load_text(text, source="t.yaml", base_dir=tmp_path, environ={}).apps
    changed = desired_app(loaded, {})
    plan = plan_converge(changed, state)
    assert [op.kind for op in plan.operations] == [Kind.PULL_IMAGE]
    assert plan.operations[0].deps == ()
    assert plan.rollout is not None and len(plan.rollout.replacements) == 3


@pytest.mark.parametrize("host", ["edge-1"])
def test_a_rollout_on_a_host_says_so_in_every_step(tmp_path: Path, host: str) -> None:
    update = "{parallelism: 2}"
    state = running(load(tmp_path, "prod", update))
    plan = plan_converge(load(tmp_path, "staging", update), state).on_host(host)
    assert plan.rollout is not None
    assert {op.host for op in plan.steps} == {host}
