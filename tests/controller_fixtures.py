"""Running the controller in tests: in-process or as a `dockyard run` process, and waiting on it.

In-process controllers share the test's event loop, so a test that drives Docker with
blocking SDK calls (and no `await` between them) changes the engine atomically as far as
the controller can tell: it cannot react half-way through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from docker import DockerClient
from docker.models.containers import Container

from dockyard.controller.reconciler import Controller, Settings
from dockyard.engine.client import Engine
from dockyard.sources.folder import FolderSource
from helpers import APP_LABEL, DOCKYARD
from waiting import eventually

# ---- the engine as tests see it ------------------------------------------------------


def containers(client: DockerClient, app: str) -> dict[str, Container]:
    """Every container labelled with `app`, by name (stopped ones too)."""
    found = client.containers.list(all=True, filters={"label": f"{APP_LABEL}={app}"})
    return {c.name: c for c in found}


def ids(client: DockerClient, app: str) -> dict[str, str]:
    """name -> container id of every container of `app`: to tell kept from replaced."""
    return {name: c.id for name, c in containers(client, app).items()}


def state(client: DockerClient, name: str) -> dict[str, Any]:
    """The `State` of a container, freshly inspected."""
    return dict(client.api.inspect_container(name)["State"])


def running(client: DockerClient, name: str) -> bool:
    return bool(state(client, name)["Running"])


def env_of(client: DockerClient, container: str) -> dict[str, str]:
    """The environment a container was created with, as a dict."""
    env = client.api.inspect_container(container)["Config"]["Env"] or []
    return dict(e.split("=", 1) for e in env)


# ---- an in-process controller ------------------------------------------------------------


@contextlib.asynccontextmanager
async def run_controller(
    folder: Path, state_dir: Path, **settings: Any
) -> AsyncIterator[Controller]:
    """A Controller watching `folder` (polled every 0.1 s), running as a task of this loop.

    Resync is off (10 min) unless a test asks for it: what it sees comes from events."""
    folder.mkdir(parents=True, exist_ok=True)
    settings.setdefault("resync", 600.0)
    settings.setdefault("retry_base", 0.2)
    settings.setdefault("retry_max", 2.0)
    engine = Engine()
    controller = Controller(
        engine, [FolderSource(folder, interval=0.1)], Settings(state_dir=state_dir, **settings)
    )
    task = asyncio.create_task(controller.run())
    try:
        await eventually(lambda: controller.ready or task.done())
        if task.done():
            task.result()  # it died: show why
        yield controller
    finally:
        await controller.stop(grace=10)
        await asyncio.wait_for(task, timeout=10)
        engine.close()


def condition(controller: Controller, app: str, type_: str) -> tuple[str, str, str]:
    """(status, reason, message) of one condition of an app, ("", "", "") when absent."""
    st = controller.apps.get(app)
    cond = st.status.condition(type_) if st is not None else None
    if cond is None:
        return ("", "", "")
    return (cond.status, cond.reason, cond.message)


def is_ready(controller: Controller, app: str) -> bool:
    """Ready, not degraded, and synced to the newest revision of its source."""
    st = controller.apps.get(app)
    wanted = controller.wanted.get(app)
    return (
        st is not None
        and wanted is not None
        and condition(controller, app, "Ready")[0] == "True"
        and condition(controller, app, "Degraded")[0] != "True"
        and st.status.observedGeneration == wanted.revision
    )


def is_idle(controller: Controller) -> bool:
    """Nothing queued, nothing being reconciled, no relist pending."""
    return (
        len(controller.queue) == 0
        and controller._busy == 0
        and not controller.cache._dirty.is_set()
    )


async def settle(controller: Controller, quiet: float = 0.3) -> None:
    """Wait until the controller has been idle for `quiet` seconds in a row."""
    since: float | None = None

    def quiet_long_enough() -> bool:
        nonlocal since
        if not is_idle(controller):
            since = None
            return False
        since = since or time.monotonic()
        return time.monotonic() - since >= quiet

    await eventually(quiet_long_enough)


def reconciles(controller: Controller, app: str, result: str = "ok") -> float:
    """The dockyard_reconciles counter of one app, as /metrics reports it."""
    value = controller.metrics.registry.get_sample_value(
        "dockyard_reconciles_total", {"app": app, "result": result}
    )
    return value or 0.0


# ---- `dockyard run` as a process ---------------------------------------------------------

_SERVING = re.compile(r"http://127\.0\.0\.1:(\d+)")


class DockyardRun:
    """`dockyard run ARGS…` as a child process; stderr is collected line by line."""

    def __init__(self, *args: str) -> None:
        self.args = [str(DOCKYARD), "run", *args]
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    @property
    def port(self) -> int | None:
        for line in list(self.lines):
            match = _SERVING.search(line)
            if match:
                return int(match.group(1))
        return None

    @property
    def state_dir(self) -> Path:
        args = self.args
        given = args[args.index("--state-dir") + 1] if "--state-dir" in args else None
        return Path(given or "/var/lib/dockyard/controller")

    @property
    def token(self) -> str | None:
        """The control port's bearer token, which the controller writes at start."""
        try:
            return (self.state_dir / "control.token").read_text().strip()
        except OSError:
            return None

    def get(self, path: str) -> tuple[int, str]:
        """(HTTP status, body) of GET `path` on the controller's loopback server."""
        if self.port is None:
            raise AssertionError(f"not serving yet; log so far:\n{self.log}")
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def status(self) -> dict[str, Any]:
        code, body = self.get("/status")
        assert code == 200, body
        return dict(json.loads(body))

    def ready(self, app: str) -> bool:
        """The app is Ready and synced to the newest revision it was given."""
        st = self.status().get(app)
        if st is None:
            return False
        conds = {c["type"]: c["status"] for c in st["conditions"]}
        return conds.get("Ready") == "True" and st["observedGeneration"] == st["revision"]

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        """Kill it (if a test left it running) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(timeout=10)


@contextlib.contextmanager
def dockyard_run(*args: str) -> Iterator[DockyardRun]:
    run = DockyardRun(*args)
    try:
        yield run
    finally:
        run.close()
