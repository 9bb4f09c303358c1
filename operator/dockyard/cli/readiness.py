"""`apply --wait`: waiting until every replica is up."""

from __future__ import annotations

from typing import Any

from .common import (
    console,
    fail,
)


def wait_ready(engine: Any, loaded: list[Any], timeout: float, quiet: bool) -> None:
    """`apply --wait`: every replica of every service up (healthy where it has a check)."""
    import time

    from dockyard.engine.errors import EngineError

    deadline = time.monotonic() + timeout
    said: set[str] = set()
    while True:
        try:
            observed = engine.snapshot()
        except EngineError as exc:
            raise fail(str(exc)) from None
        waiting: list[str] = []
        failed: list[str] = []  # one-shot replicas that exited non-zero: no waiting helps
        for item in loaded:
            running = observed.app_containers(item.name)
            for svc in item.app.spec.services:
                mine = {c.replica: c for c in running if c.service == svc.name}
                for n in range(1, svc.replicas + 1):
                    c = mine.get(n)
                    who = svc.container_name or f"{item.app.project}-{svc.name}-{n}"
                    if c is None:
                        waiting.append(f"{who} (not created)")
                    elif c.state == "exited" and c.exit_code == 0 and svc.restart == "no":
                        continue  # a one-shot job that finished
                    elif c.state == "exited" and svc.restart == "no":
                        failed.append(f"{who} exited (exit code {c.exit_code})")
                    elif c.state != "running":
                        waiting.append(f"{who} ({c.state})")
                    elif svc.healthcheck is not None and c.health != "healthy":
                        waiting.append(f"{who} ({c.health or 'no health yet'})")
        if failed:
            raise fail(f"{', '.join(failed)}: it is not run again (restart: no); see its logs")
        if not waiting:
            if not quiet:
                console.print("every replica is ready")
            return
        if time.monotonic() >= deadline:
            raise fail(f"not ready after {timeout:g}s: {', '.join(waiting)}")
        fresh = [w for w in waiting if w not in said]
        if fresh and not quiet:
            console.print(f"waiting for {', '.join(fresh)}")
            said.update(fresh)
        time.sleep(0.5)  # the engine's own health probes set the pace; polling is cheap
