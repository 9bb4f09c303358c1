"""The controller (`dockyard run`) under drift, at idle with 200 containers, and on spec edits.

Run by hand (not part of pytest); see bench/README.md. One real `dockyard run FOLDER --listen
127.0.0.1:0 --state-dir TMP --resync 60s` subprocess watches a temporary folder of manifests:

  1. drift repair: one `restart: always` service; N trials of `docker rm -f` of its container and
     N of `docker kill`, each timed until a container of that name is running again (the engine's
     `start` event). Beside it, in the same run, Docker's own `restart: always` recovery of a
     container whose main process is SIGKILLed from the host (a fresh container each trial, so
     the engine's restart backoff never grows). Then a few `rm -f` trials again with 200 more
     containers running (the idle app below), where every relist is bigger.
  2. idle cost: 200 single-container services applied through the controller; once all run, the
     controller's CPU% and RSS over 60 s (psutil).
  3. spec edit -> converged: a 3-service app; one service's env edited in the manifest N times,
     timed from the file write to the replacement container (new config hash) running.

Everything it creates carries the label dev.dockyard.bench=1 (not dev.dockyard.test, which a test
session sweeps when it ends) and is removed at the end, even on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
import yaml

from dockyard_process import ControllerProcess

IMAGE = "dockyard.local/busybox:latest"
COMMAND = ["sleep", "3600"]
BENCH_LABEL = "dev.dockyard.bench"
# Not dev.dockyard.test: a test session sweeps that label when it ends, even mid-bench.
LABELS = {BENCH_LABEL: "1"}
APP_LABEL = "dev.dockyard.app"
CONFIG_HASH = "dev.dockyard.config-hash"
RUN_ID = f"{os.getpid() % 0xFFFF:04x}"  # fresh names each run: a stuck network never collides
PREFIX = f"dyctl{RUN_ID}"
# Docker's own restart policy is measured on a container whose name shares no prefix with an
# app: the controller maps unlabelled `<x>-…` names to apps named `<x>…` (squatter checks).
NATIVE = f"dynative{RUN_ID}"
VENV_BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): p99 of 50 samples is the largest but none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class Series:
    name: str
    samples: list[float] = field(default_factory=list)  # seconds
    failures: int = 0
    note: str = ""
    spans: list[tuple[int, int]] = field(default_factory=list)  # (action, running) wall ns
    # seconds from the action to the controller's log line `split_on` (first in the span)
    split: list[float] = field(default_factory=list)
    split_on: str = ""

    def add(self, t0_ns: int, end_ns: int) -> None:
        self.samples.append((end_ns - t0_ns) / 1e9)
        self.spans.append((t0_ns, end_ns))

    def split_by(self, log_times: list[int], what: str) -> None:
        """For each trial, when the controller logged `what` (first time within the span)."""
        self.split_on = what
        self.split = []
        for t0, end in self.spans:
            # log lines carry milliseconds: allow one either side
            hit = next((t for t in log_times if t0 - 1_000_000 <= t <= end + 1_000_000), None)
            if hit is not None:
                self.split.append(max(0.0, (hit - t0) / 1e9))

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self.samples),
            "failures": self.failures,
            "p50": percentile(self.samples, 50),
            "p90": percentile(self.samples, 90),
            "p99": percentile(self.samples, 99),
            "min": min(self.samples) if self.samples else None,
            "max": max(self.samples) if self.samples else None,
            "mean": statistics.fmean(self.samples) if self.samples else None,
            "split_on": self.split_on,
            "split_n": len(self.split),
            "split_p50": percentile(self.split, 50),
            "split_p90": percentile(self.split, 90),
        }


# ---- manifests -------------------------------------------------------------------------------


def service(name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "pullPolicy": "Never",
        "command": list(COMMAND),
        "init": True,
        "stopGracePeriod": "1s",
        "restart": "always",
        "labels": dict(LABELS),
    }
    if env:
        svc["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return svc


def manifest(app: str, services: list[dict[str, Any]]) -> str:
    doc = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": app},
        "spec": {
            # The implicit default network, declared only to carry the bench labels.
            "networks": [{"name": "default", "labels": dict(LABELS)}],
            "services": services,
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_atomic(folder: Path, filename: str, text: str, scratch: Path) -> int:
    """Write a manifest so the polling source never sees half a file; return the write time
    (ns, wall clock: the engine's event times are on the same clock).

    The temporary file lives outside the watched folder: the folder source reads every file."""
    tmp = scratch / f"{filename}.tmp"
    tmp.write_text(text)
    t0 = time.time_ns()
    os.replace(tmp, folder / filename)
    return t0


# ---- engine helpers --------------------------------------------------------------------------


def api_client(pool: int = 10) -> docker.APIClient:
    kwargs = docker.utils.kwargs_from_env()
    return docker.APIClient(version="auto", timeout=120, max_pool_size=pool, **kwargs)


@dataclass
class StartEvent:
    name: str
    id: str
    time_ns: int  # the engine's clock
    attributes: dict[str, str]


class StartWatcher:
    """Follows the engine's `start` events of bench containers in a thread.

    The engine stamps each event (timeNano) on the host clock, so a latency is that stamp
    minus the client's wall-clock time before its action: no polling, no client-side lag."""

    def __init__(self) -> None:
        self._api = api_client()
        self._events: list[StartEvent] = []
        self._cond = threading.Condition()
        self._stream: Any = None
        self._thread = threading.Thread(target=self._run, name="start-events", daemon=True)
        self._ready = threading.Event()

    def __enter__(self) -> StartWatcher:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the engine's event stream did not open")
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
        self._api.close()

    def _run(self) -> None:
        filters = {"type": "container", "event": ["start"], "label": [f"{BENCH_LABEL}=1"]}
        self._stream = self._api.events(decode=True, filters=filters)
        self._ready.set()
        with contextlib.suppress(Exception):  # closed at the end
            for ev in self._stream:
                actor = ev.get("Actor") or {}
                attrs = dict(actor.get("Attributes") or {})
                name, cid = attrs.get("name", ""), actor.get("ID", "")
                event = StartEvent(name, cid, int(ev["timeNano"]), attrs)
                with self._cond:
                    self._events.append(event)
                    self._cond.notify_all()

    def wait(
        self,
        name: str,
        after_ns: int,
        timeout: float,
        accept: Callable[[StartEvent], bool] = lambda e: True,
    ) -> StartEvent | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self._events:
                    if ev.name == name and ev.time_ns >= after_ns and accept(ev):
                        return ev
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)


def running(api: docker.APIClient, name: str) -> dict[str, Any] | None:
    """The container's inspect data if it is running (and not waiting to restart)."""
    try:
        data: dict[str, Any] = api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    st = data.get("State") or {}
    return data if st.get("Running") and not st.get("Restarting") else None


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def count_running(api: docker.APIClient, app: str) -> int:
    return len(api.containers(filters={"label": f"{APP_LABEL}={app}", "status": "running"}))


def ours(name: str) -> bool:
    """A name this bench gives (any run's: a crashed run's left-overs too)."""
    return name.lstrip("/").startswith(("dyctl", "dynative"))


def sweep(api: docker.APIClient) -> int:
    """Remove the containers, networks and volumes this bench makes (its names, its label).

    Only ours: other bench scripts (and other sessions) may be running on the same engine."""
    label = {"label": f"{BENCH_LABEL}=1"}
    containers = api.containers(all=True, filters=label)
    ids = {c["Id"] for c in containers if any(ours(n) for n in c.get("Names") or [])}
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda cid: _quiet(api.remove_container, cid, force=True), ids))
    for net in api.networks(filters=label):
        if not ours(str(net["Name"])):
            continue
        for attempt in range(3):
            try:
                api.remove_network(net["Id"])
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError as exc:
                if attempt == 2:
                    # dockerd 20.10 can keep a stale endpoint count (moby/moby#42119).
                    log(f"cleanup: cannot remove network {net['Name']}: {exc}")
                else:
                    time.sleep(1)
    for vol in (api.volumes(filters=label) or {}).get("Volumes") or []:
        if ours(vol["Name"]):
            _quiet(api.remove_volume, vol["Name"], force=True)
    return len(ids)


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        try:
            fn(*args, **kwargs)
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            # A busy or hung engine must not lose the results: report and go on.
            log(f"cleanup: {exc}")


# ---- the controller process ------------------------------------------------------------------


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


def log_times(path: Path, needle: str) -> list[int]:
    """Wall-clock ns of the controller's text log lines containing `needle` (local time, ms)."""
    out: list[int] = []
    for line in path.read_text(errors="replace").splitlines():
        if needle in line and (m := _LOG_TIME.match(line)):
            secs = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
            out.append(int(secs) * 1_000_000_000 + int(m.group(2)) * 1_000_000)
    return out


def wait_converged(
    api: docker.APIClient, ctl: ControllerProcess, app: str, n: int, timeout: float
) -> float:
    """Seconds until `n` containers of `app` run and the controller calls the app Ready."""
    t0 = time.perf_counter()

    def done() -> bool:
        if count_running(api, app) != n:
            return False
        st = ctl.status(app) or {}
        return any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions", [])
        )

    if not wait_until(done, timeout, interval=0.1):
        raise RuntimeError(
            f"app {app}: {count_running(api, app)} of {n} running after {timeout:.0f}s; "
            f"controller log:\n{ctl.tail()}"
        )
    return time.perf_counter() - t0


# ---- 1. drift --------------------------------------------------------------------------------


def drift_trials(
    api: docker.APIClient,
    watcher: StartWatcher,
    name: str,
    action: str,
    trials: int,
    series: Series,
    settle: float,
) -> None:
    for i in range(trials):
        before = wait_until(lambda: running(api, name), 30)
        if before is None:
            raise RuntimeError(f"{name} is not running before trial {i + 1} of {action}")
        time.sleep(settle + random.uniform(0, 0.2))
        t0 = time.time_ns()
        if action == "rm -f":
            api.remove_container(name, force=True)
        else:
            api.kill(name)
        ev = watcher.wait(name, t0, timeout=30)
        if ev is None:
            series.failures += 1
            log(f"  {action} trial {i + 1}: not running again within 30 s")
            continue
        series.add(t0, ev.time_ns)
    log(f"  {series.name}: {fmt_summary(series)}")


def native_trials(
    api: docker.APIClient, watcher: StartWatcher, trials: int, series: Series, settle: float
) -> None:
    """Docker's own `restart: always`: SIGKILL the container's main process from the host.

    A fresh container each trial: the engine doubles its restart delay on every crash of a
    container that ran under 10 s (0.1, 0.2, 0.4 … s), so reusing one would measure its backoff.
    """
    # On a user-defined bridge, as the controller's containers are (the engine's default
    # bridge may not even exist): a restart reconnects the endpoint either way.
    network = f"{NATIVE}_default"
    api.create_network(network, driver="bridge", labels=dict(LABELS), check_duplicate=True)
    body = {
        "Image": IMAGE,
        "Cmd": list(COMMAND),
        "Labels": dict(LABELS),
        "StopTimeout": 1,
        "HostConfig": {
            "Init": True,
            "RestartPolicy": {"Name": "always"},
            "NetworkMode": network,
        },
    }
    for i in range(trials):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(NATIVE, force=True)
        created = api.create_container_from_config(body, name=NATIVE)
        api.start(created["Id"])
        data = wait_until(lambda: running(api, NATIVE), 30)
        if data is None:
            raise RuntimeError(f"{NATIVE} did not start")
        time.sleep(settle + random.uniform(0, 0.2))
        pid = int(data["State"]["Pid"])  # docker-init (init: true), on the host's PID namespace
        t0 = time.time_ns()
        os.kill(pid, signal.SIGKILL)
        ev = watcher.wait(NATIVE, t0, timeout=30)
        if ev is None:
            series.failures += 1
            log(f"  native trial {i + 1}: not running again within 30 s")
            continue
        series.add(t0, ev.time_ns)
    _quiet(api.remove_container, NATIVE, force=True)
    _quiet(api.remove_network, network)
    log(f"  {series.name}: {fmt_summary(series)}")


# ---- 3. spec edits ---------------------------------------------------------------------------


def edit_trials(
    api: docker.APIClient,
    watcher: StartWatcher,
    folder: Path,
    scratch: Path,
    app: str,
    trials: int,
    series: Series,
) -> None:
    target = f"{app}-b-1"
    data = running(api, target)
    if data is None:
        raise RuntimeError(f"{target} is not running")
    current = data["Config"]["Labels"][CONFIG_HASH]
    for i in range(trials):
        # A random pause: the folder is polled every --interval, and writes at a fixed phase of
        # that tick would measure one point of the wait instead of its spread.
        time.sleep(random.uniform(0.3, 1.3))
        text = manifest(app, edit_services(i + 1))
        t0 = write_atomic(folder, f"{app}.yaml", text, scratch)
        ev = watcher.wait(
            target,
            t0,
            timeout=60,
            accept=lambda e, old=current: e.attributes.get(CONFIG_HASH) != old,
        )
        if ev is None:
            series.failures += 1
            log(f"  edit trial {i + 1}: no new container within 60 s")
            data = running(api, target)
            current = data["Config"]["Labels"][CONFIG_HASH] if data else current
            continue
        series.add(t0, ev.time_ns)
        current = ev.attributes[CONFIG_HASH]
        # Let the replacement's own events and the controller's relist pass before the next edit.
        wait_until(lambda: running(api, target), 30)
    log(f"  {series.name}: {fmt_summary(series)}")


def edit_services(revision: int) -> list[dict[str, Any]]:
    return [
        service("a"),
        service("b", {"BENCH_REVISION": str(revision)}),
        service("c"),
    ]


# ---- 2. idle ---------------------------------------------------------------------------------


@dataclass
class IdleResult:
    containers: int = 0
    converge_seconds: float = 0.0
    window: float = 0.0
    cpu_mean: float = 0.0  # % of one core, (user+system) / wall over the window
    cpu_max_1s: float = 0.0
    rss_max_mib: float = 0.0
    rss_mean_mib: float = 0.0
    engine_events: int = 0  # events the controller subscribes to, engine-wide, in the window
    engine_requests: float = 0.0
    reconciles: float = 0.0
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # t, cpu%, rss MiB


def count_engine_events(stop: threading.Event, out: list[int]) -> threading.Thread:
    """Count, engine-wide, the events the controller subscribes to (other sessions' too)."""
    from dockyard.engine.snapshot import EVENT_ACTIONS

    api = api_client()
    stream = api.events(decode=True, filters={"event": EVENT_ACTIONS})

    def run() -> None:
        with contextlib.suppress(Exception):
            for _ in stream:
                if stop.is_set():
                    break
                out[0] += 1

    def closer() -> None:
        stop.wait()
        with contextlib.suppress(Exception):
            stream.close()
        api.close()

    threading.Thread(target=closer, daemon=True).start()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def sample_idle(ctl: ControllerProcess, window: float, result: IdleResult) -> None:
    import psutil

    proc = psutil.Process(ctl.pid)
    events = [0]
    stop = threading.Event()
    count_engine_events(stop, events)
    m0 = ctl.metrics()
    t_start = time.perf_counter()
    c0 = proc.cpu_times()
    proc.cpu_percent(None)
    rss: list[float] = []
    try:
        while (elapsed := time.perf_counter() - t_start) < window:
            time.sleep(min(1.0, window - elapsed))
            cpu = proc.cpu_percent(None)
            mib = proc.memory_info().rss / 2**20
            rss.append(mib)
            result.samples.append((round(time.perf_counter() - t_start, 2), cpu, round(mib, 1)))
        c1 = proc.cpu_times()
        wall = time.perf_counter() - t_start
    finally:
        stop.set()
    m1 = ctl.metrics()
    used = (c1.user - c0.user) + (c1.system - c0.system)
    result.window = wall
    result.cpu_mean = 100 * used / wall
    result.cpu_max_1s = max(s[1] for s in result.samples)
    result.rss_max_mib = max(rss)
    result.rss_mean_mib = statistics.fmean(rss)
    result.engine_events = events[0]
    result.engine_requests = m1.get("dockyard_engine_requests", 0) - m0.get(
        "dockyard_engine_requests", 0
    )
    result.reconciles = m1.get("dockyard_reconciles_total", 0) - m0.get(
        "dockyard_reconciles_total", 0
    )


def py_spy_idle(pid: int, seconds: float, out: Path, top: int = 15) -> dict[str, Any]:
    """`py-spy record` of the idle controller (after the CPU window: sampling pauses the
    process, which would count in its CPU); inclusive samples per function."""
    exe = VENV_BIN / "py-spy"
    binary = str(exe) if exe.exists() else shutil.which("py-spy")
    if binary is None:
        return {"error": "py-spy is missing: .venv/bin/pip install py-spy (bench only)"}
    rate = 100
    log(f"py-spy: recording pid {pid} for {seconds:g}s")
    cmd = [binary, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", str(rate)]
    cmd += ["-f", "raw", "-o", str(out), "--nonblocking"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed: {(proc.stderr or proc.stdout)[-500:]}"}
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
    expected = seconds * rate  # samples if one thread were busy all the time
    return {
        "seconds": seconds,
        "rate": rate,
        "active_samples": total,
        "busy_fraction_of_one_core": total / expected if expected else None,
        # dockyard's own frames (the CLI's entry frames are in every main-thread sample)
        "inclusive": sorted(
            ((f, n) for f, n in inclusive.items() if "dockyard/" in f and "cli/main" not in f),
            key=lambda kv: -kv[1],
        )[:top],
        "leaf": sorted(leaf.items(), key=lambda kv: -kv[1])[:top],
    }


# ---- driver ----------------------------------------------------------------------------------


def fmt_s(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def fmt_summary(s: Series) -> str:
    d = s.summary()
    fail = f", {d['failures']} failed" if d["failures"] else ""
    return (
        f"p50 {fmt_s(d['p50'])}, p90 {fmt_s(d['p90'])}, p99 {fmt_s(d['p99'])}, "
        f"max {fmt_s(d['max'])} (n={d['n']}{fail})"
    )


@contextlib.contextmanager
def controller_run(args: argparse.Namespace, tmp: Path) -> Iterator[ControllerProcess]:
    folder, state, scratch = tmp / "manifests", tmp / "state", tmp / "scratch"
    for p in (folder, state, scratch):
        p.mkdir()
    ctl = ControllerProcess(folder, state, tmp / "controller.log", args.interval, say=log)
    try:
        ctl.start()
        yield ctl
    finally:
        code = ctl.stop()
        if code not in (None, 0):
            log(f"dockyard run exited {code} on SIGTERM; log tail:\n{ctl.tail()}")
        if args.keep_log:
            shutil.copyfile(ctl.log_path, args.keep_log)
            log(f"controller log copied to {args.keep_log}")


def run_bench(args: argparse.Namespace, api: docker.APIClient, tmp: Path) -> dict[str, Any]:
    drift_app, edit_app, idle_app = f"{PREFIX}-drift", f"{PREFIX}-edit", f"{PREFIX}-idle"
    folder, scratch = tmp / "manifests", tmp / "scratch"
    series = {
        "rm": Series("dockyard: docker rm -f -> running again"),
        "kill": Series("dockyard: docker kill -> running again"),
        "native": Series(
            "engine restart: always: main process SIGKILLed -> running again",
            note="a fresh container each trial (no restart backoff)",
        ),
        "rm_loaded": Series(
            f"dockyard: docker rm -f -> running again, {args.idle_n} managed containers running"
        ),
        "edit": Series("spec edit -> new container running"),
    }
    idle = IdleResult()
    extra: dict[str, Any] = {}
    with StartWatcher() as watcher, controller_run(args, tmp) as ctl:
        log(f"dockyard run pid {ctl.pid} at {ctl.url}")
        # 1. drift
        write_atomic(folder, f"{drift_app}.yaml", manifest(drift_app, [service("svc")]), scratch)
        wait_converged(api, ctl, drift_app, 1, 60)
        target = f"{drift_app}-svc-1"
        m0 = ctl.metrics()
        log(f"drift: {args.trials} x docker rm -f {target}")
        drift_trials(api, watcher, target, "rm -f", args.trials, series["rm"], args.settle)
        log(f"drift: {args.trials} x docker kill {target}")
        drift_trials(api, watcher, target, "kill", args.trials, series["kill"], args.settle)
        applying = log_times(ctl.log_path, f"app {drift_app}: applying")
        series["rm"].split_by(applying, "applying")
        series["kill"].split_by(applying, "applying")
        m1 = ctl.metrics()
        extra["drift_reconcile_errors"] = m1.get("dockyard_reconcile_errors_total", 0) - m0.get(
            "dockyard_reconcile_errors_total", 0
        )
        extra["drift_repairs_metric"] = m1.get("dockyard_drift_repairs_total", 0) - m0.get(
            "dockyard_drift_repairs_total", 0
        )
        log(f"engine restart policy: {args.trials} x kill -9 of the main process")
        native_trials(api, watcher, args.trials, series["native"], args.settle)

        # 3. spec edits (before the 200, so a relist costs what it costs for a small engine)
        write_atomic(folder, f"{edit_app}.yaml", manifest(edit_app, edit_services(0)), scratch)
        wait_converged(api, ctl, edit_app, 3, 60)
        log(f"spec edit: {args.edits} edits of {edit_app}.yaml")
        edit_trials(api, watcher, folder, scratch, edit_app, args.edits, series["edit"])
        series["edit"].split_by(log_times(ctl.log_path, f"app {edit_app} wanted at"), "wanted")

        # 2. idle with 200: the other apps go first (the controller prunes them), so exactly
        # args.idle_n containers are managed.
        for app in (drift_app, edit_app):
            (folder / f"{app}.yaml").unlink()
        if not wait_until(
            lambda: (
                not api.containers(all=True, filters={"label": f"{APP_LABEL}={drift_app}"})
                and not api.containers(all=True, filters={"label": f"{APP_LABEL}={edit_app}"})
            ),
            60,
        ):
            raise RuntimeError(f"the controller did not prune the drift/edit apps:\n{ctl.tail()}")
        n = args.idle_n
        services = [service(f"s{i:03d}") for i in range(n)]
        log(f"idle: applying {n} services through the controller")
        write_atomic(folder, f"{idle_app}.yaml", manifest(idle_app, services), scratch)
        idle.containers = n
        idle.converge_seconds = wait_converged(api, ctl, idle_app, n, 600)
        log(f"  converged in {idle.converge_seconds:.1f}s; settling {args.idle_settle:g}s")
        time.sleep(args.idle_settle)
        log(f"idle: sampling CPU and RSS of pid {ctl.pid} for {args.idle_window:g}s")
        sample_idle(ctl, args.idle_window, idle)
        log(
            f"  CPU mean {idle.cpu_mean:.2f}% (max 1 s {idle.cpu_max_1s:.1f}%), RSS max "
            f"{idle.rss_max_mib:.1f} MiB; {idle.engine_events} engine events, "
            f"{idle.engine_requests:.0f} engine requests, {idle.reconciles:.0f} reconciles"
        )

        # 1b. drift again with the 200 running: every relist now lists 200 containers.
        if args.loaded_trials:
            target = f"{idle_app}-s000-1"
            log(f"drift with {n} running: {args.loaded_trials} x docker rm -f {target}")
            drift_trials(
                api, watcher, target, "rm -f", args.loaded_trials, series["rm_loaded"], args.settle
            )
            applying = log_times(ctl.log_path, f"app {idle_app}: applying")
            series["rm_loaded"].split_by(applying, "applying")
        if args.py_spy:
            extra["py_spy"] = py_spy_idle(ctl.pid, args.py_spy, tmp / "py-spy.txt")
        extra["controller_log_errors"] = [
            line
            for line in ctl.log_path.read_text(errors="replace").splitlines()
            if " ERROR " in line or " WARNING " in line
        ][:20]
    return {"series": series, "idle": idle, "extra": extra}


def markdown(series: dict[str, Series], idle: IdleResult) -> str:
    lines = [
        "| measurement | n | p50 | p90 | p99 | max | failed | p50 until the controller acted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in series.values():
        if not s.samples and not s.failures:
            continue
        d = s.summary()
        label = s.name + (f" ({s.note})" if s.note else "")
        acted = "—"
        if s.split:
            acted = f"{fmt_s(d['split_p50'])} (log: {s.split_on}, {len(s.split)} matched)"
        lines.append(
            f"| {label} | {d['n']} | {fmt_s(d['p50'])} | {fmt_s(d['p90'])} | {fmt_s(d['p99'])} "
            f"| {fmt_s(d['max'])} | {d['failures']} | {acted} |"
        )
    lines += [
        "",
        f"| idle, {idle.containers} managed containers | value | target |",
        "|---|---|---|",
        f"| apply through the controller -> all running | {idle.converge_seconds:.1f} s | — |",
        f"| controller CPU, mean over {idle.window:.0f} s | {idle.cpu_mean:.2f} % | < 1 % |",
        f"| controller CPU, worst 1 s sample | {idle.cpu_max_1s:.1f} % | — |",
        f"| controller RSS, max | {idle.rss_max_mib:.1f} MiB | < 120 MB (114 MiB) |",
        f"| controller RSS, mean | {idle.rss_mean_mib:.1f} MiB | — |",
        f"| engine events in the window (engine-wide, the kinds the controller follows) "
        f"| {idle.engine_events} | — |",
        f"| engine requests by the controller in the window | {idle.engine_requests:.0f} | — |",
        f"| reconciles in the window | {idle.reconciles:.0f} | — |",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trials", type=int, default=50, help="trials per drift kind (and native)")
    p.add_argument("--edits", type=int, default=20, help="spec edits")
    p.add_argument("--idle-n", type=int, default=200, help="containers for the idle measurement")
    p.add_argument("--idle-window", type=float, default=60.0, help="seconds of idle sampling")
    p.add_argument(
        "--idle-settle", type=float, default=10.0, help="seconds between convergence and sampling"
    )
    p.add_argument(
        "--loaded-trials", type=int, default=20, help="rm -f trials with the idle app running"
    )
    p.add_argument(
        "--settle", type=float, default=0.3, help="pause before each drift trial (s, plus jitter)"
    )
    p.add_argument(
        "--interval", default="1s", help="dockyard run --interval (folder poll; default 1s)"
    )
    p.add_argument(
        "--py-spy",
        type=float,
        default=0,
        metavar="SECONDS",
        help="after the idle window, py-spy record the controller this long (0: skip)",
    )
    p.add_argument("--keep-log", type=Path, help="copy the controller's log here at the end")
    p.add_argument("--json", type=Path, help="also write every sample and the summaries here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit("psutil is missing: .venv/bin/pip install psutil (bench only)")
    api = api_client(pool=20)
    engine_version = str(api.version().get("Version", "?"))
    if not api.images(name=IMAGE):
        api.close()
        sys.exit(f"image {IMAGE} is missing: run scripts/base-image.sh")
    meta: dict[str, Any] = {
        "engine": engine_version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "run_id": RUN_ID,
        "interval": args.interval,
        "loadavg_at_start": os.getloadavg(),
        "containers_on_engine_at_start": len(api.containers()),
    }
    log(
        f"engine {engine_version}; cpus {meta['cpus']}; load average "
        f"{' '.join(f'{x:.2f}' for x in meta['loadavg_at_start'])}; "
        f"{meta['containers_on_engine_at_start']} container(s) already running"
    )
    t0 = time.perf_counter()
    try:
        if leftovers := sweep(api):
            log(f"removed {leftovers} leftover bench container(s)")
        with tempfile.TemporaryDirectory(prefix="dyctlbench-") as tmp:
            out = run_bench(args, api, Path(tmp))
    finally:
        # The controller is stopped by now (SIGTERM): containers keep running until we remove
        # them here.
        try:
            removed = sweep(api)
            log(f"cleanup removed {removed} container(s)")
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            log(f"cleanup failed ({exc}); left-overs are swept by the next run")
        api.close()
    meta["total_seconds"] = time.perf_counter() - t0
    meta["loadavg_at_end"] = os.getloadavg()
    series: dict[str, Series] = out["series"]
    idle: IdleResult = out["idle"]
    la0 = " ".join(f"{x:.2f}" for x in meta["loadavg_at_start"])
    la1 = " ".join(f"{x:.2f}" for x in meta["loadavg_at_end"])
    print(
        f"\nengine {engine_version} · {meta['cpus']} CPUs · folder poll {args.interval} · "
        f"total {meta['total_seconds']:.0f} s · load average {la0} at start, {la1} at end\n"
    )
    print(markdown(series, idle))
    extra = out["extra"]
    print(
        f"\nDuring the drift trials: {extra['drift_repairs_metric']:.0f} drift repairs counted "
        f"by the controller, {extra['drift_reconcile_errors']:.0f} failed reconciles."
    )
    if extra["controller_log_errors"]:
        print("\nController warnings/errors (first 20):\n")
        for line in extra["controller_log_errors"]:
            print(f"    {line}")
    spy = extra.get("py_spy")
    if spy and "error" in spy:
        print(f"\npy-spy: {spy['error']}")
    elif spy:
        print(
            f"\npy-spy record of the idle controller, {spy['seconds']:g} s at {spy['rate']} Hz: "
            f"{spy['active_samples']} active samples, "
            f"{100 * spy['busy_fraction_of_one_core']:.1f}% of one core. dockyard's frames, "
            "inclusive:\n"
        )
        for frame, n in spy["inclusive"]:
            print(f"    {n:6d}  {frame}")
        print("\nLeaf (own time), top:\n")
        for frame, n in spy["leaf"]:
            print(f"    {n:6d}  {frame}")
    if args.json:
        payload = {
            "meta": meta,
            "series": {
                k: {
                    "name": s.name,
                    "note": s.note,
                    **s.summary(),
                    "samples": s.samples,
                    "until_controller_acted": s.split,
                    "spans_wall_ns": s.spans,
                }
                for k, s in series.items()
            },
            "idle": idle.__dict__,
            "extra": extra,
        }
        args.json.write_text(json.dumps(payload, indent=2))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
