"""How long a rolling update takes against its floor: the sum of its monitor windows.

Run by hand (not part of pytest); see bench/README.md. It applies a service of
--replicas containers (busybox, no healthcheck unless --health), then times rolling it to a
new version with `update: {order: start-first, parallelism: P, monitor: M}` through the
same code `dockyard apply` uses (in-process: load, snapshot, plan_apps, converge). The
floor is ceil(replicas / parallelism) x monitor: what the update strategy asks to wait.
Overhead = (measured - floor) / floor. Repeated --runs times; the median is reported.

Everything it creates carries dev.dockyard.bench=1 and is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import yaml

from dockyard.apply.converge import converge, delete_app, plan_apps
from dockyard.engine.client import Engine
from dockyard.spec.load import load_paths

IMAGE = "dockyard.local/busybox:latest"
APP = "bench-rollout"


def manifest(version: int, args: argparse.Namespace) -> str:
    svc: dict[str, Any] = {
        "name": "web",
        "image": IMAGE,
        "pullPolicy": "Never",
        "command": ["sleep", "3600"],
        "init": True,
        "stopGracePeriod": "1s",
        "replicas": args.replicas,
        "env": [{"name": "VERSION", "value": str(version)}],
        "labels": {"dev.dockyard.bench": "1"},
        "update": {
            "order": "start-first",
            "parallelism": args.parallelism,
            "monitor": f"{args.monitor}s",
        },
    }
    if args.health:
        svc["healthcheck"] = {"test": ["CMD", "true"], "interval": "200ms", "retries": 1}
    doc = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": APP},
        "spec": {"services": [svc]},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def apply(engine: Engine, path: Path) -> float:
    loaded = load_paths([path]).apps
    started = time.monotonic()
    plans = plan_apps(loaded, engine.snapshot())
    result = asyncio.run(converge(engine, [p.work() for p in plans])).result
    took = time.monotonic() - started
    if not result.ok:
        sys.exit(f"apply failed: {[r.error for r in result.failed]} {result.rollout_failures}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--monitor", type=float, default=1.0, help="seconds")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--health", action="store_true", help="give the service a healthcheck")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    engine = Engine()
    floor = math.ceil(args.replicas / args.parallelism) * args.monitor
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.yaml"
        try:
            path.write_text(manifest(0, args))
            apply(engine, path)
            for run in range(1, args.runs + 1):
                path.write_text(manifest(run, args))
                times.append(apply(engine, path))
                print(f"run {run}: {times[-1]:.2f} s", file=sys.stderr)
        finally:
            asyncio.run(delete_app(engine, APP))
            client = docker.from_env()
            for c in client.containers.list(all=True, filters={"label": "dev.dockyard.bench=1"}):
                c.remove(force=True)
    median = statistics.median(times)
    report = {
        "replicas": args.replicas,
        "parallelism": args.parallelism,
        "monitor": args.monitor,
        "healthcheck": args.health,
        "runs": [round(t, 2) for t in times],
        "median_s": round(median, 2),
        "floor_s": floor,
        "overhead_pct": round(100 * (median - floor) / floor, 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{args.replicas} replicas, start-first, parallelism {args.parallelism}, "
            f"monitor {args.monitor:g}s{' + healthcheck' if args.health else ''}: "
            f"median {median:.2f} s vs floor {floor:.2f} s → overhead {report['overhead_pct']}%"
        )


if __name__ == "__main__":
    main()
