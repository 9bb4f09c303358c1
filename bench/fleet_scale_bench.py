"""Edge fleets at fleet scale: N devices on one Mosquitto, edit → converged, reconnect storm.

    .venv/bin/python bench/fleet_scale_bench.py --sizes 100 1000 [10000] [--workers 4]

Everything MQTT-side is real: a Mosquitto on 127.0.0.1 (its config written here: no
connection limit, $SYS every second, no persistence), the real `AgentPublisher` fed by a
real `FolderSource` on a folder of manifests (N DockerHosts with `spec.agent`, one global
app on every device, one app per site of N/10 devices), and N real `Agent`s (real
aiomqtt clients, retained desired state, last will, status reports, the state folder on
tmpfs) run as asyncio tasks in --workers processes.

The one stand-in: each device's Docker engine. `RecordingDeviceEngine` takes the place
of the device's engine and of the local reconcile on it (the `Controller` an agent runs,
which `bench/apply_bench.py` measures against a real engine): it records every set of
apps the agent hands over and reports each app Ready at that generation at once. So the
times here are the MQTT fan-out and the agents' own protocol work, not container starts.

For each N:
1. start: the publisher and N agents, until all report converged at the published revision;
2. edit all: the global app's env changes (every device gets a new revision), until all
   report converged at it; publisher CPU and RSS, broker RSS, bytes per device;
3. edit one site: one site's app changes (N/10 devices), the same measures; the other
   devices must get nothing;
4. reconnect storm: the broker restarts (every device loses its link at once), until all
   N are online again; the connects a second the broker saw (peak of one second).

Bounded: every wait has a timeout; everything it starts is stopped and its folder removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WAIT = 600.0  # the longest any phase may take

# ---- the device side ----------------------------------------------------------------------


class RecordingDeviceEngine:
    """THE FAKE: stands in for a device's Docker engine and the reconcile on it.

    It records every set of apps the agent hands over (revision, app names) and reports
    each app Ready/not Degraded at that generation, as the device's Controller would once
    its containers run. No container, no Docker API call."""

    def __init__(self, source: Any) -> None:
        from dockyard.controller.status import AppStatus

        self.source = source
        self.status_listeners: list[Any] = []
        self.recorded: list[tuple[str, tuple[str, ...]]] = []
        self._status = AppStatus
        self._stop = asyncio.Event()

    async def run(self) -> None:
        from dockyard.controller.status import Condition

        running: set[str] = set()
        while True:
            update = await self.source.updates.get()
            names = tuple(a.name for a in update.apps or ())
            self.recorded.append((update.revision, names))
            del self.recorded[:-10]
            for name in running - set(names):
                for listener in self.status_listeners:
                    listener(name, None)
            for loaded in update.apps or ():
                st = self._status(
                    name=loaded.name,
                    source=update.source,
                    revision=update.revision,
                    observedGeneration=update.revision,
                    conditions=[
                        Condition("Ready", "True", "Converged"),
                        Condition("Progressing", "False", "Converged"),
                        Condition("Degraded", "False"),
                    ],
                )
                for listener in self.status_listeners:
                    listener(loaded.name, st)
            running = set(names)

    async def stop(self, grace: float = 0) -> None:
        self._stop.set()


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(CPU seconds so far, RSS bytes, peak RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, rss, peak


def device_id(i: int) -> str:
    return f"dev-{i:05d}"


async def worker_main(
    first: int,
    count: int,
    port: int,
    state: Path,
    reconnect_max: float,
    ramp: float,
    keepalive: int,
) -> None:
    """One worker process: `count` agents as asyncio tasks; commands on stdin."""
    import dataclasses

    from dockyard.sources.mqtt.agent import Agent, AgentOptions
    from dockyard.sources.mqtt.broker import broker_config

    # The keepalive may be set longer than the default 30 s: thousands of devices share
    # a few cores here, and a starved event loop must not read as a dead link.
    config = dataclasses.replace(broker_config(f"mqtt://127.0.0.1:{port}"), keepalive=keepalive)
    agents = []
    for i in range(first, first + count):
        opts = AgentOptions(
            device_id(i),
            config,
            state / device_id(i),
            heartbeat=30.0,
            gate_interval=5.0,
            reconnect_max=reconnect_max,
        )
        agents.append(Agent(opts, None, local=RecordingDeviceEngine))
    tasks = []
    for a in agents:  # devices come up at --ramp a second (all of them, all workers)
        tasks.append(asyncio.create_task(a.run()))
        await asyncio.sleep(1 / ramp)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": count}), flush=True)
    while line := (await reader.readline()).decode().strip():
        if line == "sample":
            cpu, rss, peak = proc_sample(os.getpid())
            up = sum(1 for a in agents if a.connected)
            print(json.dumps({"cpu": cpu, "rss": rss, "peak": peak, "up": up}), flush=True)
        elif line == "stop":
            break
    await asyncio.gather(*(a.stop() for a in agents))
    await asyncio.wait(tasks, timeout=10)
    print(json.dumps({"stopped": True}), flush=True)
    os._exit(0)  # its state folders are the parent's temporary folder, removed there


# ---- the broker -----------------------------------------------------------------------------


class Mosquitto:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None
        (folder / "data").mkdir(parents=True, exist_ok=True)
        # No connection limit, $SYS every second (the byte and connect counters), retained
        # messages kept across the storm's restart (persistence written at shutdown).
        (folder / "mosquitto.conf").write_text(
            f"""\
per_listener_settings false
allow_anonymous true
max_connections -1
max_inflight_messages 100
max_queued_messages 10000
sys_interval 1
persistence true
persistence_location {folder / "data"}/
autosave_interval 3600
log_dest file {folder / "mosquitto.log"}
log_type error
log_type warning
listener {self.port} 127.0.0.1
"""
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def rss(self) -> int:
        assert self.process is not None
        return proc_sample(self.process.pid)[1]


# ---- the controller side ------------------------------------------------------------------


def write_fleet(folder: Path, n: int, edit: int, site_edit: int) -> None:
    """N DockerHosts (site s0..s9), a global app on all, one app per site."""
    put_fleet(folder, fleet_text(n, edit, site_edit))


def put_fleet(folder: Path, text: str) -> None:
    """The manifest replaced at once (the edit's instant)."""
    tmp = folder / ".fleet.yaml.tmp"
    tmp.write_text(text)
    tmp.replace(folder / "fleet.yaml")


def fleet_text(n: int, edit: int, site_edit: int) -> str:
    """The manifest's text: made before the edit's clock starts (dumping 10,000 documents
    in the controller's process would block its event loop for seconds)."""
    import yaml

    sites = max(1, min(10, n // 10))
    docs: list[dict[str, Any]] = []
    for i in range(n):
        docs.append(
            {
                "apiVersion": "dockyard.dev/v1alpha1",
                "kind": "DockerHost",
                "metadata": {
                    "name": device_id(i),
                    "labels": {"role": "edge", "site": f"s{i % sites}"},
                },
                "spec": {"agent": {"id": device_id(i)}},
            }
        )

    def app(name: str, value: str, selector: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "dockyard.dev/v1alpha1",
            "kind": "App",
            "metadata": {"name": name},
            "spec": {
                "placement": {"mode": "global", "hostSelector": {"matchLabels": selector}},
                "services": [
                    {
                        "name": "web",
                        "image": "dockyard.local/busybox:latest",
                        "command": ["sleep", "3600"],
                        "env": [{"name": "V", "value": value}],
                        "networkMode": "none",
                    }
                ],
            },
        }

    docs.append(app("fleet", f"edit-{edit}", {"role": "edge"}))
    for s in range(sites):
        docs.append(app(f"site-s{s}", f"edit-{site_edit if s == 0 else 0}", {"site": f"s{s}"}))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(docs, Dumper=dumper, sort_keys=False)


class WireCounter:
    """A separate MQTT client counting payload bytes by topic kind, and the broker's $SYS."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bytes: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()
        self.status_bytes: Counter[str] = Counter()  # per agent: heartbeats apart
        self.sys: dict[str, float] = {}
        self.online_at: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        from dockyard.retry import Backoff
        from dockyard.sources.mqtt import topics
        from dockyard.sources.mqtt.broker import MqttError, broker_config

        config = broker_config(f"mqtt://127.0.0.1:{self.port}")
        backoff = Backoff(0.2, 1.0)
        while True:
            try:
                async with config.client(f"bench-counter-{os.getpid()}") as client:
                    backoff.reset()
                    for kind in ("desired", "status", "online"):
                        await client.subscribe(topics.all_of(kind), qos=0)
                    await client.subscribe("$SYS/broker/#", qos=0)
                    async for message in client.messages:
                        topic = str(message.topic)
                        raw = message.payload
                        size = len(raw) if isinstance(raw, bytes | bytearray | str) else 0
                        if topic.startswith("$SYS/"):
                            with contextlib.suppress(ValueError, TypeError):
                                text = raw.decode() if isinstance(raw, bytes) else str(raw)
                                self.sys[topic[len("$SYS/broker/") :]] = float(text.split()[0])
                            continue
                        if message.retain:
                            continue  # what was there before we subscribed
                        kind = topic.rsplit("/", 1)[-1]
                        self.bytes[kind] += size
                        if kind == "status":
                            self.status_bytes[topic.rsplit("/", 2)[-2]] += size
                        self.messages[kind] += 1
                        if kind == "online" and raw == b"online":
                            self.online_at.append(time.monotonic())
            except MqttError:
                await asyncio.sleep(backoff.next())

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        return Counter(self.bytes), Counter(self.messages)


async def counter_main(port: int) -> None:
    """The counting subscriber's own process: it receives every desired and status
    message, as much as the publisher does, and must not share the controller's CPU
    (nor be starved by it: in the controller's process at 10,000 it lost a third)."""
    counter = WireCounter(port)
    task = asyncio.create_task(counter.run())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while (await reader.readline()).decode().strip() == "snapshot":
        state = {
            "bytes": counter.bytes,
            "messages": counter.messages,
            "status_bytes": counter.status_bytes,
            "sys": counter.sys,
        }
        print(json.dumps(state), flush=True)
    task.cancel()
    os._exit(0)


class CounterProcess:
    """WireCounter in a process of its own, asked for its counts over a pipe."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--counter", "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline():
            raise RuntimeError("the counting subscriber did not start")
        self.bytes: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()
        self.status_bytes: Counter[str] = Counter()
        self.sys: dict[str, float] = {}

    def refresh(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("snapshot\n")
        self.proc.stdin.flush()
        state = json.loads(self.proc.stdout.readline())
        self.bytes = Counter(state["bytes"])
        self.messages = Counter(state["messages"])
        self.status_bytes = Counter(state["status_bytes"])
        self.sys = state["sys"]

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        self.refresh()
        return Counter(self.bytes), Counter(self.messages)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def converged_count(pub: Any, agents: list[str], newer: dict[str, int] | None) -> int:
    """How many agents report converged at the revision published for them."""
    done = 0
    reports = pub.reports
    for agent in agents:
        want = pub.published.get(agent, {}).get("revision")
        if not want or reports.revision(agent) != want or not reports.converged(agent):
            continue
        if newer is not None and want <= newer.get(agent, 0):
            continue
        done += 1
    return done


def moved(pub: Any, agents: list[str], before: dict[str, int]) -> list[str]:
    """The agents published a new revision since `before`."""
    return [a for a in agents if pub.published.get(a, {}).get("revision") != before[a]]


def edited(pub: Any, agents: list[str], before: dict[str, int], expect: int) -> bool:
    """All `expect` agents that got a new revision report converged at it."""
    changed = moved(pub, agents, before)
    return len(changed) >= expect and converged_count(pub, changed, before) == len(changed)


def fleet_state(pub: Any, agents: list[str]) -> str:
    """Where the agents are, as the publisher sees them (for the progress lines)."""
    reports = pub.reports
    counts: Counter[str] = Counter()
    for agent in agents:
        want = pub.published.get(agent, {}).get("revision")
        if want is None:
            counts["unpublished"] += 1
        elif reports.revision(agent) is None:
            counts["no report"] += 1
        elif reports.revision(agent) != want:
            counts["behind"] += 1
        elif not reports.converged(agent):
            counts["converging"] += 1
        else:
            counts["converged"] += 1
    online = sum(1 for a in agents if pub.online.get(a) == "online")
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f"; {online} online"


async def wait_until(
    what: str, predicate: Any, timeout: float = WAIT, describe: Any = None, every: float = 0.05
) -> float:
    """Seconds until `predicate()`, asked every `every` s (it shares the controller's
    event loop: at 10,000 devices one look over all of them costs milliseconds)."""
    start = time.monotonic()
    last = 0.0
    while not predicate():
        now = time.monotonic()
        detail = f": {describe()}" if describe is not None else ""
        if now - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s{detail}")
        if now - last > 10:
            print(f"  … {what} ({now - start:.0f} s){detail}", file=sys.stderr, flush=True)
            last = now
        await asyncio.sleep(every)
    return time.monotonic() - start


class Workers:
    def __init__(
        self,
        n: int,
        count: int,
        port: int,
        state: Path,
        reconnect_max: float,
        ramp: float,
        keepalive: int,
    ) -> None:
        per = -(-n // count)
        self.procs: list[subprocess.Popen[str]] = []
        for w in range(count):
            first, size = w * per, min(per, n - w * per)
            if size <= 0:
                break
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable, __file__, "--worker", str(first), str(size),
                        "--port", str(port), "--state", str(state),
                        "--reconnect-max", str(reconnect_max),
                        "--ramp", str(ramp), "--workers", str(count),
                        "--keepalive", str(keepalive),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )  # fmt: skip
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("a worker did not start")

    def ask(self, command: str) -> list[dict[str, Any]]:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(command + "\n")
            p.stdin.flush()
        out = []
        for p in self.procs:
            assert p.stdout is not None
            out.append(json.loads(p.stdout.readline()))
        return out

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(OSError, ValueError):
                self.ask_one(p, "stop")
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    @staticmethod
    def ask_one(p: subprocess.Popen[str], command: str) -> None:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(command + "\n")
        p.stdin.flush()
        p.stdout.readline()


async def one_size(
    n: int, work: Path, workers: int, reconnect_max: float, ramp: float, keepalive: int
) -> dict[str, Any]:
    from dockyard.sources.folder import FolderSource
    from dockyard.sources.mqtt.publisher import AgentPublisher

    broker = Mosquitto(work / "broker")
    broker.start()
    src = work / "src"
    src.mkdir()
    write_fleet(src, n, 1, 1)
    agents = [device_id(i) for i in range(n)]
    res: dict[str, Any] = {"n": n}
    from dockyard.sources.mqtt.broker import broker_config

    pid = os.getpid()
    cpu0, rss0, _ = proc_sample(pid)
    res["controller_rss_before_mb"] = rss0 / 2**20
    publisher = AgentPublisher(broker_config(f"mqtt://127.0.0.1:{broker.port}"), work / "ctl")
    source = publisher.wrap(FolderSource(src, interval=0.2))

    async def emit(update: Any) -> None:
        pass  # the controller's share: nothing (every replica runs on an agent)

    counter = CounterProcess(broker.port)
    tasks = [
        asyncio.create_task(publisher.run()),
        asyncio.create_task(source.run(emit)),
    ]
    pool: Workers | None = None
    poll = max(0.05, n / 40_000)  # 0.25 s at 10,000
    try:
        started = time.monotonic()
        pool = await asyncio.to_thread(
            Workers, n, workers, broker.port, work / "devices", reconnect_max, ramp, keepalive
        )
        await wait_until(
            "start",
            lambda: converged_count(publisher, agents, None) == n,
            describe=lambda: fleet_state(publisher, agents),
            every=poll,
        )
        res["start_s"] = time.monotonic() - started

        for phase, (edit, site_edit) in (("edit_all", (2, 1)), ("edit_site", (2, 2))):
            before = {a: int(publisher.published.get(a, {}).get("revision", 0)) for a in agents}
            await asyncio.sleep(1.5)  # a fresh $SYS sample
            bytes0, msgs0 = counter.snapshot()
            status0 = Counter(counter.status_bytes)
            sys0 = dict(counter.sys)  # refreshed by snapshot()
            text = await asyncio.to_thread(fleet_text, n, edit, site_edit)
            cpu0, _, _ = proc_sample(pid)
            t0 = time.monotonic()
            put_fleet(src, text)

            sites = max(1, min(10, n // 10))
            expect = n if phase == "edit_all" else len(range(0, n, sites))
            sent: list[float] = []  # when the last of them was published

            def done(b: dict[str, int] = before, e: int = expect, at: list[float] = sent) -> bool:
                if not at and len(moved(publisher, agents, b)) >= e:
                    at.append(time.monotonic())
                return edited(publisher, agents, b, e)

            await wait_until(
                phase, done, describe=lambda: fleet_state(publisher, agents), every=poll
            )
            res[f"{phase}_s"] = time.monotonic() - t0  # from the manifest's write
            res[f"{phase}_published_s"] = sent[0] - t0
            cpu1, rss1, peak1 = proc_sample(pid)
            await asyncio.sleep(2.5)  # the $SYS counters catch up
            bytes1, msgs1 = counter.snapshot()
            changed_ids = moved(publisher, agents, before)
            changed = len(changed_ids)
            res[f"{phase}_devices"] = changed
            res[f"{phase}_publisher_cpu_s"] = cpu1 - cpu0
            res[f"{phase}_desired_bytes_per_device"] = (
                bytes1["desired"] - bytes0["desired"]
            ) / max(1, changed)
            # Only the devices that changed (the others' heartbeats are not this change's).
            res[f"{phase}_status_bytes_per_device"] = sum(
                counter.status_bytes[a] - status0[a] for a in changed_ids
            ) / max(1, changed)
            res[f"{phase}_desired_messages"] = msgs1["desired"] - msgs0["desired"]
            sent = counter.sys.get("bytes/sent", 0) - sys0.get("bytes/sent", 0)
            received = counter.sys.get("bytes/received", 0) - sys0.get("bytes/received", 0)
            res[f"{phase}_broker_bytes_per_device"] = (sent + received) / max(1, changed)
            res["controller_rss_mb"] = rss1 / 2**20
            res["controller_peak_rss_mb"] = peak1 / 2**20
        res["broker_rss_mb"] = broker.rss() / 2**20
        samples = pool.ask("sample")
        res["worker_rss_mb_per_device"] = sum(s["rss"] for s in samples) / n / 2**20
        res["worker_rss_mb_total"] = sum(s["rss"] for s in samples) / 2**20
        res["status_table_mb"] = _status_memory(publisher) / 2**20

        # The storm: the broker restarts, every device drops at once and comes back.
        broker.stop()
        await wait_until("all down", lambda: sum(s["up"] for s in pool.ask("sample")) == 0, 60)
        broker.start()
        t0 = time.monotonic()
        ups: list[tuple[float, int]] = []

        def all_up() -> bool:
            up = sum(s["up"] for s in pool.ask("sample"))
            ups.append((time.monotonic() - t0, up))
            return up == n

        res["storm_s"] = await wait_until("storm", all_up)
        # Connects in each second (from the workers' link counts, sampled every 50 ms).
        per_second: Counter[int] = Counter()
        last = 0
        for at, up in ups:
            per_second[int(at)] += max(0, up - last)
            last = up
        res["storm_peak_connects_per_s"] = max(per_second.values())
        res["storm_mean_connects_per_s"] = n / max(res["storm_s"], 1e-3)
        res["controller_cpu_total_s"] = proc_sample(pid)[0] - cpu0
    finally:
        if pool is not None:
            await asyncio.to_thread(pool.stop)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        counter.stop()
        broker.stop()
    return res


def idle_agent(work: Path, seconds: float) -> dict[str, float]:
    """One real `dockyard agent` process (its real Controller, on the local engine, no
    apps: it creates nothing), idle for `seconds`: CPU and RSS, from /proc."""
    broker = Mosquitto(work / "idle-broker")
    broker.start()
    exe = Path(sys.executable).parent / "dockyard"
    agent = subprocess.Popen(
        [
            str(exe), "agent", "--broker", f"mqtt://127.0.0.1:{broker.port}",
            "--id", "idle-device", "--state-dir", str(work / "idle-agent"),
            "--log-level", "warning",
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(5)  # connected, first relist done
        cpu0, _, _ = proc_sample(agent.pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        cpu1, rss, peak = proc_sample(agent.pid)
        return {
            "idle_agent_cpu_percent": 100 * (cpu1 - cpu0) / (time.monotonic() - t0),
            "idle_agent_rss_mb": rss / 2**20,
            "idle_agent_peak_rss_mb": peak / 2**20,
        }
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(5)
        broker.stop()


def _status_memory(publisher: Any) -> int:
    """Bytes held for the agents' reports (deep size of what the publisher keeps)."""
    seen: set[int] = set()

    def size(obj: Any) -> int:
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        total = sys.getsizeof(obj)
        if isinstance(obj, dict):
            total += sum(size(k) + size(v) for k, v in obj.items())
        elif isinstance(obj, list | tuple | set):
            total += sum(size(v) for v in obj)
        elif hasattr(obj, "__dict__"):
            total += size(vars(obj))
        elif hasattr(obj, "__slots__"):
            total += sum(size(getattr(obj, s)) for s in obj.__slots__ if hasattr(obj, s))
        return total

    reports = publisher.reports
    held = size(reports._raw) + size(reports._brief) if hasattr(reports, "_raw") else size(reports)
    return held + size(publisher.online)


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--reconnect-max", type=float, default=30.0)
    parser.add_argument("--keepalive", type=int, default=30, help="the devices' MQTT keepalive")
    parser.add_argument(
        "--ramp", type=float, default=500.0, help="devices started a second, at the start"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--idle", type=float, default=20.0, help="seconds of the idle agent (0: skip it)"
    )
    parser.add_argument("--worker", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--counter", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_fd_limit()  # inherited by mosquitto and the workers
    if args.counter:
        asyncio.run(counter_main(args.port))
        return
    if args.worker:
        import logging

        logging.basicConfig(level=logging.ERROR)  # 10,000 agents' reconnect warnings
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
        ramp = args.ramp / args.workers
        asyncio.run(
            worker_main(
                *args.worker, args.port, args.state, args.reconnect_max, ramp, args.keepalive
            )
        )
        return
    if shutil.which("mosquitto") is None:
        raise SystemExit("mosquitto is not installed: run scripts/ensure-deps.sh")
    import logging

    logging.basicConfig(level=logging.ERROR)
    results = []
    for n in args.sizes:
        # tmpfs: the agents' state folders (fsync'd writes) must not measure the disk.
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
        with tempfile.TemporaryDirectory(prefix="fleet-bench-", dir=base) as tmp:
            print(f"N={n} …", file=sys.stderr, flush=True)
            res = asyncio.run(
                one_size(n, Path(tmp), args.workers, args.reconnect_max, args.ramp, args.keepalive)
            )
            print(json.dumps(res), file=sys.stderr, flush=True)
            results.append(res)
    if args.idle > 0:
        with tempfile.TemporaryDirectory(prefix="fleet-bench-idle-") as tmp:
            results[-1].update(idle_agent(Path(tmp), args.idle))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    keys = [k for k in results[0] if k != "n"]
    print("| measure | " + " | ".join(f"N={r['n']}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys:
        cells = []
        for r in results:
            v = r.get(key)
            cells.append("-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)))
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
