"""`dockyard hosts` and `dockyard status` on a large fleet: counts by state and the hosts
that need attention, not one line per host; `--all` for every line. No engine needed:
agent hosts are never connected to."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from dockyard.cli.common import console
from dockyard.cli.fleet import LIST_AT_MOST, show_agents_summary
from helpers import DOCKYARD, free_port


def inventory(path: Path, n: int) -> Path:
    docs = [
        {
            "apiVersion": "dockyard.dev/v1alpha1",
            "kind": "DockerHost",
            "metadata": {"name": f"dev-{i:05d}", "labels": {"site": f"s{i % 10}"}},
            "spec": {"agent": {"id": f"dev-{i:05d}"}},
        }
        for i in range(n)
    ]
    path.write_text(yaml.safe_dump_all(docs))
    return path


def hosts(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # No controller answers there, and no --broker: the agents' state is unknown.
    env = {**os.environ, "DOCKYARD_CONTROLLER": f"http://127.0.0.1:{free_port()}"}
    return subprocess.run(
        [str(DOCKYARD), "hosts", "-f", str(path), *extra],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_hosts_summarises_thousands_of_agent_hosts(tmp_path: Path) -> None:
    done = hosts(inventory(tmp_path / "hosts.yaml", 3_000))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "3000 hosts: 3000 unknown"
    assert len(lines) < 5 and "--broker" in done.stdout


def test_hosts_all_prints_every_host(tmp_path: Path) -> None:
    done = hosts(inventory(tmp_path / "hosts.yaml", 60), "--all")
    assert done.returncode == 0, done.stderr
    assert sum(1 for line in done.stdout.splitlines() if " agent:dev-" in line) == 60


def agent(revision: int | None, **fields: Any) -> dict[str, Any]:
    return {
        "online": True,
        "published": 3,
        "revision": revision,
        "converged": revision == 3,
        "lastReport": "2026-01-01T00:00:00Z",
        "apps": {},
        "pending": {},
        **fields,
    }


def test_the_failing_agents_are_listed_worst_first() -> None:
    view = {f"dev-{i:05d}": agent(3) for i in range(10_000)}
    view["dev-00007"] = agent(3, online=False)
    view["dev-00042"] = agent(2)  # still runs the previous revision
    view["dev-00100"] = agent(3, rejected={"revision": 4, "error": "apps[web]: bad image"})
    view["dev-00200"] = agent(3, pending={"web": "update lock held by ops"})
    for i in range(9_000, 9_000 + LIST_AT_MOST):
        view[f"dev-{i:05d}"] = agent(3, converged=False, apps={"web": {"converged": False}})
    with console.capture() as captured:
        show_agents_summary(view)
    lines = captured.get().splitlines()
    assert lines[0] == (
        f"10000 agents: 1 offline, 1 rejected, 1 behind, 1 waiting, "
        f"{LIST_AT_MOST} converging, {9_996 - LIST_AT_MOST} converged"
    )
    assert lines[1].split()[:2] == ["dev-00007", "offline"]
    assert lines[2].endswith("rejected  revision 4: apps[web]: bad image")
    assert lines[3].endswith("behind  runs revision 2, published 3")
    assert lines[4].endswith("waiting  web: update lock held by ops")
    assert len(lines) == 2 + LIST_AT_MOST
    assert lines[-1] == "  … and 4 more; --all lists every one"
