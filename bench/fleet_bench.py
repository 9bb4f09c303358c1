"""Many engines at once: apply one app placed `mode: global` on K private dockerds.

Measures, in one run: the whole fleet from scratch, the slowest single engine doing
its share alone, a no-op re-apply across all, and tears everything down.
Run by hand: .venv/bin/python bench/fleet_bench.py --engines 4 --services 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dockyard.engine.client import Engine
from dockyard.fleet.converge import apply_fleet, connect_fleet, plan_fleet
from dockyard.spec.load import load_paths
from engine_instance import PrivateEngine

BASE = "dockyard.local/busybox:latest"


def write(folder: Path, engines: dict[str, PrivateEngine], services: int, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.yaml").write_text(
        "---\n".join(
            f"apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
            f"metadata: {{name: {h}, labels: {{role: bench}}}}\nspec: {{url: '{e.url}'}}\n"
            for h, e in engines.items()
        )
    )
    svc = "".join(
        textwrap.dedent(
            f"""\
                - name: s{i:03d}
                  image: {BASE}
                  pullPolicy: Never
                  command: [sleep, "3600"]
                  init: true
                  stopGracePeriod: 1s
                  labels: {{dev.dockyard.bench: "1"}}
            """
        )
        for i in range(services)
    )
    (folder / "app.yaml").write_text(
        f"apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec:\n"
        "  placement:\n    hostSelector: {matchLabels: {role: bench}}\n    mode: global\n"
        "  services:\n" + textwrap.indent(svc, "  ")
    )


def converge(folder: Path) -> tuple[float, int]:
    result = load_paths([folder])
    t0 = time.monotonic()
    fleet = connect_fleet(result.hosts, Engine())
    plans = plan_fleet(result.apps, fleet)
    outcomes = asyncio.run(apply_fleet(plans, fleet))
    ops = sum(len(r.results) for r in outcomes.values())
    assert all(r.ok for r in outcomes.values()), [r.failed[:1] for r in outcomes.values()]
    return time.monotonic() - t0, ops


def teardown(engines: dict[str, PrivateEngine]) -> None:
    import docker

    for engine in engines.values():
        client = docker.APIClient(base_url=engine.url, timeout=60)
        for c in client.containers(all=True, quiet=True):
            client.remove_container(c["Id"], force=True)
        for n in client.networks(filters={"label": "dev.dockyard.managed-by=dockyard"}):
            client.remove_network(n["Id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", type=int, default=4)
    parser.add_argument("--services", type=int, default=50)
    args = parser.parse_args()
    engines: dict[str, PrivateEngine] = {}
    tmp = Path(tempfile.mkdtemp(prefix="dyfleet-"))
    try:
        for i in range(args.engines):
            engine = PrivateEngine()
            engine.start()
            engine.load_base_image()
            engines[f"e{i:02d}"] = engine
        alone = []
        for host in list(engines)[: min(3, len(engines))]:
            write(tmp / f"alone-{host}", {host: engines[host]}, args.services, "fleetbench")
            seconds, _ = converge(tmp / f"alone-{host}")
            alone.append(seconds)
            teardown({host: engines[host]})
        write(tmp / "all", engines, args.services, "fleetbench")
        total, ops = converge(tmp / "all")
        noops = [converge(tmp / "all")[0] for _ in range(5)]
        slowest = max(alone)
        print(
            f"| engines | containers | fleet from scratch | slowest engine alone | ratio "
            f"| no-op across all (median of 5) |\n|---|---|---|---|---|---|\n"
            f"| {len(engines)} | {len(engines) * args.services} | {total:.2f} s ({ops} ops) "
            f"| {slowest:.2f} s | {total / slowest:.2f}x | {statistics.median(noops):.3f} s |"
        )
    finally:
        teardown(engines)
        for engine in engines.values():
            engine.destroy()


if __name__ == "__main__":
    main()
