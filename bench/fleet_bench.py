"""Many engines at once: one app placed `mode: global` on K private dockerds (K x N containers).

Run by hand (not part of pytest); see bench/README.md. In one run, on K private dockerds
(tests/engine_instance.py's PrivateEngine: each a machine of its own, its own network and
mount namespace, reached over a unix socket), each loaded with dockyard.local/busybox:latest:

  a. alone: for each of --alone engines, the N-service app applied to that engine only (no
     other engine busy), then deleted; the slowest is the baseline;
  b. the whole fleet from scratch, in-process (load_paths, connect_fleet, plan_fleet,
     apply_fleet), then with everything running a no-op re-apply in-process and via the CLI
     (`dockyard apply -f app.yaml -f hosts.yaml -q`), median of --noop-repeat each;
  c. the whole fleet from scratch again via the CLI;
  d. the controller: `dockyard run FOLDER --listen 127.0.0.1:0 --state-dir TMP --resync 60s` on
     the converged fleet: time until /status calls the app Ready, then its CPU% and RSS over
     --idle-window seconds (psutil).

Everything it creates carries the label dev.dockyard.bench=1; the app is deleted from every
engine and the daemons are stopped and their folders removed at the end, even on failure,
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dockyard.apply.converge import delete_app  # noqa: E402
from dockyard.engine.client import Engine  # noqa: E402
from dockyard.fleet.converge import apply_fleet, connect_fleet, plan_fleet  # noqa: E402
from dockyard.spec.load import load_paths  # noqa: E402
from dockyard_process import ControllerProcess, dockyard_cli  # noqa: E402
from engine_instance import STATE_ROOT, PrivateEngine  # noqa: E402

IMAGE = "dockyard.local/busybox:latest"
COMMAND = ["sleep", "3600"]
BENCH_LABEL = "dev.dockyard.bench"
# Not dev.dockyard.test: a test session sweeps that label when it ends, even mid-bench.
LABELS = {BENCH_LABEL: "1"}
APP_LABEL = "dev.dockyard.app"
PREFIX = "dyfl"
RUN_ID = f"{os.getpid() % 0xFFFF:04x}"
VENV_BIN = Path(sys.executable).parent

T = TypeVar("T")


def log(message: str) -> None:
    print(f"[fleet {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def med(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# ---- the machine -----------------------------------------------------------------------------


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine(label: str) -> dict[str, Any]:
    load = os.getloadavg()
    mem = mem_available_mib()
    log(f"{label}: load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, MemAvailable {mem:.0f} MiB")
    return {"when": label, "loadavg": load, "mem_available_mib": round(mem)}


@dataclass
class Timed:
    """Wall time of one step, with what the machine and this process spent meanwhile."""

    seconds: float = 0.0
    machine_busy: float = 0.0  # all CPUs busy fraction (1.0 = every core busy all along)
    self_cpu: float = 0.0  # CPU seconds of this process (dockyard in-process)
    ops: int = 0


@contextlib.contextmanager
def timing() -> Iterator[Timed]:
    out = Timed()
    b0, t0 = cpu_ticks()
    c0 = time.process_time()
    w0 = time.perf_counter()
    try:
        yield out
    finally:
        out.seconds = time.perf_counter() - w0
        out.self_cpu = time.process_time() - c0
        b1, t1 = cpu_ticks()
        out.machine_busy = (b1 - b0) / max(1, t1 - t0)


# ---- engines ---------------------------------------------------------------------------------


class BenchEngine(PrivateEngine):
    """A test host whose name says it is this bench's (STATE_ROOT/dyfl<run>-eNN-*)."""

    def __init__(self, index: int) -> None:
        super().__init__(prefix=f"{PREFIX}{RUN_ID}-e{index:02d}")
        self.name = f"e{index:02d}"

    def client(self, timeout: int = 120) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, timeout=timeout, max_pool_size=16)


def start_engines(count: int, image_tar: Path) -> list[BenchEngine]:
    """Start `count` private dockerds (4 at a time) and load the base image into each."""
    engines = [BenchEngine(i) for i in range(count)]
    STARTED.extend(engines)

    def up(engine: BenchEngine) -> None:
        engine.start(timeout=120)
        subprocess.run(
            ["docker", "-H", engine.url, "load", "-q", "-i", str(image_tar)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        # Warm-up: one container created, started and removed, so no measured step pays for
        # the engine's first container (image layer mounts, containerd's first shim).
        api = engine.client()
        try:
            cid = api.create_container(IMAGE, ["true"], labels=dict(LABELS))["Id"]
            api.start(cid)
            api.wait(cid, timeout=60)
            api.remove_container(cid, force=True)
        finally:
            api.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(up, engines))
    return engines


STARTED: list[BenchEngine] = []


def count_running(engine: BenchEngine, app: str) -> int:
    api = engine.client(timeout=60)
    try:
        return len(api.containers(filters={"label": f"{APP_LABEL}={app}", "status": "running"}))
    finally:
        api.close()


def check_running(engines: Sequence[BenchEngine], app: str, n: int, what: str) -> None:
    with ThreadPoolExecutor(max_workers=len(engines)) as pool:
        counts = list(pool.map(lambda e: count_running(e, app), engines))
    wrong = {e.name: c for e, c in zip(engines, counts, strict=True) if c != n}
    if wrong:
        raise RuntimeError(f"{what}: running containers per engine {wrong}, expected {n} each")


def delete_everywhere(engines: Sequence[BenchEngine], app: str, concurrency: int) -> float:
    """`delete_app` on every engine at once (delete works on one engine at a time).

    dockerd 20.10 sometimes keeps a stale endpoint count on a network many containers just
    left (moby/moby#42119): its removal is refused with "has active endpoints" although no
    container is on it. That is retried twice, then noted (NOTES) and left: each step uses its
    own app name, and the daemon's bridges are removed when it is destroyed."""

    def one(engine: BenchEngine) -> str | None:
        for attempt in range(3):
            eng = Engine(engine.url, name=engine.name)
            try:
                _, result = asyncio.run(delete_app(eng, app, concurrency=concurrency))
            finally:
                eng.close()
            if result.ok:
                return None
            errors = [str(r.error) for r in result.failed]
            if not all("has active endpoints" in e for e in errors):
                return f"{engine.name}: {errors[:2]}"
            if attempt < 2:
                time.sleep(1)
        NOTES.append(f"{engine.name}: network {app}_default kept (moby/moby#42119): {errors[0]}")
        log(f"  {NOTES[-1]}")
        return None

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, len(engines))) as pool:
        problems = [p for p in pool.map(one, engines) if p]
    if problems:
        raise RuntimeError(f"delete {app} failed: {problems}")
    return time.perf_counter() - t0


NOTES: list[str] = []


def destroy_all() -> None:
    """Remove the app's leftovers, stop every daemon, remove its folder and the Linux bridges
    of its networks (a stopped dockerd leaves them; best effort)."""

    def one(engine: BenchEngine) -> None:
        bridges: list[str] = []
        try:
            if engine.proc is not None and engine.proc.poll() is None:
                api = engine.client(timeout=10)
                try:
                    nets = api.networks(filters={"driver": "bridge"})
                    bridges = [f"br-{n['Id'][:12]}" for n in nets]
                finally:
                    api.close()
        except Exception as exc:
            log(f"cleanup: {engine.name}: cannot list networks: {exc!r}")
        try:
            engine.destroy()
        except Exception as exc:  # keep destroying the others
            log(f"cleanup: {engine.name}: {exc!r}")
        for bridge in bridges:
            if Path(f"/sys/class/net/{bridge}").exists():
                subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, STARTED))
    left = [str(e.dir) for e in STARTED if e.dir.exists()]
    if left:
        log(f"cleanup: folders left behind: {left}")


def leftovers() -> list[str]:
    """Daemons of a crashed earlier run of this bench (their folders match our prefix)."""
    found = []
    for pidfile in STATE_ROOT.glob(f"{PREFIX}*-e[0-9][0-9]-*/dockerd.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            if Path(f"/proc/{pid}").exists():
                found.append(f"{pidfile.parent} (dockerd pid {pid})")
    return found


# ---- manifests -------------------------------------------------------------------------------


def hosts_yaml(engines: Sequence[BenchEngine]) -> str:
    docs = [
        {
            "apiVersion": "dockyard.dev/v1alpha1",
            "kind": "DockerHost",
            "metadata": {"name": e.name, "labels": {"role": "bench"}},
            "spec": {"url": e.url},
        }
        for e in engines
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


def app_yaml(app: str, n: int) -> str:
    doc = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": app},
        "spec": {
            "placement": {"hostSelector": {"matchLabels": {"role": "bench"}}, "mode": "global"},
            # The implicit default network, declared only to carry the bench labels.
            "networks": [{"name": "default", "labels": dict(LABELS)}],
            "services": [
                {
                    "name": f"s{i:03d}",
                    "image": IMAGE,
                    "pullPolicy": "Never",
                    "command": list(COMMAND),
                    "init": True,
                    "stopGracePeriod": "1s",
                    "labels": dict(LABELS),
                }
                for i in range(n)
            ],
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_folder(folder: Path, app: str, n: int, engines: Sequence[BenchEngine]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.yaml").write_text(hosts_yaml(engines))
    (folder / "app.yaml").write_text(app_yaml(app, n))
    return folder


# ---- dockyard --------------------------------------------------------------------------------


def fleet_apply(folder: Path, concurrency: int, phases: dict[str, list[float]] | None) -> Timed:
    """One in-process `dockyard apply -f app.yaml -f hosts.yaml`, as the CLI does it."""
    with timing() as out:
        marks = [time.perf_counter()]
        loaded = load_paths([folder / "app.yaml", folder / "hosts.yaml"])
        marks.append(time.perf_counter())
        fleet = connect_fleet(loaded.hosts, Engine())
        try:
            marks.append(time.perf_counter())
            if fleet.unreachable:
                raise RuntimeError(f"unreachable hosts: {fleet.unreachable}")
            plans = plan_fleet(loaded.apps, fleet)
            marks.append(time.perf_counter())
            errors = [e for p in plans for e in p.errors]
            if errors:
                raise RuntimeError(f"plan errors: {errors[:3]}")
            results = asyncio.run(apply_fleet(plans, fleet, concurrency=concurrency))
            marks.append(time.perf_counter())
        finally:
            for engine in fleet.engines.values():
                engine.close()
    failed = [
        f"{h}: {r.failed[0].op.describe()}: {r.failed[0].error}"
        for h, r in results.items()
        if not r.ok
    ]
    if failed:
        raise RuntimeError(f"fleet apply failed: {failed[:3]}")
    out.ops = sum(len(r.results) for r in results.values())
    if phases is not None:
        for name, a, b in zip(PHASES, marks, marks[1:], strict=False):
            phases.setdefault(name, []).append(b - a)
    return out


PHASES = ("load", "connect+snapshot", "plan", "apply")


def cli_apply(folder: Path, concurrency: int) -> Timed:
    cmd = [
        dockyard_cli(),
        "apply",
        "-f",
        str(folder / "app.yaml"),
        "-f",
        str(folder / "hosts.yaml"),
        "-q",
        "-j",
        str(concurrency),
    ]
    with timing() as out:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return out


# ---- the controller --------------------------------------------------------------------------


def controller_phase(folder: Path, tmp: Path, app: str, args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    ctl = ControllerProcess(folder, tmp / "state", tmp / "controller.log", say=log)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        ctl.start(timeout=60, wait_ready=False)
        out["listening_s"] = time.perf_counter() - t0
        deadline = time.monotonic() + 300
        while not ctl.ready(app):
            if ctl.proc is not None and ctl.proc.poll() is not None:
                raise RuntimeError(f"dockyard run exited:\n{ctl.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"app {app} not Ready after 300 s:\n{ctl.tail()}")
            time.sleep(0.1)
        out["ready_s"] = time.perf_counter() - t0
        log(
            f"  controller: listening after {out['listening_s']:.2f}s, Ready after "
            f"{out['ready_s']:.2f}s; settling {args.idle_settle:.0f}s"
        )
        time.sleep(args.idle_settle)
        assert ctl.proc is not None
        proc = psutil.Process(ctl.proc.pid)
        m0 = ctl.metrics()
        c0 = proc.cpu_times()
        proc.cpu_percent(None)
        w0 = time.perf_counter()
        samples: list[tuple[float, float, float]] = []
        while (elapsed := time.perf_counter() - w0) < args.idle_window:
            time.sleep(min(1.0, args.idle_window - elapsed))
            mib = proc.memory_info().rss / 2**20
            samples.append((round(time.perf_counter() - w0, 2), proc.cpu_percent(None), mib))
        c1 = proc.cpu_times()
        wall = time.perf_counter() - w0
        m1 = ctl.metrics()

        def delta(name: str) -> float:
            return m1.get(name, 0.0) - m0.get(name, 0.0)

        rss = [s[2] for s in samples]
        reconciles = delta("dockyard_reconcile_duration_seconds_count")
        out.update(
            window_s=wall,
            cpu_mean_pct=100 * ((c1.user - c0.user) + (c1.system - c0.system)) / wall,
            cpu_max_1s_pct=max(s[1] for s in samples),
            rss_max_mib=max(rss),
            rss_mean_mib=statistics.fmean(rss),
            threads=proc.num_threads(),
            engine_requests=delta("dockyard_engine_requests"),
            reconciles=reconciles,
            reconcile_mean_s=(
                delta("dockyard_reconcile_duration_seconds_sum") / reconciles
                if reconciles
                else None
            ),
            samples=samples,
        )
        log(
            f"  controller idle {wall:.0f}s: CPU {out['cpu_mean_pct']:.2f}% of a core, RSS max "
            f"{out['rss_max_mib']:.1f} MiB, {reconciles:.0f} reconcile(s)"
        )
    finally:
        code = ctl.stop(timeout=60)
        if code not in (None, 0):
            log(f"dockyard run exited {code} on SIGTERM; log tail:\n{ctl.tail()}")
        if args.keep_log:
            with contextlib.suppress(OSError):
                shutil.copyfile(ctl.log_path, args.keep_log)
    return out


# ---- driver ----------------------------------------------------------------------------------


@dataclass
class Results:
    engines: int
    services: int
    alone: dict[str, Timed] = field(default_factory=dict)
    alone_delete: list[float] = field(default_factory=list)
    scratch_inproc: Timed | None = None
    scratch_cli: Timed | None = None
    noop_inproc: list[Timed] = field(default_factory=list)
    noop_cli: list[Timed] = field(default_factory=list)
    noop_phases: dict[str, list[float]] = field(default_factory=dict)
    delete_all: list[float] = field(default_factory=list)
    controller: dict[str, Any] = field(default_factory=dict)
    machine: list[dict[str, Any]] = field(default_factory=list)


def run(args: argparse.Namespace, tmp: Path, res: Results) -> None:
    base = f"{PREFIX}{RUN_ID}"  # one app name per step: a stuck network is never reused
    n, k, j = args.services, args.engines, args.concurrency
    tar = tmp / "base.tar"
    subprocess.run(["docker", "save", "-o", str(tar), IMAGE], check=True, capture_output=True)
    log(f"starting {k} private dockerds")
    t0 = time.perf_counter()
    engines = start_engines(k, tar)
    log(f"  {k} engines up with {IMAGE} in {time.perf_counter() - t0:.1f}s")
    res.machine.append(machine("engines up"))

    # a. each engine doing its share alone
    alone_hosts = engines[: min(args.alone, k)]
    app = f"{base}-a"
    for engine in alone_hosts:
        folder = write_folder(tmp / f"alone-{engine.name}", app, n, [engine])
        t = fleet_apply(folder, j, None)
        check_running([engine], app, n, f"alone {engine.name}")
        res.alone[engine.name] = t
        res.alone_delete.append(delete_everywhere([engine], app, j))
        log(
            f"  alone {engine.name}: {t.seconds:.2f}s ({t.ops} ops, machine busy "
            f"{100 * t.machine_busy:.0f}%, dockyard CPU {t.self_cpu:.2f}s)"
        )
    res.machine.append(machine("after alone"))

    # b. the fleet from scratch, in-process; no-op re-applies
    app = f"{base}-f"
    folder = write_folder(tmp / "fleet", app, n, engines)
    t = fleet_apply(folder, j, None)
    check_running(engines, app, n, "fleet scratch (in-process)")
    res.scratch_inproc = t
    log(
        f"  fleet scratch (in-process): {t.seconds:.2f}s ({t.ops} ops, machine busy "
        f"{100 * t.machine_busy:.0f}%, dockyard CPU {t.self_cpu:.2f}s)"
    )
    res.machine.append(machine("fleet running"))
    for _ in range(args.noop_repeat):
        t = fleet_apply(folder, j, res.noop_phases)
        if t.ops:
            raise RuntimeError(f"no-op re-apply ran {t.ops} operations")
        res.noop_inproc.append(t)
    for _ in range(args.noop_repeat):
        res.noop_cli.append(cli_apply(folder, j))
    log(
        f"  no-op across all: in-process {med([x.seconds for x in res.noop_inproc]):.3f}s, "
        f"CLI {med([x.seconds for x in res.noop_cli]):.3f}s"
    )
    res.delete_all.append(delete_everywhere(engines, app, j))
    log(f"  delete across all: {res.delete_all[-1]:.2f}s")

    # c. the fleet from scratch, CLI (into its own folder: another app name)
    if args.cli_scratch:
        app = f"{base}-c"
        folder = write_folder(tmp / "fleet-cli", app, n, engines)
        t = cli_apply(folder, j)
        check_running(engines, app, n, "fleet scratch (CLI)")
        res.scratch_cli = t
        log(f"  fleet scratch (CLI): {t.seconds:.2f}s (machine busy {100 * t.machine_busy:.0f}%)")

    # d. the controller on the converged fleet
    if args.idle_window > 0 and args.cli_scratch:
        ctl_folder = tmp / "controller-src"
        ctl_folder.mkdir()
        shutil.copy(folder / "hosts.yaml", ctl_folder)
        shutil.copy(folder / "app.yaml", ctl_folder)
        (tmp / "state").mkdir()
        res.controller = controller_phase(ctl_folder, tmp, app, args)
    res.machine.append(machine("before teardown"))
    res.delete_all.append(delete_everywhere(engines, app, j))
    log(f"  delete across all: {res.delete_all[-1]:.2f}s")


def fmt(value: float | None, digits: int = 2, unit: str = " s") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def markdown(res: Results, meta: dict[str, Any]) -> str:
    alone = {h: t.seconds for h, t in res.alone.items()}
    slowest_host = max(alone, key=lambda h: alone[h]) if alone else None
    slowest = alone[slowest_host] if slowest_host else None
    fleet = res.scratch_inproc.seconds if res.scratch_inproc else None
    cli = res.scratch_cli.seconds if res.scratch_cli else None
    summed = sum(alone.values()) if len(alone) == res.engines else None
    extrap = statistics.fmean(alone.values()) * res.engines if alone else None

    def ratio(a: float | None, b: float | None) -> str:
        return "n/a" if a is None or not b else f"{a / b:.2f}x"

    k, n = res.engines, res.services
    lines = [
        f"{k} engines x {n} services = {k * n} containers; {meta['cpus']} CPUs; "
        f"concurrency {meta['concurrency']} per engine; engine {meta['engine']}; "
        f"total run {meta.get('total_seconds', 0):.0f} s",
        "",
        "| step | wall time | ratio | machine CPU busy | dockyard process CPU |",
        "|---|---|---|---|---|",
    ]
    if res.scratch_inproc:
        t = res.scratch_inproc
        lines.append(
            f"| fleet from scratch, in-process ({t.ops} ops) | {fmt(fleet)} "
            f"| {ratio(fleet, slowest)} of slowest alone; {ratio(fleet, summed or extrap)} of "
            f"{'sum' if summed else 'K x mean'} alone | {100 * t.machine_busy:.0f} % "
            f"| {t.self_cpu:.2f} s |"
        )
    if res.scratch_cli:
        t = res.scratch_cli
        lines.append(
            f"| fleet from scratch, CLI | {fmt(cli)} | {ratio(cli, slowest)} of slowest alone "
            f"| {100 * t.machine_busy:.0f} % | (subprocess) |"
        )
    if slowest_host is not None:
        t = res.alone[slowest_host]
        lines.append(
            f"| slowest engine alone ({slowest_host}, of {len(alone)}) | {fmt(slowest)} | 1.00x "
            f"| {100 * t.machine_busy:.0f} % | {t.self_cpu:.2f} s |"
        )
        lines.append(
            f"| all alone runs: min / median / max | {fmt(min(alone.values()))} / "
            f"{fmt(med(list(alone.values())))} / {fmt(slowest)} | sum {fmt(summed)} | | |"
        )
    if res.noop_inproc:
        t = res.noop_inproc
        lines.append(
            f"| no-op across all, in-process (median of {len(t)}) "
            f"| {fmt(med([x.seconds for x in t]), 3)} | | "
            f"{100 * med([x.machine_busy for x in t]):.0f} % "
            f"| {med([x.self_cpu for x in t]):.3f} s |"
        )
    if res.noop_cli:
        t = res.noop_cli
        lines.append(
            f"| no-op across all, CLI (median of {len(t)}) "
            f"| {fmt(med([x.seconds for x in t]), 3)} | | "
            f"{100 * med([x.machine_busy for x in t]):.0f} % | (subprocess) |"
        )
    if res.delete_all:
        lines.append(
            f"| delete across all (delete_app per engine, in parallel) "
            f"| {' / '.join(fmt(d) for d in res.delete_all)} | | | |"
        )
    if res.noop_phases:
        lines += [
            "",
            "In-process no-op split into phases (medians): "
            + ", ".join(f"{p} {fmt(med(res.noop_phases.get(p, [])), 3)}" for p in PHASES),
        ]
    c = res.controller
    if c:
        lines += [
            "",
            "Controller (`dockyard run DIR --resync 60s`, the converged fleet):",
            "",
            "| start → listening | start → app Ready | idle window | CPU mean (% of a core) "
            "| CPU max 1 s | RSS max | RSS mean | threads | engine requests | reconciles "
            "(mean duration) |",
            "|" + "---|" * 10,
            f"| {fmt(c.get('listening_s'))} | {fmt(c.get('ready_s'))} "
            f"| {fmt(c.get('window_s'), 0)} | {fmt(c.get('cpu_mean_pct'), 2, ' %')} "
            f"| {fmt(c.get('cpu_max_1s_pct'), 1, ' %')} | {fmt(c.get('rss_max_mib'), 1, ' MiB')} "
            f"| {fmt(c.get('rss_mean_mib'), 1, ' MiB')} | {c.get('threads')} "
            f"| {c.get('engine_requests', 0):.0f} | {c.get('reconciles', 0):.0f} "
            f"({fmt(c.get('reconcile_mean_s'), 3)}) |",
        ]
    lines += ["", "Machine along the run:", ""]
    for m in res.machine:
        load = m["loadavg"]
        lines.append(
            f"- {m['when']}: load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"MemAvailable {m['mem_available_mib']} MiB"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engines", "-k", type=int, default=10, help="private dockerds (K)")
    p.add_argument("--services", "-n", type=int, default=50, help="services in the app (N)")
    p.add_argument("--alone", type=int, default=10, help="engines timed alone (the first ones)")
    p.add_argument(
        "--concurrency",
        "-j",
        type=int,
        default=8,
        help="engine calls per engine (32, the CLI default, times out with 10 engines on 2 cores)",
    )
    p.add_argument(
        "--cli-scratch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the CLI from scratch (the controller step needs it)",
    )
    p.add_argument("--noop-repeat", type=int, default=5, help="no-op re-applies (median)")
    p.add_argument("--idle-window", type=float, default=60, help="controller sampling (0: skip)")
    p.add_argument("--idle-settle", type=float, default=10, help="pause before sampling")
    p.add_argument("--keep-log", type=Path, help="copy the controller's log here")
    p.add_argument("--json", type=Path, help="also write every sample and the metadata here")
    return p.parse_args(argv)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.idle_window > 0:
        try:
            import psutil  # noqa: F401
        except ImportError:
            sys.exit("psutil is missing: .venv/bin/pip install psutil (bench only)")
    if os.geteuid() != 0:
        sys.exit("starting private dockerds needs root")
    api = docker.APIClient(version="auto", timeout=60)
    try:
        engine_version = str(api.version().get("Version", "?"))
        if not api.images(name=IMAGE):
            sys.exit(f"image {IMAGE} is missing: run scripts/base-image.sh")
    finally:
        api.close()
    if found := leftovers():
        log(f"warning: daemons of an earlier run are still up (see bench/README.md): {found}")
    signal.signal(signal.SIGTERM, _sigterm)
    meta: dict[str, Any] = {
        "engine": engine_version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "concurrency": args.concurrency,
        "run_id": RUN_ID,
    }
    res = Results(args.engines, args.services)
    res.machine.append(machine("start"))
    t0 = time.perf_counter()
    error: BaseException | None = None
    try:
        with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{RUN_ID}-work-") as tmp:
            run(args, Path(tmp), res)
    except BaseException as exc:
        error = exc
        log(f"failed: {exc!r}")
    finally:
        log(f"destroying {len(STARTED)} engine(s)")
        destroy_all()
    meta["total_seconds"] = time.perf_counter() - t0
    print()
    print(markdown(res, meta))
    for note in NOTES:
        print(f"\nNote: {note}")
    if args.json:
        payload = {
            "meta": meta,
            "results": asdict(res),
            "notes": NOTES,
            "error": repr(error) if error else None,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
        log(f"wrote {args.json}")
    if error is not None:
        raise error
    return 0


if __name__ == "__main__":
    sys.exit(main())
