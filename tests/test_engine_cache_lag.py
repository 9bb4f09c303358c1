"""The engine's list view lags its events: a `die` arrives while `GET /containers/json`
still says `running` (seen on this machine under load: a controller then kept an exited
one-shot container's app `Degraded=False` until the 60 s resync). The cache reads again
until the list shows what the events said.

The engine here is a stand-in, named as such: a real engine lags only now and then and
cannot be made to on demand, so `LaggingEngine` replays events and serves lists that
catch up after a set number of reads. The last test uses the real engine.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from typing import Any

import pytest
from docker import DockerClient

from dockyard.engine.cache import EngineCache
from dockyard.engine.client import Engine
from dockyard.engine.expected import expected
from dockyard.spec import naming
from dockyard.state.observed import ObservedContainer, ObservedState
from helpers import BASE_IMAGE, TEST_LABELS, unique_name
from waiting import eventually

CID = "c0ffee" * 10


def container(state: str, status: str, name: str = "shop-web-1") -> ObservedContainer:
    labels = {naming.MANAGED_BY: naming.MANAGED_BY_VALUE, naming.APP: "shop"}
    return ObservedContainer(id=CID, name=name, state=state, labels=labels, status=status)


def die_event(cid: str = CID) -> dict[str, Any]:
    attrs = {"name": "shop-web-1", "exitCode": "3", naming.MANAGED_BY: naming.MANAGED_BY_VALUE}
    return {"Type": "container", "Action": "die", "Actor": {"ID": cid, "Attributes": attrs}}


class LaggingEngine:
    """Stand-in for an engine whose list view lags: `lag` reads after an event still
    show the state from before it."""

    name = "lagging"

    def __init__(self, before: ObservedState, after: ObservedState, lag: int) -> None:
        self.before, self.after, self.lag = before, after, lag
        self.events_q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.reads = 0
        self.sent = False

    def snapshot(self) -> ObservedState:
        if not self.sent:
            return self.before
        self.reads += 1
        return self.before if self.reads <= self.lag else self.after

    def send(self, event: dict[str, Any]) -> None:
        self.sent = True
        self.events_q.put(event)

    def events(self) -> Iterator[dict[str, Any]]:
        while (event := self.events_q.get()) is not None:
            yield event

    def close(self) -> None:
        pass


def test_each_container_event_says_what_the_next_list_must_show():
    running = ObservedState(containers=(container("running", "Up 1 second"),))
    exited = ObservedState(containers=(container("exited", "Exited (3) 1 second ago"),))
    die = expected(die_event())
    assert die is not None
    assert not die.met(running) and die.met(exited)
    start = expected({**die_event(), "Action": "start"})
    assert start is not None and start.met(running) and not start.met(exited)
    gone = expected({**die_event(), "Action": "destroy"})
    assert gone is not None and gone.met(ObservedState()) and not gone.met(exited)
    healthy = expected({**die_event(), "Action": "health_status: healthy"})
    assert healthy is not None and not healthy.met(running)
    renamed = {**die_event(), "Action": "rename"}
    renamed["Actor"] = {"ID": CID, "Attributes": {"name": "shop-web-1-old"}}
    moved = expected(renamed)
    assert moved is not None and not moved.met(running)
    # Events that say nothing about a listing are not waited for.
    assert expected({"Type": "network", "Action": "connect", "Actor": {"ID": "n1"}}) is None
    assert expected({**die_event(), "Action": "oom"}) is None


@pytest.mark.parametrize("lag", [1, 3])
async def test_a_list_that_lags_a_die_event_is_read_again_until_it_shows_it(lag: int):
    running = ObservedState(containers=(container("running", "Up 2 seconds"),))
    exited = ObservedState(containers=(container("exited", "Exited (3) 1 second ago"),))
    engine = LaggingEngine(running, exited, lag)
    heard: list[set[str] | None] = []
    cache = EngineCache(engine, heard.append)  # type: ignore[arg-type]  # the stand-in
    await cache.start()
    try:
        await cache.relist()
        engine.send(die_event())
        # No further event comes: the cache alone must see the container exited.
        await eventually(lambda: cache.state.containers[0].state == "exited", timeout=10)
        assert {"shop"} in heard
        assert engine.reads == lag + 1  # read again until it showed the die, then no more
        relists = cache.relists
        await asyncio.sleep(0.3)  # no event, nothing expected: the cache stays quiet
        assert cache.relists == relists
    finally:
        engine.events_q.put(None)
        await cache.stop()


@pytest.mark.engine
async def test_a_killed_container_is_seen_exited_without_a_later_event(
    docker_client: DockerClient,
):
    """The real engine: whatever its list lag, the cache ends with the container exited."""
    name = unique_name("lag")
    engine = Engine()
    cache = EngineCache(engine, lambda apps: None)
    ctr = docker_client.containers.run(
        BASE_IMAGE, ["sleep", "600"], name=name, labels=TEST_LABELS, detach=True
    )
    await cache.start()
    try:
        await cache.relist()
        await eventually(lambda: cache.connected)
        await asyncio.to_thread(ctr.kill)

        def exited() -> bool:
            found = cache.state.container_named(name)
            return found is not None and found.state == "exited" and found.exit_code == 137

        await eventually(exited, timeout=10)
    finally:
        await cache.stop()
        ctr.remove(force=True)
