"""Apply N services to a host that is another machine: over tcp with mutual TLS vs its unix
socket, the same engine, same run; and what a no-op apply of that host costs in requests.

The host is a test host of tests/engine_instance.py (its own network and mount namespace,
reached over a veth pair), so secrets and files travel through the engine API as they would
to any remote machine. Each service has a secret (copied into its container before start).
Run by hand (not part of pytest); numbers go to bench/README.md.

    .venv/bin/python bench/remote_bench.py --services 20 --repeat 3
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

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dockyard.engine.client import Engine  # noqa: E402
from dockyard.fleet.converge import apply_fleet, connect_fleet, plan_fleet  # noqa: E402
from dockyard.spec.load import load_paths  # noqa: E402
from engine_instance import PrivateEngine  # noqa: E402
from tls_certs import issue, make_ca  # noqa: E402

IMAGE = "dockyard.local/busybox:latest"


def manifests(folder: Path, url: str, tls: str, services: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token.txt").write_text("bench-secret-value")
    (folder / "hosts.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
        f"metadata: {{name: far, labels: {{role: far}}}}\nspec: {{url: '{url}'{tls}}}\n"
    )
    svc = "\n".join(
        textwrap.indent(
            textwrap.dedent(
                f"""\
                - name: s{i}
                  image: {IMAGE}
                  pullPolicy: Never
                  command: [sleep, "3600"]
                  init: true
                  stopGracePeriod: 1s
                  secrets: [{{name: token}}]
                """
            ),
            "    ",
        )
        for i in range(services)
    )
    (folder / "app.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {name: rb}\nspec:\n"
        "  placement: {hostSelector: {matchLabels: {role: far}}}\n"
        f"  secrets: [{{name: token, file: ./token.txt}}]\n  services:\n{svc}\n"
    )


def apply_once(folder: Path) -> tuple[float, int, bool]:
    """Seconds for load+observe+plan+apply, the remote engine's request count, success."""
    local = Engine()
    t0 = time.perf_counter()
    result = load_paths([folder])
    fleet = connect_fleet(result.hosts, local)
    plans = plan_fleet(result.apps, fleet)
    outcome = asyncio.run(apply_fleet(plans, fleet, concurrency=32))
    seconds = time.perf_counter() - t0
    requests = fleet.engines["far"].requests
    for engine in fleet.engines.values():
        engine.close()
    return seconds, requests, all(r.ok for r in outcome.values())


def clear(url: str) -> None:
    client = docker.APIClient(base_url=url, timeout=120)
    for c in client.containers(all=True, filters={"label": "dev.dockyard.app=rb"}):
        client.remove_container(c["Id"], force=True, v=True)
    for n in client.networks(filters={"label": "dev.dockyard.app=rb"}):
        client.remove_network(n["Id"])
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dy-remote-bench-") as tmp:
        work = Path(tmp)
        ca = make_ca(work / "pki", "bench")
        client = issue(ca, work / "pki", "client", server=False)
        engine = PrivateEngine(tls=ca, prefix="bench")
        try:
            engine.start()
            engine.load_base_image()
            tls = (
                f", tls: {{caFile: '{ca.cert}', certFile: '{client.cert}', "
                f"keyFile: '{client.key}'}}"
            )
            ways = {"unix socket": (engine.url, ""), "tcp + mutual TLS": (engine.tcp_url, tls)}
            rows: dict[str, tuple[float, float, int]] = {}
            for label, (url, tls_part) in ways.items():
                folder = work / label.replace(" ", "-")
                manifests(folder, str(url), tls_part, args.services)
                fresh, noop, calls = [], [], 0
                for _ in range(args.repeat):
                    clear(engine.url)
                    seconds, _, ok = apply_once(folder)
                    assert ok, f"apply over {label} failed"
                    fresh.append(seconds)
                    seconds, calls, ok = apply_once(folder)
                    assert ok, f"no-op apply over {label} failed"
                    noop.append(seconds)
                rows[label] = (statistics.median(fresh), statistics.median(noop), calls)
            clear(engine.url)
        finally:
            engine.destroy()
    print(f"{args.services} services, each with a secret copied in; medians of {args.repeat}")
    print(f"{'transport':<18} {'from scratch':>13} {'no-op':>8} {'no-op requests':>15}")
    for label, (fresh_s, noop_s, calls) in rows.items():
        print(f"{label:<18} {fresh_s:>12.2f}s {noop_s:>7.3f}s {calls:>15}")
    unix, tls_row = rows["unix socket"], rows["tcp + mutual TLS"]
    ratio = tls_row[0] / unix[0], tls_row[1] / unix[1]
    print(f"TLS / unix: from scratch {ratio[0]:.2f}x, no-op {ratio[1]:.2f}x")


if __name__ == "__main__":
    main()
