"""Edge fleet over MQTT: fan-out time and agent footprint.

    .venv/bin/python bench/mqtt_bench.py [--agents 50] [--idle 20]

With a real Mosquitto (TLS, passwords, the examples/edge ACL) on 127.0.0.1 and the main
engine (each agent its own app, networkMode none):

1. first sync: `dockyard run --broker` (in-process) + N in-process agents, from start to
   every agent reporting converged (as the publisher sees their status);
2. fan-out: one manifest edit that changes every agent's app, until all N agents report
   converged at the new revision;
3. idle agent: one `dockyard agent` process with one app on its own private dockerd (a
   quiet device), converged, then CPU seconds and RSS over --idle seconds.

Everything it creates is labelled with its app names and removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import docker  # noqa: E402
import yaml  # noqa: E402

from engine_instance import private_engines  # noqa: E402
from helpers import DOCKYARD  # noqa: E402
from manifests import service  # noqa: E402
from mqtt_fixtures import Broker, agent_host, on_agent, publish, run_agent, run_publisher  # noqa: E402


def app_doc(name: str, value: str) -> dict[str, Any]:
    svc = service("web", env=[{"name": "V", "value": value}], networkMode="none")
    return {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {"services": [svc]},
    }


def write_fleet(folder: Path, names: list[str], value: str) -> None:
    docs: list[dict[str, Any]] = [agent_host(f"edge-{i}") for i in range(1, len(names) + 1)]
    docs += [on_agent(app_doc(n, value), f"edge-{i}") for i, n in enumerate(names, 1)]
    tmp = folder / ".fleet.yaml.tmp"
    tmp.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    tmp.replace(folder / "fleet.yaml")


async def wait_for(predicate: Any, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError("did not converge")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def fan_out(broker: Broker, work: Path, names: list[str]) -> dict[str, float]:
    src = work / "src"
    src.mkdir()
    write_fleet(src, names, "one")
    results: dict[str, float] = {}
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        _, pub = await stack.enter_async_context(run_publisher(broker, src, work / "controller"))
        for i in range(1, len(names) + 1):
            await stack.enter_async_context(
                run_agent(broker, f"edge-{i}", work / f"agent-{i}", heartbeat=30.0)
            )

        def all_at(revision_of: dict[str, int] | None) -> bool:
            view = pub.view()
            if len(view) != len(names):
                return False
            for host, v in view.items():
                want = pub.published.get(v["agent"], {}).get("revision")
                if not v["converged"] or v["revision"] != want:
                    return False
                if revision_of is not None and v["revision"] <= revision_of[host]:
                    return False
            return True

        await wait_for(lambda: all_at(None), 300)
        results["first_sync_s"] = time.monotonic() - started
        before = {h: v["revision"] for h, v in pub.view().items()}
        edit = time.monotonic()
        write_fleet(src, names, "two")
        await wait_for(lambda: all_at(before), 300)
        results["fan_out_s"] = time.monotonic() - edit
    return results


def proc_sample(pid: int) -> tuple[float, int]:
    """(CPU seconds used so far, RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return cpu, rss


async def idle_agent(broker: Broker, work: Path, name: str, idle: float) -> dict[str, float]:
    """On a private dockerd: a quiet device, not the shared engine other runs make noise on
    (every event there makes an agent's cache relist)."""
    with private_engines("idle") as engines:
        return await _idle_agent(broker, work, name, idle, engines["idle"].url)


async def _idle_agent(
    broker: Broker, work: Path, name: str, idle: float, engine_url: str
) -> dict[str, float]:
    desired = {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "AgentDesiredState",
        "agent": "edge-50",
        "revision": 1,
        "apps": [app_doc(name, "idle")],
    }
    await publish(broker, "controller", "dockyard/agents/edge-50/desired", desired)
    agent = subprocess.Popen(
        [
            str(DOCKYARD), "agent", "--broker", broker.url, "--id", "edge-50",
            "--state-dir", str(work / "idle-agent"), "--ca-file", str(broker.ca_file),
            "--log-level", "warning", "-H", engine_url,
        ],
        env={**os.environ, "DOCKYARD_MQTT_PASSWORD": broker.users["edge-50"]},
    )  # fmt: skip
    client = docker.DockerClient(base_url=engine_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = client.containers.list(filters={"name": f"{name}-web-1"})
            if found and found[0].status == "running":
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # settle: first relist, first status
        cpu0, _ = proc_sample(agent.pid)
        peak = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < idle:
            await asyncio.sleep(1)
            peak = max(peak, proc_sample(agent.pid)[1])
        cpu1, rss = proc_sample(agent.pid)
        return {
            "idle_cpu_percent": 100 * (cpu1 - cpu0) / (time.monotonic() - t0),
            "rss_mb": rss / 2**20,
            "peak_rss_mb": peak / 2**20,
        }
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        client.close()


def cleanup(names: list[str]) -> None:
    client = docker.from_env()
    for name in names:
        for c in client.containers.list(all=True, filters={"label": f"dev.dockyard.app={name}"}):
            c.remove(force=True)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    stamp = f"mqb{os.getpid()}"
    names = [f"{stamp}-{i}" for i in range(1, args.agents + 1)]
    idle_name = f"{stamp}-idle"
    with tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp:
        work = Path(tmp)
        broker = Broker(work / "broker")
        broker.folder.mkdir()
        users = {"controller": "controller-pw"}
        users.update({f"edge-{i}": f"pw-{i}" for i in range(1, max(args.agents, 50) + 1)})
        broker.setup(users)
        broker.start()
        try:
            results = asyncio.run(fan_out(broker, work, names))
            cleanup(names)
            results.update(asyncio.run(idle_agent(broker, work, idle_name, args.idle)))
        finally:
            broker.stop()
            cleanup([*names, idle_name])
    print(f"agents: {args.agents}")
    for key, value in results.items():
        print(f"{key}: {value:.2f}")


if __name__ == "__main__":
    main()
