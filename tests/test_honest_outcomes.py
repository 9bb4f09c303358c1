"""Honest outcomes, `dockyard apply` and the controller (issue 16): each failure of
tests/honest_cases.py, injected for real, ends in a non-zero exit that names the reason, or
in Degraded=True with the reason and Ready not True; never in success.

- host-dark for `apply` is a DockerHost manifest whose engine is stopped (the fleet path:
  the single-engine `apply -H` to a stopped engine is 'engine unreachable', the same
  words as engine-restarting's);
- healthcheck-failing and container-exiting use `apply --wait`: without it, apply promises
  that its operations ran (as `docker compose up -d` does), and they did;
- secret-missing for the controller: the folder does not load, so nothing of it is
  applied, and the app that names the secret is Degraded, InvalidSpec, its message naming
  the file (a secret that goes missing later makes the app Degraded the same way, while its
  last good revision keeps running);
- engine-restarting for the controller stops the test host's dockerd while the app waits
  on its db's health, sees Degraded, then starts it again: the app converges honestly.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import manifests
from controller_fixtures import condition, is_ready, run_controller
from helpers import DOCKYARD
from honest_cases import (
    FAILURES,
    MISSING_IMAGE,
    ON_TEST_HOST,
    SECRET_VALUE,
    failing_spec,
    failure_host,
    host_doc,
    placed_on,
    port_held,
    wait_running,
)
from waiting import eventually

pytestmark = pytest.mark.engine

#: What `dockyard apply` says (in its output) for each failure.
APPLY_SAYS: dict[str, str | tuple[str, ...]] = {
    "image-missing": f"image {MISSING_IMAGE} is not on engine local and pullPolicy is Never",
    "port-taken": "address already in use",
    "healthcheck-failing": "{app}-web-1 (unhealthy)",
    "container-exiting": "{app}-web-1 exited (exit code 3)",
    "host-dark": "host edge is unreachable",
    # The engine went away under the wait (or, as it went, stopped the db first).
    "engine-restarting": ("cannot reach Docker engine", "-db-1 exited with code"),
    "secret-missing": "spec.secrets[token].file: cannot read secret file 'no-such-token.txt'",
    "disk-full": "no space left on device",
}

#: (Degraded reason, words in its message) the controller reports for each failure.
CONTROLLER_SAYS = {
    "image-missing": ("OperationFailed", f"image {MISSING_IMAGE} is not on engine"),
    "port-taken": ("OperationFailed", "address already in use"),
    "healthcheck-failing": ("Unhealthy", "{app}-web-1 is unhealthy"),
    "container-exiting": ("ContainerFailed", "{app}-web-1 exited (exit code 3)"),
    "host-dark": ("HostUnreachable", "host edge is unreachable"),
    "engine-restarting": ("HostUnreachable", "host edge is unreachable"),
    "disk-full": ("OperationFailed", "no space left on device"),
    "secret-missing": ("InvalidSpec", "app.yaml:"),
}


def _write(folder: Path, docs: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # A secret that is there, beside the one that is not: its value must never show.
    (folder / "present.txt").write_text(SECRET_VALUE)
    path = folder / "app.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def _docs(failure: str, app: str, port: int, engine: Any) -> list[dict[str, Any]]:
    services, spec = failing_spec(failure, port)
    services[0].setdefault("secrets", []).append({"name": "present"})
    spec["secrets"] = [*spec.get("secrets", []), {"name": "present", "file": "present.txt"}]
    docs = []
    if engine is not None:
        docs.append(host_doc("edge", engine))
        spec.update(placed_on("edge"))
    return [*docs, manifests.app(app, services, **spec)]


@pytest.mark.parametrize("failure", FAILURES)
def test_apply_exits_non_zero_and_names_the_reason(
    failure: str, app_name: str, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(port_held()) if failure == "port-taken" else 0
        engine = stack.enter_context(failure_host(failure)) if failure in ON_TEST_HOST else None
        # One engine, by -H, but for host-dark: a DockerHost among the manifests.
        on_host = engine if failure == "host-dark" else None
        path = _write(tmp_path / "apps", _docs(failure, app_name, port, on_host))
        args = [str(DOCKYARD), "apply", "-f", str(path)]
        if engine is not None and on_host is None:
            args += ["-H", engine.url]
        if failure in ("healthcheck-failing", "container-exiting"):
            args += ["--wait", "--timeout", "20s"]
        if failure == "host-dark":
            assert engine is not None
            engine.stop()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            if failure == "engine-restarting":
                assert engine is not None
                wait_running(engine, f"{app_name}-db-1")  # the apply waits on its health
                engine.stop()
                engine.start()
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 1, out
    says = APPLY_SAYS[failure]
    assert any(
        s.format(app=app_name) in out for s in (says if isinstance(says, tuple) else [says])
    ), out
    assert "unexpected error" not in out, out
    assert SECRET_VALUE not in out


@pytest.mark.parametrize("failure", FAILURES)
async def test_controller_is_degraded_with_the_reason_never_ready(
    failure: str, app_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(port_held()) if failure == "port-taken" else 0
        engine = stack.enter_context(failure_host(failure)) if failure in ON_TEST_HOST else None
        _write(tmp_path / "apps", _docs(failure, app_name, port, engine))
        if failure == "host-dark":
            assert engine is not None
            engine.stop()
        async with run_controller(tmp_path / "apps", tmp_path / "state") as controller:
            if failure == "engine-restarting":
                assert engine is not None
                await asyncio.to_thread(wait_running, engine, f"{app_name}-db-1")
                await asyncio.to_thread(engine.stop)
            reason, words = CONTROLLER_SAYS[failure]

            def degraded() -> bool:
                got = condition(controller, app_name, "Degraded")
                assert got[:2] == ("True", reason), f"Degraded is {got}"
                return True

            await eventually(degraded, timeout=60)
            message = condition(controller, app_name, "Degraded")[2]
            assert words.format(app=app_name) in message, message
            assert condition(controller, app_name, "Ready")[0] == "False"
            status = str(controller.statuses())
            assert SECRET_VALUE not in status
            if failure == "secret-missing":
                assert "cannot read secret file 'no-such-token.txt'" in message
                assert SECRET_VALUE not in caplog.text
            if failure == "engine-restarting":
                assert engine is not None
                await asyncio.to_thread(engine.start)  # back: it converges, honestly
                await eventually(lambda: is_ready(controller, app_name), timeout=60)
                assert condition(controller, app_name, "Degraded")[0] == "False"
