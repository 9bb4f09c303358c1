"""The controller's parts without an engine: the queue's Result, crash-loop backoff with
a clock of the test's own, waves across hosts, pins and revisions, status, placement."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockyard.apply.executor import ApplyResult
from dockyard.apply.rollout import RolloutOutcome
from dockyard.controller import crashloop, revisions, waves
from dockyard.controller.crashloop import Backoff, CrashLoop
from dockyard.controller.history import HistoryStore, Pin
from dockyard.controller.intake import Wanted
from dockyard.controller.placement import place_sticky, rescheduled
from dockyard.controller.queue import Result, WorkQueue
from dockyard.controller.status import AppStatus, update_status
from dockyard.controller.triggers import apps_changed, interesting
from dockyard.fleet.placement import HostInfo
from dockyard.plan.desired import DesiredApp, desired_app, fingerprint
from dockyard.spec import naming
from dockyard.spec.load import LoadedApp, load_text
from dockyard.state.observed import ObservedContainer, ObservedState

APP = "shop"


def loaded(
    image: str = "busybox:1.36", placement: dict[str, Any] | None = None, **service: Any
) -> LoadedApp:
    """An app of one service `web`; `placement` is the app's."""
    doc: dict[str, Any] = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": APP},
        "spec": {"services": [{"name": "web", "image": image, **service}]},
    }
    if placement is not None:
        doc["spec"]["placement"] = placement
    text = yaml.safe_dump(doc, sort_keys=False)
    (app,) = load_text(text, source="t.yaml", base_dir=Path("/nonexistent"), environ={}).apps
    return app


def wanted(image: str = "busybox:1.36", **service: Any) -> Wanted:
    app = loaded(image, **service)
    return Wanted(app, desired_app(app, {}), "folder", "r1")


def running(
    desired: DesiredApp, health: str | None = None, state: str = "running"
) -> ObservedState:
    """What an engine shows when every desired container runs its current config."""
    return ObservedState(
        containers=tuple(
            ObservedContainer(
                id=f"id-{d.name}",
                name=d.name,
                state=state,
                health=health,
                labels={
                    naming.MANAGED_BY: naming.MANAGED_BY_VALUE,
                    naming.APP: d.app,
                    naming.SERVICE: d.service,
                    naming.REPLICA: str(d.replica),
                    naming.CONFIG_HASH: d.config_hash,
                },
            )
            for d in desired.containers
        )
    )


# ---- the queue applies a reconcile's Result -------------------------------------------------


async def test_a_failing_key_backs_off_doubling_and_success_forgets_it():
    queue = WorkQueue(base_delay=1.0, max_delay=5.0)
    delays = [queue.apply("a", Result.retry("failed")) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert queue.apply("a", Result.done()) is None
    assert queue.failures("a") == 0
    assert queue.apply("a", Result.retry("failed")) == 1.0
    queue.shutdown()


async def test_waiting_for_history_keeps_the_backoff_and_comes_back():
    queue = WorkQueue(base_delay=1.0)
    queue.add_rate_limited("a")
    queue.apply("a", Result.wait(0.01))
    assert queue.failures("a") == 1
    assert await asyncio.wait_for(queue.get(), 2) == "a"
    queue.shutdown()


async def test_requeue_now_while_processing_runs_the_key_again_when_done():
    queue = WorkQueue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.apply("a", Result.after(None).and_now())
    assert len(queue) == 0  # never twice at once
    queue.done("a")
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.shutdown()


# ---- crash loops ----------------------------------------------------------------------------


def test_unhealthy_container_restarts_at_once_then_backs_off_and_resets_when_healthy():
    desired = wanted(restartWhenUnhealthy=True).desired
    sick, well = running(desired, "unhealthy"), running(desired, "healthy")
    backoff = Backoff(base=10, max=25, reset=100)
    crash: dict[str, CrashLoop] = {}
    web = desired.containers[0].name

    restart, wait = crashloop.unhealthy(crash, "local", desired, sick, 0.0, backoff)
    assert list(restart) == [web] and wait == 10
    assert crashloop.unhealthy(crash, "local", desired, sick, 4.0, backoff) == ({}, 6.0)
    restart, wait = crashloop.unhealthy(crash, "local", desired, sick, 10.0, backoff)
    assert "restart 2" in restart[web] and wait == 20  # doubled
    assert crashloop.crash_looping(crash) == [web]
    restart, wait = crashloop.unhealthy(crash, "local", desired, sick, 30.0, backoff)
    assert "restart 3" in restart[web] and wait == 25  # capped at max

    # Healthy again: no longer crash-looping, and the count resets after `reset` healthy.
    assert crashloop.unhealthy(crash, "local", desired, well, 40.0, backoff) == ({}, 100.0)
    assert crashloop.crash_looping(crash) == []
    assert crashloop.unhealthy(crash, "local", desired, well, 90.0, backoff) == ({}, 50.0)
    assert crashloop.unhealthy(crash, "local", desired, well, 140.0, backoff) == ({}, None)
    restart, _ = crashloop.unhealthy(crash, "local", desired, sick, 141.0, backoff)
    assert "restart 1" in restart[web]


def test_crash_loops_are_counted_per_host_and_only_when_asked_for():
    desired = wanted(restartWhenUnhealthy=True).desired
    crash: dict[str, CrashLoop] = {}
    sick = running(desired, "unhealthy")
    crashloop.unhealthy(crash, "edge-1", desired, sick, 0.0, Backoff())
    assert list(crash) == [f"edge-1/{desired.containers[0].name}"]
    assert crashloop.restarts_on(crash, "edge-1", desired) == {desired.containers[0].name: 1}
    plain = wanted().desired
    assert crashloop.unhealthy({}, "local", plain, running(plain, "unhealthy"), 0, Backoff()) == (
        {},
        None,
    )


# ---- waves across hosts ---------------------------------------------------------------------


def test_waves_start_with_canaries_then_go_parallelism_hosts_at_a_time_by_name():
    hosts = ["d", "c", "b", "a", "still"]
    rolling = ["a", "b", "c", "d"]
    assert waves.group(hosts, rolling, ["c"], 2) == [["still", "c"], ["a", "b"], ["d"]]
    assert waves.group(hosts, rolling, [], 0) == [["still", "a", "b", "c", "d"]]
    assert waves.group(hosts, rolling, ["zz"], 1) == [["still", "a"], ["b"], ["c"], ["d"]]


def test_a_wave_halts_only_beyond_the_failure_ratio():
    assert waves.halt_message([], 4, 0.0, []) is None
    assert waves.halt_message(["a: x"], 4, 0.25, ["b"]) is None
    message = waves.halt_message(["a: x", "b: y"], 4, 0.25, ["c", "d"])
    assert message == (
        "rollout wave halted after 2 of 4 host(s) failed (a: x; b: y); "
        "c, d keep(s) the old revision"
    )


async def test_a_failing_canary_halts_the_wave_and_the_others_keep_the_old_revision():
    from dockyard.spec.models import HostWaves

    seen: list[str] = []
    heard: list[str] = []

    async def converge(host: str) -> RolloutOutcome:
        seen.append(host)
        if host == "canary":
            return RolloutOutcome(failed={"shop-web-1": "unhealthy"}, action="rollback", rolling=1)
        return RolloutOutcome()

    outcomes = await waves.converge_waves(
        APP,
        ["b", "canary", "a"],
        ["b", "canary", "a"],
        HostWaves(canary=["canary"], parallelism=1),
        converge,
        heard.append,
    )
    assert seen == ["canary"]
    assert heard == ["wave 1/3: canary"]
    assert [o.action for o in outcomes] == ["halt", "rollback", "halt"]
    assert all("keep(s) the old revision" in o.halted for o in outcomes)


async def test_without_waves_every_host_converges_at_once():
    async def converge(host: str) -> RolloutOutcome:
        await asyncio.sleep(0)
        return RolloutOutcome(updated=len(host))

    outcomes = await waves.converge_waves(APP, ["a", "bb"], ["a", "bb"], None, converge, print)
    assert [o.updated for o in outcomes] == [1, 2]


# ---- revisions and pins ---------------------------------------------------------------------


def test_no_pin_runs_what_the_source_wants_and_a_spec_change_drops_a_pin():
    store = HistoryStore(None)
    source = wanted()
    assert revisions.target(store, APP, source) == (source, None)
    store.get(APP).pin = Pin("another spec", 1, "rollback to revision 1 requested")
    assert revisions.target(store, APP, source) == (source, None)
    assert store.get(APP).pin is None


def test_a_pin_runs_its_revision_and_revision_zero_pauses():
    store = HistoryStore(None)
    old, new = wanted("busybox:1.35"), wanted("busybox:1.36")
    first = revisions.revision_for(store, APP, old, None)
    assert first is not None and first.number == 1
    assert revisions.revision_for(store, APP, old, None) is first  # added once
    fp = fingerprint(new.desired)
    store.get(APP).pin = Pin(fp, 1, "rollback to revision 1 requested")
    chosen, pin = revisions.target(store, APP, new)
    assert pin is not None and pin.revision == 1
    assert [c.config.image for c in chosen.desired.containers] == ["busybox:1.35"]
    store.get(APP).pin = Pin(fp, 0, "paused")
    assert revisions.target(store, APP, new) == (new, Pin(fp, 0, "paused"))


def test_a_rollout_that_rolled_back_pins_the_previous_good_revision():
    store = HistoryStore(None)
    old, new = wanted("busybox:1.35"), wanted("busybox:1.36")
    status = AppStatus(APP)
    good = revisions.revision_for(store, APP, old, None)
    assert good is not None
    good.outcome = "complete"
    bad = revisions.revision_for(store, APP, new, None)
    assert bad is not None
    outcome = RolloutOutcome(
        failed={"shop-web-1": "unhealthy"}, action="rollback", reverted=True, rolling=1
    )
    again = revisions.after_rollout(store, APP, status, new, new, None, bad, [outcome])
    assert again  # converge to revision 1 at once
    pin = store.get(APP).pin
    assert pin is not None and pin.revision == good.number
    assert bad.outcome == "rolled-back"
    degraded = status.condition("Degraded")
    assert degraded is not None and degraded.reason == "RolledBack"
    assert status.rollout["pinnedTo"] == good.number


def test_rollback_to_what_the_source_wants_clears_the_pin():
    store = HistoryStore(None)
    old, new = wanted("busybox:1.35"), wanted("busybox:1.36")
    for w in (old, new):
        rev = revisions.revision_for(store, APP, w, None)
        assert rev is not None
        rev.outcome = "complete"
    assert revisions.rollback(store, APP, new, 1) == f"app {APP}: rolling back to revision 1"
    assert store.get(APP).pin is not None
    assert "pin cleared" in revisions.rollback(store, APP, new, 2)
    assert store.get(APP).pin is None


# ---- status ---------------------------------------------------------------------------------


def test_status_is_ready_when_every_container_runs_its_config():
    w = wanted()
    status = AppStatus(APP)
    update_status(status, {}, [("local", w.desired, running(w.desired))], [], {}, "r1")
    assert [(c.type, c.status) for c in status.conditions] == [
        ("Degraded", "False"),
        ("Ready", "True"),
        ("Progressing", "False"),
    ]
    assert status.observedGeneration == "r1"
    assert status.placement == {"local": [w.desired.containers[0].name]}


def test_status_says_which_host_did_not_answer_and_what_crash_loops():
    w = wanted()
    name = w.desired.containers[0].name
    status = AppStatus(APP)
    update_status(status, {}, [], [], {"edge-1": [name]}, "r1")
    assert status.condition("Degraded").reason == "HostUnreachable"  # type: ignore[union-attr]
    assert f"{name} is unknown (host edge-1 is unreachable)" in status.condition("Ready").message  # type: ignore[union-attr]
    crash = {name: CrashLoop(restarts=3)}
    update_status(
        status, crash, [("local", w.desired, running(w.desired))], [ApplyResult()], {}, "r1"
    )
    degraded = status.condition("Degraded")
    assert degraded is not None and degraded.reason == "CrashLoopBackOff"
    assert degraded.message == f"{name} restarted 3 times"
    assert status.services[0].restarts == 3


# ---- placement and triggers -----------------------------------------------------------------


def test_a_dark_host_lets_its_replicas_go_only_after_the_grace_and_only_when_asked():
    sticky = loaded(replicas=2, placement={"reschedule": True, "rescheduleAfter": "30s"}).app
    plain = loaded(replicas=2, placement={}).app
    assert not rescheduled(sticky, None, 100.0)
    assert not rescheduled(sticky, 80.0, 100.0)
    assert rescheduled(sticky, 70.0, 100.0)
    assert not rescheduled(plain, 0.0, 100.0)


def test_replicas_stay_where_they_were_assigned():
    app = loaded(replicas=2, placement={}).app
    hosts = [HostInfo("a"), HostInfo("b")]
    result, assigned = place_sticky(app, hosts, {}, {("web", 1): "b", ("web", 2): "b"})
    assert not result.errors
    assert assigned == {("web", 1): "b", ("web", 2): "b"}
    result, assigned = place_sticky(app, hosts, {}, {("web", 1): "gone", ("web", 2): "gone"})
    assert sorted(assigned.values()) == ["a", "b"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"shop"}, ["shop"]),
        ({"?shop-web-1"}, ["shop"]),
        ({"?shopping-web-1"}, []),
        ({"other"}, []),
    ],
)
def test_an_engine_change_reconciles_only_the_apps_it_concerns(
    changed: set[str], expected: list[str]
):
    assert apps_changed(changed, {"shop", "blog"}) == expected
    assert sorted(apps_changed({"*images*"}, {"shop", "blog"})) == ["blog", "shop"]


def test_unlabelled_objects_matter_only_when_they_take_one_of_our_names():
    assert interesting({"Actor": {"Attributes": {"name": "shop-web-1"}}}, {"shop"})
    assert not interesting({"Actor": {"Attributes": {"name": "stranger"}}}, {"shop"})
    managed = {naming.MANAGED_BY: naming.MANAGED_BY_VALUE, "name": "x"}
    assert interesting({"Actor": {"Attributes": managed}}, set())


def test_an_app_is_pruned_only_when_its_source_was_read_and_is_not_broken():
    from dockyard.controller.intake import may_prune

    owners = {APP: "folder"}
    assert may_prune(APP, True, owners, {"folder"}, {"folder"}, set())
    assert not may_prune(APP, False, owners, {"folder"}, {"folder"}, set())  # --no-prune
    assert not may_prune(APP, True, owners, {"folder"}, set(), set())  # not read yet
    assert not may_prune(APP, True, owners, {"folder"}, {"folder"}, {"folder"})  # broken
    assert not may_prune("applied-by-hand", True, owners, {"folder"}, {"folder"}, set())
    # An owner no running source has (its source was removed): its apps go.
    assert may_prune(APP, True, owners, {"git"}, {"git"}, set())
