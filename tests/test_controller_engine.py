"""`dockyard run`, the continuous controller, against a real Docker engine.

Most tests drive a Controller in-process (it shares the test's event loop); the ones about
the process itself (HTTP endpoints, logs, signals, kill -9) run `dockyard run`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker import DockerClient

import dockyard.controller.planning as planning_module
from cleanup import remove_app
from controller_fixtures import (
    DockyardRun,
    condition,
    containers,
    dockyard_run,
    is_ready,
    reconciles,
    run_controller,
    running,
    settle,
    state,
)
from helpers import APP_LABEL, BASE_IMAGE, DOCKYARD, TEST_LABELS, unique_name
from manifests import manifest, service, write
from waiting import eventually

pytestmark = pytest.mark.engine


@pytest.fixture
def other_app(docker_client: DockerClient) -> Iterator[str]:
    """A second unique App name, cleaned up like `app_name`."""
    name = unique_name("t")
    yield name
    remove_app(docker_client, name)


def web_app(app: str, mode: str = "one", **fields: object) -> str:
    """One long-running service on its own network, with a named volume."""
    return manifest(
        app,
        [
            service(
                "web",
                env=[{"name": "MODE", "value": mode}],
                networks=[{"name": "backend"}],
                volumeMounts=[{"volume": "data", "mountPath": "/data"}],
                **fields,
            )
        ],
        volumes=("data",),
        networks=("backend",),
    )


def started_at(client: DockerClient, name: str) -> str:
    return str(state(client, name)["StartedAt"])


# ---- the folder source ---------------------------------------------------------------


async def test_new_manifest_file_is_applied(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    async with run_controller(folder, tmp_path / "state") as controller:
        write(folder, "web.yaml", web_app(app_name))
        await eventually(lambda: is_ready(controller, app_name))
        assert running(docker_client, f"{app_name}-web-1")
        assert docker_client.volumes.get(f"{app_name}_data")
        assert docker_client.networks.get(f"{app_name}_backend")


async def test_edited_manifest_replaces_only_the_changed_service(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"

    def two_services(mode: str) -> str:
        return manifest(
            app_name,
            [service("a"), service("b", env=[{"name": "MODE", "value": mode}])],
        )

    write(folder, "app.yaml", two_services("one"))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        before = {n: c.id for n, c in containers(docker_client, app_name).items()}

        write(folder, "app.yaml", two_services("two"))

        def b_replaced() -> bool:
            b = docker_client.containers.get(f"{app_name}-b-1")
            return "MODE=two" in b.attrs["Config"]["Env"] and b.status == "running"

        await eventually(b_replaced)
        await settle(controller)
        assert is_ready(controller, app_name)
        after = {n: c.id for n, c in containers(docker_client, app_name).items()}
        assert after[f"{app_name}-a-1"] == before[f"{app_name}-a-1"]
        assert after[f"{app_name}-b-1"] != before[f"{app_name}-b-1"]
        assert sorted(after) == sorted(before)


async def test_deleted_manifest_removes_containers_and_keeps_named_volumes(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    path = write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        path.unlink()
        await eventually(lambda: containers(docker_client, app_name) == {})
        await eventually(lambda: app_name not in controller.apps)
    assert docker_client.volumes.get(f"{app_name}_data")


async def test_deleted_manifest_keeps_containers_without_prune(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    path = write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state", prune=False, resync=0.2) as controller:
        await eventually(lambda: is_ready(controller, app_name))
        web = docker_client.containers.get(f"{app_name}-web-1")
        path.unlink()
        await eventually(lambda: app_name not in controller.apps)
        relists = controller.cache.relists
        await eventually(lambda: controller.cache.relists >= relists + 3)  # a few resyncs
        await settle(controller)
    assert docker_client.containers.get(f"{app_name}-web-1").id == web.id
    assert running(docker_client, f"{app_name}-web-1")


# ---- drift repair --------------------------------------------------------------------


async def test_killed_container_runs_again(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        name = f"{app_name}-web-1"
        before = started_at(docker_client, name)
        docker_client.containers.get(name).kill()
        await eventually(
            lambda: running(docker_client, name) and started_at(docker_client, name) != before
        )
        await settle(controller)
        assert is_ready(controller, app_name)


async def test_stopped_container_is_started_again(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        name = f"{app_name}-web-1"
        web = docker_client.containers.get(name)
        web.stop(timeout=1)  # Docker itself never restarts a container stopped by hand
        await eventually(lambda: running(docker_client, name))
        assert docker_client.containers.get(name).id == web.id
        await eventually(lambda: controller.apps[app_name].status.driftRepairs == 1)
        await settle(controller)
        assert is_ready(controller, app_name)


async def test_removed_container_is_recreated(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        name = f"{app_name}-web-1"
        old = docker_client.containers.get(name).id
        docker_client.api.remove_container(name, force=True)
        await eventually(lambda: docker_client.containers.get(name).id != old)
        await eventually(lambda: running(docker_client, name))
        await eventually(lambda: controller.apps[app_name].status.driftRepairs >= 1)
        await settle(controller)
        assert is_ready(controller, app_name)


async def test_renamed_container_is_replaced_by_the_desired_name(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        name = f"{app_name}-web-1"
        docker_client.containers.get(name).rename(f"{app_name}-renamed")
        await eventually(lambda: running(docker_client, name))
        await eventually(lambda: sorted(containers(docker_client, app_name)) == [name])
        await settle(controller)
        assert is_ready(controller, app_name)


async def test_container_recreated_by_hand_with_other_env_is_replaced(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        name = f"{app_name}-web-1"
        web = docker_client.containers.get(name)
        labels = web.labels  # config-hash included: the labels claim nothing changed
        # Blocking calls with no await between them: the controller sees the swap at once.
        web.remove(force=True)
        forged = docker_client.containers.run(
            BASE_IMAGE,
            ["sleep", "3600"],
            name=name,
            labels=labels,
            environment={"MODE": "forged"},
            network=f"{app_name}_backend",
            init=True,
            detach=True,
        )

        def replaced() -> bool:
            now = docker_client.containers.get(name)
            return now.id != forged.id and now.status == "running"

        await eventually(replaced)
        now = docker_client.containers.get(name)
        assert "MODE=one" in now.attrs["Config"]["Env"]
        await settle(controller)
        assert is_ready(controller, app_name)


async def test_removed_network_is_recreated(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        network = docker_client.networks.get(f"{app_name}_backend")
        docker_client.api.remove_container(f"{app_name}-web-1", force=True)
        network.remove()

        def network_back() -> bool:
            now = docker_client.networks.get(f"{app_name}_backend")
            return now.id != network.id

        await eventually(network_back)
        await settle(controller)
        assert is_ready(controller, app_name)
        web = docker_client.containers.get(f"{app_name}-web-1")
        assert f"{app_name}_backend" in web.attrs["NetworkSettings"]["Networks"]


async def test_removed_volume_is_recreated(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        volume = docker_client.volumes.get(f"{app_name}_data")
        docker_client.api.remove_container(f"{app_name}-web-1", force=True)
        volume.remove()
        await eventually(lambda: docker_client.volumes.get(f"{app_name}_data"))
        await settle(controller)
        assert is_ready(controller, app_name)
        web = docker_client.containers.get(f"{app_name}-web-1")
        mounts = {m.get("Name") for m in web.attrs["Mounts"]}
        assert f"{app_name}_data" in mounts


async def test_unlabelled_containers_are_never_touched(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    strangers = [
        docker_client.containers.run(
            BASE_IMAGE,
            ["sleep", "60"],
            name=name,
            labels=TEST_LABELS,
            init=True,
            network_mode="none",
            detach=True,
        )
        for name in (unique_name("stranger"), f"{app_name}-stranger-1")
    ]
    try:
        folder = tmp_path / "apps"
        write(folder, "web.yaml", web_app(app_name))
        async with run_controller(folder, tmp_path / "state", resync=0.2) as controller:
            await eventually(lambda: is_ready(controller, app_name))
            docker_client.api.remove_container(f"{app_name}-web-1", force=True)  # some drift
            await eventually(lambda: running(docker_client, f"{app_name}-web-1"))
            relists = controller.cache.relists
            await eventually(lambda: controller.cache.relists >= relists + 3)
            await settle(controller)
        for stranger in strangers:
            assert docker_client.containers.get(stranger.name).id == stranger.id
            assert running(docker_client, stranger.id)
    finally:
        for stranger in strangers:
            stranger.remove(force=True)


# ---- the cache ---------------------------------------------------------------------------


async def test_noop_reconcile_makes_no_engine_call(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        await settle(controller)
        requests = controller.engine.requests
        count = controller.apps[app_name].status.reconciles
        for _ in range(3):
            await controller.reconcile(app_name)
        assert controller.apps[app_name].status.reconciles == count + 3
        assert controller.engine.requests == requests


async def test_engine_event_reconciles_only_the_owning_app(
    docker_client: DockerClient, app_name: str, other_app: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "a.yaml", web_app(app_name))
    write(folder, "b.yaml", web_app(other_app))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name) and is_ready(controller, other_app))
        await settle(controller)
        mine, others = reconciles(controller, app_name), reconciles(controller, other_app)
        docker_client.api.remove_container(f"{app_name}-web-1", force=True)
        await eventually(lambda: running(docker_client, f"{app_name}-web-1"))
        await settle(controller)
        assert reconciles(controller, app_name) > mine
        assert reconciles(controller, other_app) == others


async def test_unlabelled_container_events_reconcile_only_the_app_its_name_could_squat(
    docker_client: DockerClient, app_name: str, other_app: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "a.yaml", web_app(app_name))
    write(folder, "b.yaml", web_app(other_app))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name) and is_ready(controller, other_app))
        await settle(controller)
        mine, others = reconciles(controller, app_name), reconciles(controller, other_app)
        # Both app names start with "t-", as does this stranger's; only the first app could
        # ever want a container of this name.
        stranger = docker_client.containers.create(
            BASE_IMAGE, ["sleep", "60"], name=f"{app_name}-web-2", labels=TEST_LABELS
        )
        try:
            await eventually(lambda: reconciles(controller, app_name) > mine)
            await settle(controller)
            assert reconciles(controller, other_app) == others
        finally:
            stranger.remove(force=True)


# ---- restart policies ------------------------------------------------------------------


async def test_completed_one_shot_stays_completed(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    job = service("job", ["sh", "-c", "echo done"], restart="no")
    write(folder, "job.yaml", manifest(app_name, [job]))
    async with run_controller(folder, tmp_path / "state", resync=0.2) as controller:
        name = f"{app_name}-job-1"
        await eventually(lambda: state(docker_client, name)["Status"] == "exited")
        first = state(docker_client, name)
        assert first["ExitCode"] == 0
        await settle(controller)
        assert is_ready(controller, app_name)
        count = controller.apps[app_name].status.reconciles
        await eventually(lambda: controller.apps[app_name].status.reconciles >= count + 3)
        await settle(controller)
        assert state(docker_client, name) == first  # not started again, not recreated
        assert is_ready(controller, app_name)


async def test_on_failure_is_left_to_docker_and_its_retry_limit(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    job = service("job", ["sh", "-c", "exit 3"], restart="on-failure:2")
    write(folder, "job.yaml", manifest(app_name, [job]))
    async with run_controller(folder, tmp_path / "state", resync=0.2) as controller:
        name = f"{app_name}-job-1"

        def gave_up() -> bool:
            inspected = docker_client.api.inspect_container(name)
            return inspected["RestartCount"] == 2 and inspected["State"]["Status"] == "exited"

        await eventually(gave_up)
        last = state(docker_client, name)
        assert last["ExitCode"] == 3
        count = controller.apps[app_name].status.reconciles
        await eventually(lambda: controller.apps[app_name].status.reconciles >= count + 3)
        await settle(controller)
        assert docker_client.api.inspect_container(name)["RestartCount"] == 2
        assert state(docker_client, name) == last


async def test_unhealthy_container_is_restarted_with_growing_backoff(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    # Healthy for 2 s after its first start, then never again: every restart finds /tmp/ok
    # gone (a restart keeps the container's filesystem) and the healthcheck fails at once.
    script = (
        "if [ -e /tmp/started ]; then exec sleep 3600; fi; "
        "touch /tmp/started /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 3600"
    )
    flaky = service(
        "flaky",
        ["sh", "-c", script],
        restartWhenUnhealthy=True,
        healthcheck={"test": ["CMD", "test", "-f", "/tmp/ok"], "interval": "1s", "retries": 1},
    )
    folder = tmp_path / "apps"
    write(folder, "flaky.yaml", manifest(app_name, [flaky]))
    async with run_controller(
        folder, tmp_path / "state", backoff_base=1, backoff_max=4
    ) as controller:
        await eventually(lambda: controller.apps[app_name].status.services[0].healthy == 1)
        times: list[float] = []
        seen = 0
        reasons: dict[int, str] = {}

        def restarted(n: int) -> bool:
            nonlocal seen
            restarts = controller.apps[app_name].status.restarts
            while seen < restarts:
                seen += 1
                times.append(time.monotonic())
                reasons[seen] = condition(controller, app_name, "Degraded")[1]
            return restarts >= n

        await eventually(lambda: restarted(4), timeout=30, interval=0.02)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Backoff 1 s, 2 s, 4 s (capped): the gaps grow, though never below the ~1.5 s it
        # takes a restarted container to turn unhealthy.
        assert gaps[-1] >= 3.5, gaps
        assert gaps[-1] > gaps[0] + 1.5, gaps
        assert all(g >= 0.9 for g in gaps), gaps
        assert reasons[1] != "CrashLoopBackOff"
        assert reasons[2] == "CrashLoopBackOff", reasons
        status, reason, message = condition(controller, app_name, "Degraded")
        assert (status, reason) == ("True", "CrashLoopBackOff")
        assert "flaky" in message


# ---- failures --------------------------------------------------------------------------


async def test_failing_app_backs_off_without_slowing_the_others(
    docker_client: DockerClient, app_name: str, other_app: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    broken = service("web", image="dockyard.local/absent:1")
    write(folder, "broken.yaml", manifest(other_app, [broken]))
    write(folder, "good.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state", retry_base=0.1, retry_max=2) as c:
        started = time.monotonic()
        await eventually(lambda: is_ready(c, app_name), timeout=10)
        assert time.monotonic() - started < 5
        good = reconciles(c, app_name)

        attempts: list[float] = []

        def failed_six_times() -> bool:
            count = c.apps[other_app].status.reconciles
            while len(attempts) < count:
                attempts.append(time.monotonic())
            return count >= 6

        await eventually(failed_six_times, timeout=15, interval=0.01)
        # Retries after 0.1 s, 0.2 s, 0.4 s, 0.8 s, 1.6 s: each wait about twice the last.
        gaps = [b - a for a, b in itertools.pairwise(attempts[-4:])]
        assert gaps[1] > 1.5 * gaps[0] and gaps[2] > 1.5 * gaps[1], gaps
        status, reason, message = condition(c, other_app, "Degraded")
        assert (status, reason) == ("True", "OperationFailed")
        assert "pullPolicy is Never" in message
        assert condition(c, other_app, "Ready")[0] == "False"
        # The healthy app was not reconciled again while the other one kept failing.
        assert reconciles(c, app_name) == good
        assert is_ready(c, app_name)


async def test_exception_in_one_reconcile_does_not_stop_the_loop(
    docker_client: DockerClient,
    app_name: str,
    other_app: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    real_plan = planning_module.plan_converge
    raised: list[str] = []

    def plan_failing_once(desired, *args, **kwargs):  # type: ignore[no-untyped-def]
        if desired.name == app_name and not raised:
            raised.append(desired.name)
            raise RuntimeError("planner bug")
        return real_plan(desired, *args, **kwargs)

    monkeypatch.setattr(planning_module, "plan_converge", plan_failing_once)
    folder = tmp_path / "apps"
    write(folder, "a.yaml", web_app(app_name))
    write(folder, "b.yaml", web_app(other_app))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name) and is_ready(controller, other_app))
        assert raised == [app_name]
        assert reconciles(controller, app_name, "error") == 1
        assert reconciles(controller, other_app, "error") == 0
        assert running(docker_client, f"{app_name}-web-1")
        # Still reacting to the engine afterwards.
        docker_client.api.remove_container(f"{app_name}-web-1", force=True)
        await eventually(lambda: running(docker_client, f"{app_name}-web-1"))


async def test_invalid_edit_keeps_the_last_good_state_until_fixed(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    write(folder, "web.yaml", web_app(app_name))
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name))
        web = docker_client.containers.get(f"{app_name}-web-1")

        write(folder, "web.yaml", web_app(app_name, mode="two", replicas=-1))

        def degraded() -> bool:
            return condition(controller, app_name, "Degraded")[:2] == ("True", "InvalidSpec")

        await eventually(degraded)
        message = condition(controller, app_name, "Degraded")[2]
        assert "replicas" in message
        await settle(controller)
        assert docker_client.containers.get(f"{app_name}-web-1").id == web.id
        assert running(docker_client, f"{app_name}-web-1")

        write(folder, "web.yaml", web_app(app_name, mode="fixed"))

        def fixed() -> bool:
            now = docker_client.containers.get(f"{app_name}-web-1")
            return "MODE=fixed" in now.attrs["Config"]["Env"] and now.status == "running"

        await eventually(fixed)
        await settle(controller)
        assert is_ready(controller, app_name)
        assert condition(controller, app_name, "Degraded")[:2] == ("False", "AsExpected")


# ---- the process: HTTP endpoints, logs, signals, kill -9 ---------------------------------


@pytest.fixture(scope="module")
def served(
    docker_client: DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DockyardRun, str]]:
    """One `dockyard run --log-format json` with one converged app, shared by the HTTP tests."""
    app = unique_name("t")
    root = tmp_path_factory.mktemp("served")
    write(root / "apps", "web.yaml", web_app(app))
    args = [str(root / "apps"), "--listen", "127.0.0.1:0", "--state-dir", str(root / "state")]
    try:
        with dockyard_run(*args, "--interval", "100ms", "--log-format", "json") as proc:
            asyncio.run(eventually(lambda: proc.ready(app), timeout=30))
            yield proc, app
    finally:
        remove_app(docker_client, app)


def test_healthz_and_readyz_answer_ok(served: tuple[DockyardRun, str]):
    proc, _ = served
    assert proc.get("/healthz") == (200, "ok\n")
    assert proc.get("/readyz") == (200, "ready\n")


def test_metrics_count_reconciles(served: tuple[DockyardRun, str]):
    proc, app = served
    code, body = proc.get("/metrics")
    assert code == 200
    lines = [line for line in body.splitlines() if line.startswith("dockyard_reconciles_total{")]
    mine = [line for line in lines if f'app="{app}"' in line and 'result="ok"' in line]
    assert mine and float(mine[0].rsplit(" ", 1)[1]) >= 1
    assert "dockyard_queue_depth" in body


def test_status_endpoint_has_conditions(served: tuple[DockyardRun, str]):
    proc, app = served
    st = proc.status()[app]
    conds = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    assert conds["Ready"] == ("True", "Converged")
    assert conds["Degraded"][0] == "False"
    assert st["services"][0]["desired"] == st["services"][0]["running"] == 1
    assert st["observedGeneration"] == st["revision"]


def test_json_log_lines_are_each_one_object(served: tuple[DockyardRun, str]):
    proc, app = served
    assert proc.lines
    entries = [json.loads(line) for line in list(proc.lines)]
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    assert any(app in e["message"] for e in entries)


def test_status_command_shows_the_controllers_view(served: tuple[DockyardRun, str]):
    proc, app = served
    url = f"http://127.0.0.1:{proc.port}"
    result = subprocess.run(
        [str(DOCKYARD), "status", "--controller", url, "--state-dir", str(proc.state_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith(f"app {app}"))
    assert "ready=True" in line


def test_sigterm_exits_cleanly_and_leaves_containers_running(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    write(tmp_path / "apps", "web.yaml", web_app(app_name))
    args = [str(tmp_path / "apps"), "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s")]
    with dockyard_run(*args, "--interval", "100ms") as proc:
        asyncio.run(eventually(lambda: proc.ready(app_name), timeout=30))
        web = docker_client.containers.get(f"{app_name}-web-1")
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.log
        assert time.monotonic() - started < 5
    assert docker_client.containers.get(f"{app_name}-web-1").id == web.id
    assert running(docker_client, f"{app_name}-web-1")


def test_kill_9_at_random_moments_then_restart_converges(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    folder, state_dir = tmp_path / "apps", tmp_path / "state"
    names = [f"s{i:02d}" for i in range(20)]

    def big_app(generation: int) -> str:
        env = [{"name": "GENERATION", "value": str(generation)}]
        mounts = [{"volume": "data", "mountPath": "/data"}]
        return manifest(
            app_name,
            [service(n, env=env, volumeMounts=mounts if n == "s00" else []) for n in names],
            volumes=("data",),
        )

    args = [str(folder), "--listen", "127.0.0.1:0", "--state-dir", str(state_dir)]
    args += ["--interval", "100ms"]
    write(folder, "big.yaml", big_app(0))
    with dockyard_run(*args) as proc:
        asyncio.run(eventually(lambda: proc.ready(app_name), timeout=60))
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    marker = docker_client.containers.get(f"{app_name}-s00-1")
    assert marker.exec_run(["sh", "-c", "echo kept > /data/marker"]).exit_code == 0

    rng = random.Random(20240611)
    interrupted = 0
    for generation in range(1, 21):
        # Every start has a whole app to replace, so the kill lands in the middle of it.
        write(folder, "big.yaml", big_app(generation))
        with dockyard_run(*args) as proc:
            # Once it has started applying (however long a loaded machine takes to get
            # there), at a random moment of the apply.
            asyncio.run(eventually(lambda: "applying" in proc.log, timeout=60))
            time.sleep(rng.uniform(0.0, 1.5))
            proc.signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        # The low-level list: a container an interrupted removal is still deleting has no
        # inspect to give.
        left = docker_client.api.containers(all=True, filters={"label": f"{APP_LABEL}={app_name}"})
        interrupted += len(left) < len(names) or any(c["State"] != "running" for c in left)
    assert interrupted >= 5, "the kills should land in the middle of applies"

    with dockyard_run(*args) as proc:
        asyncio.run(eventually(lambda: proc.ready(app_name), timeout=90))
    found = containers(docker_client, app_name)
    wanted = {f"{app_name}-{n}-1" for n in names}
    assert set(found) == wanted
    # Nothing half-made under another name either, labelled or not.
    named = docker_client.containers.list(all=True, filters={"name": app_name})
    assert {c.name for c in named} == wanted
    for name, c in found.items():
        assert c.status == "running", name
        assert "GENERATION=20" in c.attrs["Config"]["Env"], name
    s00 = docker_client.containers.get(f"{app_name}-s00-1")
    assert s00.exec_run(["cat", "/data/marker"]).output.decode().strip() == "kept"
