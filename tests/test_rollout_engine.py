"""Rolling updates against a real engine: batches, health-gated monitor, rollback, pause,
history and manual rollback, through the controller (in-process, as `dockyard run` runs it)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker import DockerClient

from controller_fixtures import (
    condition,
    containers,
    dockyard_run,
    ids,
    is_ready,
    run_controller,
    settle,
    state,
)
from helpers import APP_LABEL, BASE_IMAGE, DOCKYARD, TEST_LABEL
from manifests import app_doc, manifest, service, to_yaml, write
from waiting import eventually

pytestmark = pytest.mark.engine

GOOD_HEALTH = {"test": ["CMD", "true"], "interval": "300ms", "retries": 1}
BAD_HEALTH = {"test": ["CMD", "false"], "interval": "300ms", "timeout": "1s", "retries": 1}


def versions(client: DockerClient, app: str) -> dict[str, str]:
    """name -> VERSION of every container of the app's web service."""
    out = {}
    for name, c in containers(client, app).items():
        env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
        out[name] = env.get("VERSION", "")
    return out


@contextmanager
def health_sampler(client: DockerClient, app: str) -> Iterator[list[tuple[int, int]]]:
    """Samples (healthy containers, running containers) of the app every 50 ms, in a thread
    (the controller runs on the test's loop; the sampler must not wait for it)."""
    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            found = client.api.containers(all=True, filters={"label": f"{APP_LABEL}={app}"})
            healthy = sum(1 for c in found if "(healthy)" in c.get("Status", ""))
            running = sum(1 for c in found if c.get("State") == "running")
            samples.append((healthy, running))
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join(timeout=5)


async def test_start_first_rollout_never_drops_below_desired_healthy(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    update = {"order": "start-first", "parallelism": 1, "monitor": "500ms"}
    write(
        folder,
        "app.yaml",
        app_doc(app_name, "1", replicas=3, update=update, healthcheck=GOOD_HEALTH),
    )
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        await eventually(lambda: _count(docker_client, app_name)[0] == 3)
        before = ids(docker_client, app_name)
        with health_sampler(docker_client, app_name) as samples:
            started = time.monotonic()
            write(
                folder,
                "app.yaml",
                app_doc(app_name, "2", replicas=3, update=update, healthcheck=GOOD_HEALTH),
            )
            await eventually(
                lambda: (
                    set(versions(docker_client, app_name).values()) == {"2"}
                    and len(versions(docker_client, app_name)) == 3
                ),
                timeout=40,
            )
            await settle(controller)
            took = time.monotonic() - started
        assert is_ready(controller, app_name)
        after = ids(docker_client, app_name)
        assert sorted(after) == sorted(before)  # same names, new containers
        assert not set(after.values()) & set(before.values())
        # Never fewer healthy replicas than desired while it rolled.
        assert samples and min(h for h, _ in samples) >= 3, samples
        # One at a time, each watched for 0.5 s: it cannot have been all at once.
        assert took >= 3 * 0.5
        history = controller.history.get(app_name)
        assert [r.outcome for r in history.revisions] == ["complete", "complete"]
        assert history.current == 2
        assert "service web: env" in history.revisions[1].changes


def _count(client: DockerClient, app: str) -> tuple[int, int]:
    found = client.api.containers(all=True, filters={"label": f"{APP_LABEL}={app}"})
    healthy = sum(1 for c in found if "(healthy)" in c.get("Status", ""))
    return healthy, len(found)


async def test_failing_healthcheck_rolls_back_and_is_not_retried(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    update = {"order": "stop-first", "parallelism": 1, "monitor": "300ms"}
    write(
        folder,
        "app.yaml",
        app_doc(app_name, "1", replicas=2, update=update, healthcheck=GOOD_HEALTH),
    )
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        before = ids(docker_client, app_name)
        write(
            folder,
            "app.yaml",
            app_doc(app_name, "2", replicas=2, update=update, healthcheck=BAD_HEALTH),
        )

        def rolled_back() -> bool:
            return condition(controller, app_name, "Degraded")[1] == "RolledBack"

        await eventually(rolled_back, timeout=40)
        await eventually(
            lambda: (
                set(versions(docker_client, app_name).values()) == {"1"}
                and len(versions(docker_client, app_name)) == 2
            ),
            timeout=40,
        )
        await settle(controller)
        status, reason, message = condition(controller, app_name, "Degraded")
        assert (status, reason) == ("True", "RolledBack")
        assert "revision 2 failed" in message and "unhealthy" in message
        history = controller.history.get(app_name)
        assert [r.outcome for r in history.revisions] == ["complete", "rolled-back"]
        assert history.pin is not None and history.pin.revision == 1
        # The old containers were kept aside during the rollout and put back.
        kept = ids(docker_client, app_name)
        assert kept == before
        # The bad revision is not retried while the spec stays the same.
        controller.queue.add(app_name)
        await settle(controller, quiet=1.5)
        assert ids(docker_client, app_name) == kept
        # A new spec rolls out again, and the pin is gone.
        write(
            folder,
            "app.yaml",
            app_doc(app_name, "3", replicas=2, update=update, healthcheck=GOOD_HEALTH),
        )
        await eventually(
            lambda: set(versions(docker_client, app_name).values()) == {"3"}, timeout=40
        )
        await eventually(lambda: is_ready(controller, app_name), timeout=20)
        assert controller.history.get(app_name).pin is None
        assert controller.apps[app_name].status.appRevision == 3


async def test_exiting_container_rolls_back_start_first_keeping_old_containers(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    update = {"order": "start-first", "parallelism": 2, "monitor": "1s"}
    write(
        folder,
        "app.yaml",
        app_doc(app_name, "1", replicas=2, update=update, healthcheck=GOOD_HEALTH),
    )
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        before = ids(docker_client, app_name)
        crashing = app_doc(
            app_name,
            "2",
            replicas=2,
            update=update,
            command=["sh", "-c", "sleep 0.2; exit 3"],
            restart="no",
            healthcheck=None,
        )
        write(folder, "app.yaml", crashing)
        await eventually(
            lambda: condition(controller, app_name, "Degraded")[1] == "RolledBack", timeout=30
        )
        await settle(controller)
        message = condition(controller, app_name, "Degraded")[2]
        assert "exited with code 3" in message
        # start-first: the old containers kept running and took their names back.
        after = ids(docker_client, app_name)
        assert after == before
        assert all(c.status == "running" for c in containers(docker_client, app_name).values())


def second_one_fails(app: str, update: dict[str, Any]) -> str:
    """Version 2, whose second container to start turns unhealthy (the first is fine):
    each new container numbers itself through a shared volume ($$ is a literal $)."""
    count = (
        "mkdir -p /data/started; i=$$(ls /data/started | wc -l); touch /data/started/$$i; "
        "echo $$i > /tmp/order; exec sleep 3600"
    )
    doc = manifest(
        app,
        [
            service(
                "web",
                ["sh", "-c", count],
                env=[{"name": "VERSION", "value": "2"}],
                replicas=3,
                update=update,
                volumeMounts=[{"volume": "data", "mountPath": "/data"}],
                healthcheck={
                    "test": ["CMD-SHELL", "test $$(cat /tmp/order) -ne 1"],
                    "interval": "300ms",
                    "retries": 1,
                },
            )
        ],
        volumes=("data",),
    )
    return doc


async def test_pause_keeps_the_batches_that_passed_and_the_rest_old(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    update = {"order": "stop-first", "parallelism": 1, "monitor": "300ms", "failureAction": "pause"}
    write(
        folder,
        "app.yaml",
        app_doc(app_name, "1", replicas=3, update=update, healthcheck=GOOD_HEALTH),
    )
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        before = ids(docker_client, app_name)
        write(folder, "app.yaml", second_one_fails(app_name, update))
        await eventually(
            lambda: condition(controller, app_name, "Degraded")[1] == "RolloutPaused", timeout=30
        )
        await settle(controller, quiet=1.0)
        got = versions(docker_client, app_name)
        web = f"{app_name}-web"
        assert got == {f"{web}-1": "2", f"{web}-2": "1", f"{web}-3": "1"}, got
        after = ids(docker_client, app_name)
        assert after[f"{web}-2"] == before[f"{web}-2"]  # the failed one's old container is back
        assert after[f"{web}-3"] == before[f"{web}-3"]  # never touched
        assert controller.history.get(app_name).revisions[-1].outcome == "paused"
        assert condition(controller, app_name, "Degraded")[1] == "RolloutPaused"


async def test_rollback_puts_back_the_batches_that_had_passed(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    update = {"order": "start-first", "parallelism": 1, "monitor": "300ms"}
    write(
        folder,
        "app.yaml",
        app_doc(app_name, "1", replicas=3, update=update, healthcheck=GOOD_HEALTH),
    )
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        before = ids(docker_client, app_name)
        write(folder, "app.yaml", second_one_fails(app_name, update))
        await eventually(
            lambda: condition(controller, app_name, "Degraded")[1] == "RolledBack", timeout=30
        )
        await settle(controller, quiet=1.0)
        assert ids(docker_client, app_name) == before
        assert set(versions(docker_client, app_name).values()) == {"1"}
        assert all(c.status == "running" for c in containers(docker_client, app_name).values())


async def test_manual_rollback_and_history_survive_a_restart(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    state_dir = tmp_path / "state"
    update = {"order": "stop-first", "parallelism": 0, "monitor": "200ms"}
    write(
        folder,
        "app.yaml",
        app_doc(app_name, "1", replicas=1, update=update, healthcheck=GOOD_HEALTH),
    )
    async with run_controller(folder, state_dir) as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        write(
            folder,
            "app.yaml",
            app_doc(app_name, "2", replicas=1, update=update, healthcheck=GOOD_HEALTH),
        )
        await eventually(lambda: versions(docker_client, app_name) == {f"{app_name}-web-1": "2"})
        await settle(controller)
        with pytest.raises(ValueError, match="no revision 7"):
            controller.rollback(app_name, 7)
        message = controller.rollback(app_name)
        assert "revision 1" in message
        await eventually(lambda: versions(docker_client, app_name) == {f"{app_name}-web-1": "1"})
        await settle(controller)
        assert controller.apps[app_name].status.appRevision == 1
        kept = ids(docker_client, app_name)
    # A new controller reads the same state: it stays on revision 1, touching nothing.
    async with run_controller(folder, state_dir) as controller:
        await settle(controller, quiet=1.0)
        assert ids(docker_client, app_name) == kept
        history = controller.history.get(app_name)
        assert [r.number for r in history.revisions] == [1, 2]
        assert history.pin is not None and history.pin.revision == 1
        # Rolling "back" to what the source wants clears the pin and converges to it.
        controller.rollback(app_name, 2)
        await eventually(lambda: versions(docker_client, app_name) == {f"{app_name}-web-1": "2"})
        assert controller.history.get(app_name).pin is None


def test_history_and_rollback_commands_talk_to_dockyard_run(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder, state_dir = tmp_path / "apps", tmp_path / "state"
    update = {"order": "stop-first", "monitor": "200ms"}
    write(
        folder,
        "app.yaml",
        app_doc(app_name, "1", replicas=1, update=update, healthcheck=GOOD_HEALTH),
    )
    args = [str(folder), "--listen", "127.0.0.1:0", "--state-dir", str(state_dir)]
    with dockyard_run(*args, "--interval", "100ms") as proc:
        asyncio.run(eventually(lambda: proc.ready(app_name), timeout=30))
        write(
            folder,
            "app.yaml",
            app_doc(app_name, "2", replicas=1, update=update, healthcheck=GOOD_HEALTH),
        )
        asyncio.run(
            eventually(lambda: versions(docker_client, app_name) == {f"{app_name}-web-1": "2"})
        )
        url = f"http://127.0.0.1:{proc.port}"

        def cli(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(DOCKYARD), *argv, "--controller", url, "--state-dir", str(state_dir)],
                capture_output=True,
                text=True,
                timeout=30,
            )

        def two_revisions() -> bool:
            out = cli("history", app_name).stdout
            return "*2" in out and "complete" in out

        asyncio.run(eventually(two_revisions, timeout=20))
        shown = cli("history", app_name, "-o", "json")
        data = json.loads(shown.stdout)
        assert [r["revision"] for r in data["revisions"]] == [1, 2]
        assert data["revisions"][1]["changes"] == ["service web: env"]

        wrong = cli("rollback", app_name, "--to", "9")
        assert wrong.returncode == 1 and "no revision 9 (known: 1, 2)" in wrong.stderr

        done = cli("rollback", app_name)
        assert done.returncode == 0, done.stderr
        assert "rolling back to revision 1" in done.stdout
        asyncio.run(
            eventually(lambda: versions(docker_client, app_name) == {f"{app_name}-web-1": "1"})
        )
        asyncio.run(
            eventually(
                lambda: (
                    "pinned to revision 1" in (out := cli("history", app_name).stdout)
                    and "*1" in out
                )
            )
        )
    # With no controller running, history is read from the state folder.
    offline = subprocess.run(
        [
            str(DOCKYARD),
            "history",
            app_name,
            "--controller",
            "http://127.0.0.1:1",
            "--state-dir",
            str(state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert offline.returncode == 0, offline.stderr
    assert "*1" in offline.stdout and "pinned to revision 1" in offline.stdout


def test_dockyard_apply_rolls_out_and_puts_back_a_failing_batch(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    update = {"order": "start-first", "parallelism": 1, "monitor": "300ms"}
    path = tmp_path / "app.yaml"

    def apply(doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        path.write_text(to_yaml(doc))
        return subprocess.run(
            [str(DOCKYARD), "apply", "-f", str(path)], capture_output=True, text=True, timeout=120
        )

    assert (
        apply(app_doc(app_name, "1", replicas=2, update=update, healthcheck=GOOD_HEALTH)).returncode
        == 0
    )
    asyncio.run(eventually(lambda: _count(docker_client, app_name) == (2, 2), timeout=20))
    before = ids(docker_client, app_name)

    bad = apply(app_doc(app_name, "2", replicas=2, update=update, healthcheck=BAD_HEALTH))
    assert bad.returncode == 1
    assert "rollout failed" in bad.stderr and "became unhealthy" in bad.stderr
    assert "rolled back: the old containers run again" in bad.stderr
    assert ids(docker_client, app_name) == before
    assert set(versions(docker_client, app_name).values()) == {"1"}

    good = apply(app_doc(app_name, "3", replicas=2, update=update, healthcheck=GOOD_HEALTH))
    assert good.returncode == 0, good.stderr
    assert f"app {app_name}: service web: replacing {app_name}-web-1" in good.stdout
    assert versions(docker_client, app_name) == {f"{app_name}-web-1": "3", f"{app_name}-web-2": "3"}


def test_the_rollout_example_runs(docker_client: DockerClient, app_name: str, tmp_path: Path):
    example = Path(__file__).resolve().parents[1] / "examples" / "rollout"
    folder = tmp_path / "rollout"
    shutil.copytree(example, folder)
    app_file = folder / "app.yaml"
    app_file.write_text(app_file.read_text().replace("name: rollout-demo", f"name: {app_name}"))

    def apply(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DOCKYARD), "apply", "-f", str(folder)],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, **env},
        )

    first = apply()
    assert first.returncode == 0, first.stderr
    asyncio.run(eventually(lambda: _count(docker_client, app_name) == (3, 3), timeout=30))
    second = apply(VERSION="2")
    assert second.returncode == 0, second.stderr
    assert set(versions(docker_client, app_name).values()) == {"2"}
    broken = apply(VERSION="3", BREAK="1")
    assert broken.returncode == 1
    assert "rolled back" in broken.stderr
    assert set(versions(docker_client, app_name).values()) == {"2"}


def test_a_failed_build_leaves_the_running_containers_untouched(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    (tmp_path / "web").mkdir()
    dockerfile = tmp_path / "web" / "Dockerfile"
    update = {"order": "stop-first", "parallelism": 1, "monitor": "200ms"}
    doc = app_doc(app_name, "1", replicas=2, update=update, healthcheck=GOOD_HEALTH)
    web = doc["spec"]["services"][0]
    del web["pullPolicy"]
    web["image"] = f"dockyard.test/{app_name}"
    web["build"] = {"context": "./web"}
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(doc))

    def apply() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DOCKYARD), "apply", "-f", str(path)], capture_output=True, text=True, timeout=180
        )

    try:
        dockerfile.write_text(f"FROM {BASE_IMAGE}\nLABEL {TEST_LABEL}=1\nRUN echo one > /v\n")
        assert apply().returncode == 0
        before = ids(docker_client, app_name)
        started = {n: state(docker_client, n)["StartedAt"] for n in before}
        dockerfile.write_text(
            f"FROM {BASE_IMAGE}\nLABEL {TEST_LABEL}=1\nRUN echo broken-step; exit 3\n"
        )
        failed = apply()
        assert failed.returncode == 1
        assert "build" in failed.stderr and "broken-step" in failed.stderr + failed.stdout
        after = ids(docker_client, app_name)
        assert after == before
        # Never stopped, not even for a moment: the build ran before any container was touched.
        assert {n: state(docker_client, n)["StartedAt"] for n in before} == started
    finally:
        for c in containers(docker_client, app_name).values():
            c.remove(force=True)
        for image in docker_client.images.list(filters={"label": f"{TEST_LABEL}=1"}):
            if any(t.startswith(f"dockyard.test/{app_name}") for t in image.tags):
                docker_client.images.remove(image.id, force=True)
