"""`dockyard agent`: one device's reconciler, fed over MQTT, working offline from disk.

The agent runs the same Controller as `dockyard run`, against the device's engine, with
one Source: the desired state the agent accepted (from the broker, or from disk when the
broker is away). So drift repair, restarts and health checks go on without a link.

- A payload is accepted only when its revision is newer than the one held; it is
  validated whole first, and a bad one is reported on the status topic, never applied.
- The accepted state is written to the state folder before anything else happens, so a
  restart without broker converges from disk.
- An app's update waits while its update lock is held or outside the maintenance
  windows; the controller keeps the running version converged meanwhile.
- Status (per app, from `controller.status_listeners`) goes out retained on every change
  and as a heartbeat; what happened while offline is reported when the link returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dockyard.controller.reconciler import Controller, Settings
from dockyard.controller.source import Emit, SourceUpdate
from dockyard.controller.status import AppStatus
from dockyard.engine.client import Engine
from dockyard.retry import Backoff

from . import topics
from .broker import BrokerConfig, MqttError, Will
from .gates import Lock, Window, lock_folder, next_opening, read_lock, window_open
from .payload import STATUS_KIND, AppVersion, DesiredState, PayloadError, decode, now, peek_revision
from .store import AgentStore

log = logging.getLogger("dockyard.agent")

DEFAULT_STATE_DIR = Path("/var/lib/dockyard/agent")
MAX_EVENTS = 100


@dataclass
class AgentOptions:
    agent_id: str
    broker: BrokerConfig
    state_dir: Path = DEFAULT_STATE_DIR
    labels: Mapping[str, str] = field(default_factory=dict)
    heartbeat: float = 30.0
    lock_dir: Path | None = None  # default: STATE_DIR/locks
    lock_ttl: float = 3600.0
    windows: tuple[Window, ...] = ()
    gate_interval: float = 1.0
    # The longest wait between reconnect attempts: with full jitter, N devices retry at
    # about N / (reconnect_max / 2) connects a second at worst (see dockyard/retry.py).
    reconnect_max: float = 30.0

    @property
    def locks(self) -> Path:
        return self.lock_dir or self.state_dir / "locks"


class AgentSource:
    """The Source the agent's controller reads: what the agent hands over, in order."""

    def __init__(self, agent_id: str) -> None:
        self._id = f"mqtt:{agent_id}"
        self.updates: asyncio.Queue[SourceUpdate] = asyncio.Queue()

    @property
    def id(self) -> str:
        return self._id

    async def run(self, emit: Emit) -> None:
        while True:
            await emit(await self.updates.get())


class LocalController(Protocol):
    """What the agent needs of its device's controller (the real one: `Controller`)."""

    status_listeners: list[Callable[[str, AppStatus | None], None]]

    async def run(self) -> None: ...

    async def stop(self, grace: float = ...) -> None: ...


class Agent:
    def __init__(
        self,
        options: AgentOptions,
        engine: Engine | None,
        settings: Settings | None = None,
        local: Callable[[AgentSource], LocalController] | None = None,
    ) -> None:
        """`local` replaces the device's Controller and engine (the fleet-scale bench
        does, with a recording fake); by default a Controller on `engine`."""
        topics.check_agent_id(options.agent_id)
        self.options = options
        self.id = options.agent_id
        self.store = AgentStore(options.state_dir)
        self.source = AgentSource(self.id)
        self.controller: LocalController
        if local is not None:
            self.controller = local(self.source)
        else:
            if engine is None:
                raise ValueError("an agent needs its device's engine")
            settings = settings or Settings()
            settings.state_dir = options.state_dir / "controller"
            self.controller = Controller(engine, [self.source], settings)
        self.controller.status_listeners.append(self._on_status)
        self.desired: DesiredState | None = None
        self.applied: dict[str, AppVersion] = {}
        self.seq = 0  # how many snapshots were handed to the controller
        self.first_seq: dict[str, int] = {}  # app -> the snapshot its current version came in
        self.pending: dict[str, str] = {}
        self.app_status: dict[str, dict[str, Any]] = {}
        self.rejected: dict[str, Any] | None = None
        self.ignored: dict[str, Any] | None = None
        self.connected = False
        self.broker_error = ""
        self.started_at = now()
        self.offline_since: str | None = now()
        self.events: list[str] = []  # what happened while offline, reported on return
        self.last_offline: dict[str, Any] | None = None
        self._dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._topic_prefix = options.broker.prefix
        self._client: Any = None

    # ---- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Until stop(): converge from disk at once, then follow the broker when it is there."""
        self.store.ensure()
        self._load_from_disk()
        tasks = [
            asyncio.create_task(self.controller.run()),
            asyncio.create_task(self._mqtt_loop()),
            asyncio.create_task(self._gate_loop()),
        ]
        try:
            await self._stopping.wait()
        finally:
            client = self._client
            if client is not None:  # a clean goodbye: the will covers only the unclean ones
                with contextlib.suppress(MqttError, asyncio.TimeoutError):
                    topic = topics.online(self.id, self._topic_prefix)
                    await client.publish(topic, topics.OFFLINE, qos=1, retain=True, timeout=2)
            await self.controller.stop(grace=10)
            for task in tasks[1:]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        self._stopping.set()

    def _load_from_disk(self) -> None:
        base = self.options.state_dir
        self.desired = self.store.load_desired(self.id, base)
        loaded = self.store.load_applied(base)
        if loaded is not None:
            self.applied, _ = loaded
            log.info(
                "agent %s: %d app(s) from disk (revision %s)",
                self.id,
                len(self.applied),
                self.desired.revision if self.desired else "-",
            )
            self._hand_over(set(self.applied))
        self._advance()

    # ---- desired state in ----------------------------------------------------------------

    def on_desired(self, data: bytes) -> None:
        """A payload from the desired topic (retained ones arrive on every connect)."""
        if not data:
            log.warning("agent %s: the retained desired state was cleared; keeping mine", self.id)
            return
        held = self.desired.revision if self.desired else 0
        revision = peek_revision(data)
        if revision is not None and revision <= held:
            if revision < held:
                log.warning(
                    "agent %s: ignoring revision %d, older than the one held (%d)",
                    self.id,
                    revision,
                    held,
                )
                self.ignored = {"revision": revision, "held": held, "at": now()}
                self._changed()
            return
        try:
            state = decode(data, self.id, self.options.state_dir)
        except PayloadError as exc:
            log.error(
                "agent %s: revision %s rejected, keeping revision %s: %s",
                self.id,
                exc.revision if exc.revision is not None else "?",
                held or "-",
                exc.render(),
            )
            self.rejected = {"revision": exc.revision, "error": exc.render(), "at": now()}
            self._note(f"revision {exc.revision} rejected: {exc.render()}")
            self._changed()
            return
        self.store.save_desired(data)
        self.desired = state
        self.rejected = None
        log.info(
            "agent %s: accepted revision %d (%d app(s))", self.id, state.revision, len(state.apps)
        )
        self._note(f"revision {state.revision} accepted")
        self._advance()

    def _advance(self) -> None:
        """Hand over to the controller each app whose new version may go now."""
        if self.desired is None:
            return
        want = self.desired.apps
        applied = dict(self.applied)
        changed: set[str] = set()
        pending: dict[str, str] = {}
        for name in sorted(set(want) | set(applied)):
            target, current = want.get(name), applied.get(name)
            if target is not None:
                lock_folder(self.options.locks, name).mkdir(parents=True, exist_ok=True)
            if target is not None and current is not None and target.digest == current.digest:
                applied[name] = target  # same content, newer revision number
                continue
            reason = self._gate(name)
            if reason is not None:
                pending[name] = reason
                continue
            if target is None:
                applied.pop(name, None)
            else:
                applied[name] = target
            changed.add(name)
        if pending != self.pending:
            for name, reason in pending.items():
                if self.pending.get(name) != reason:
                    log.info("agent %s: update of app %s waits: %s", self.id, name, reason)
            self.pending = pending
            self._changed()
        revisions_moved = {n: v.revision for n, v in applied.items()} != {
            n: v.revision for n, v in self.applied.items()
        }
        self.applied = applied
        if changed or self.seq == 0:
            self._hand_over(changed)
        elif revisions_moved:
            self.store.save_applied(self.applied, self.seq)
            self._changed()

    def _gate(self, app: str) -> str | None:
        lock = read_lock(self.options.locks, app, self.options.lock_ttl)
        if lock is not None:
            return lock.describe()
        if not window_open(self.options.windows):
            opens = next_opening(self.options.windows)
            when = opens.isoformat(timespec="minutes") if opens else "never"
            return f"outside the maintenance windows (next opens {when})"
        return None

    def _hand_over(self, changed: set[str]) -> None:
        self.seq += 1
        for name in changed:
            self.first_seq[name] = self.seq
        for name in self.applied:
            self.first_seq.setdefault(name, self.seq)
        self.store.save_applied(self.applied, self.seq)
        revision = (
            self.desired.revision
            if self.desired
            else max((v.revision for v in self.applied.values()), default=0)
        )
        update = SourceUpdate(
            source=self.source.id,
            revision=f"{revision}.{self.seq}",
            apps=tuple(v.loaded for _, v in sorted(self.applied.items())),
        )
        self.source.updates.put_nowait(update)
        if changed:
            self._note("applying " + ", ".join(f"{n}@{self._rev(n)}" for n in sorted(changed)))
        self._changed()

    def _rev(self, name: str) -> str:
        v = self.applied.get(name)
        return str(v.revision) if v else "removed"

    async def _gate_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.gate_interval)
            if self.pending:
                self._advance()

    # ---- status out ----------------------------------------------------------------------

    def _on_status(self, name: str, status: AppStatus | None) -> None:
        before = self.app_status.get(name)
        if status is None:
            self.app_status.pop(name, None)
            self._note(f"app {name} removed")
        else:
            now_json = status.to_json()
            self.app_status[name] = now_json
            self._note_change(name, before, now_json)
        self._changed()

    def _note_change(self, name: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        if self.connected:
            return
        old = _ready(before) if before else None
        new = _ready(after)
        if old != new:
            self._note(f"app {name}: Ready={new[0]} {new[1]}".rstrip())
        for key, what in (("driftRepairs", "drift repair(s)"), ("restarts", "restart(s)")):
            grew = after.get(key, 0) - (before or {}).get(key, 0)
            if grew > 0:
                self._note(f"app {name}: {grew} {what}")

    def _note(self, event: str) -> None:
        if self.connected:
            return
        self.events.append(f"{now()} {event}")
        del self.events[:-MAX_EVENTS]

    def _changed(self) -> None:
        self._dirty.set()

    def app_converged(self, name: str) -> bool:
        st = self.app_status.get(name)
        if st is None or name not in self.applied:
            return False
        return converged_since(st, self.first_seq.get(name, self.seq))

    @property
    def converged(self) -> bool:
        if self.desired is None or self.pending:
            return False
        if set(self.applied) != set(self.desired.apps):
            return False
        if set(self.app_status) - set(self.applied):
            return False  # still being removed
        return all(self.app_converged(n) for n in self.applied)

    def report(self) -> dict[str, Any]:
        apps: dict[str, Any] = {}
        for name, version in sorted(self.applied.items()):
            st = self.app_status.get(name, {})
            apps[name] = {
                "revision": version.revision,
                "converged": self.app_converged(name),
                **{k: v for k, v in st.items() if k not in ("revision", "observedGeneration")},
            }
        locks: dict[str, Any] = {}
        names = set(self.applied) | set(self.desired.apps if self.desired else {})
        for name in sorted(names):
            lock: Lock | None = read_lock(self.options.locks, name, self.options.lock_ttl)
            if lock is not None:
                locks[name] = lock.to_json()
        return {
            "apiVersion": "dockyard.dev/v1alpha1",
            "kind": STATUS_KIND,
            "agent": self.id,
            "labels": dict(self.options.labels),
            "state": "online",
            "revision": self.desired.revision if self.desired else 0,
            "converged": self.converged,
            "at": now(),
            "startedAt": self.started_at,
            "apps": apps,
            "pending": dict(self.pending),
            "locks": locks,
            "maintenanceWindows": [w.text for w in self.options.windows],
            "rejected": self.rejected,
            "ignored": self.ignored,
            "lastOffline": self.last_offline,
        }

    # ---- the link --------------------------------------------------------------------------

    async def _mqtt_loop(self) -> None:
        broker = self.options.broker
        prefix = self._topic_prefix
        will = Will(topics.online(self.id, prefix), topics.OFFLINE, qos=1, retain=True)
        # Jittered: a broker restart drops every device at once; they must not all
        # come back at once (see dockyard/retry.py).
        backoff = reconnect_backoff(self.options.reconnect_max)
        while True:
            try:
                # The client id is the agent id: ACL patterns may use %c as well as %u.
                async with broker.client(self.id, will=will) as client:
                    backoff.reset()
                    await client.publish(
                        topics.online(self.id, prefix), topics.ONLINE, qos=1, retain=True
                    )
                    granted = await client.subscribe(topics.desired(self.id, prefix), qos=1)
                    if any(_code(g) >= 0x80 for g in granted):
                        self.broker_error = (
                            f"the broker refused the subscription to "
                            f"{topics.desired(self.id, prefix)}: check the ACL "
                            "(the username must be the agent id)"
                        )
                        log.error("agent %s: %s", self.id, self.broker_error)
                    self._client = client
                    self._link_up()
                    publisher = asyncio.create_task(self._status_loop(client))
                    try:
                        async for message in client.messages:
                            payload = message.payload
                            if isinstance(payload, str):
                                payload = payload.encode()
                            if isinstance(payload, bytes | bytearray):
                                self.on_desired(bytes(payload))
                    finally:
                        publisher.cancel()
                        with contextlib.suppress(asyncio.CancelledError, MqttError):
                            await publisher
            except MqttError as exc:
                if self.connected:
                    log.warning("agent %s: lost the broker (%s); working offline", self.id, exc)
                elif str(exc) != self.broker_error:  # once per new reason, not every retry
                    log.warning(
                        "agent %s: cannot reach the broker %s: %s (working from disk; retrying)",
                        self.id,
                        broker.display,
                        exc,
                    )
                self.broker_error = str(exc)
            self._client = None
            self._link_down()
            await asyncio.sleep(backoff.next())

    def _link_up(self) -> None:
        if self.offline_since is not None and (self.events or self.seq):
            self.last_offline = {
                "since": self.offline_since,
                "until": now(),
                "events": list(self.events),
            }
        self.events.clear()
        self.offline_since = None
        self.connected = True
        self.broker_error = ""
        log.info("agent %s: connected to %s", self.id, self.options.broker.display)
        self._changed()

    def _link_down(self) -> None:
        if self.connected:
            self.offline_since = now()
        self.connected = False

    async def _status_loop(self, client: Any) -> None:
        topic = topics.status(self.id, self._topic_prefix)
        # A publish can time out on a busy broker while the link stays up: try again
        # (jittered) rather than fall silent until the next reconnect. A dead link ends
        # the message loop, which cancels this task.
        retry = reconnect_backoff(self.options.reconnect_max)
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the event's
            # result when the task is cancelled in the tick the event is set (a change as
            # the agent stops), losing the cancellation; this loop then never ended.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.heartbeat):
                    await self._dirty.wait()
                await asyncio.sleep(0.1)  # gather a burst of changes into one message
            self._dirty.clear()
            try:
                body = json.dumps(self.report(), default=str).encode()
                await client.publish(topic, body, qos=1, retain=True)
                retry.reset()
            except MqttError as exc:
                log.warning("agent %s: status not sent (retrying): %s", self.id, exc)
                self._dirty.set()
                await asyncio.sleep(retry.next())

    async def wait_converged(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.converged:
                return True
            await asyncio.sleep(0.1)
        return False


def reconnect_backoff(cap: float) -> Backoff:
    """The first retry within 1 s (a whole fleet that lost its broker then returns over a
    second, not in one burst), doubling up to `cap`."""
    base = min(1.0, cap)
    return Backoff(base, max(base, cap))


def converged_since(status: dict[str, Any], seq: int) -> bool:
    """Ready, not Degraded, and observed at desired sequence `seq` or later."""
    conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
    seen = str(status.get("observedGeneration") or "")
    try:
        observed = int(seen.rsplit(".", 1)[-1])
    except ValueError:
        return False
    return conds.get("Ready") == "True" and conds.get("Degraded") != "True" and observed >= seq


def _ready(status: dict[str, Any]) -> tuple[str, str]:
    for c in status.get("conditions", []):
        if c["type"] == "Ready":
            return c["status"], c.get("reason", "")
    return "Unknown", ""


def _code(granted: object) -> int:
    """A SUBACK entry as a number (aiomqtt gives ints for MQTT 3.1.1, ReasonCodes for 5)."""
    value = getattr(granted, "value", granted)
    return value if isinstance(value, int) else 0
