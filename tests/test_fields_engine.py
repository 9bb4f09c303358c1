"""Each manifest field, honoured on a real engine as a user would check with docker inspect."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker import DockerClient

from dockyard_helpers import apply, plan
from helpers import BASE_IMAGE
from manifests import write

pytestmark = pytest.mark.engine

HEAD = """
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
"""


def manifest(name: str, body: str) -> str:
    return HEAD.format(name=name) + body


def test_secrets_are_files_on_tmpfs_never_env(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    (tmp_path / "token.txt").write_text("s3cr3t-value")
    path = write(
        tmp_path,
        "app.yaml",
        manifest(
            app_name,
            f"""
  services:
    - name: api
      image: {BASE_IMAGE}
      pullPolicy: Never
      user: "1000:1000"
      command: [sleep, "3600"]
      init: true
      secrets:
        - {{name: token, mountPath: /run/secrets/api-token}}
        - {{name: from-env}}
  secrets:
    - {{name: token, file: ./token.txt}}
    - {{name: from-env, env: OTHER_TOKEN}}
""",
        ),
    )
    applied = apply(path, environ={"OTHER_TOKEN": "env-secret"})
    assert applied.result.ok, applied.result.failed
    api = docker_client.containers.get(f"{app_name}-api-1")
    out = api.exec_run(["cat", "/run/secrets/api-token"], user="1000").output.decode()
    assert out == "s3cr3t-value"
    assert api.exec_run(["cat", "/run/secrets/from-env"]).output.decode() == "env-secret"
    mode = api.exec_run(["stat", "-c", "%a %u", "/run/secrets/api-token"]).output.decode()
    assert mode.split() == ["400", "1000"]
    # The value is nowhere in the engine's record of the container.
    assert "s3cr3t-value" not in str(api.attrs)
    assert "env-secret" not in str(api.attrs)
    assert not any("secret" in e.lower() for e in api.attrs["Config"]["Env"])
    # The host side is a tmpfs.
    source = next(
        m["Source"] for m in api.attrs["Mounts"] if m["Destination"].endswith("api-token")
    )
    with open("/proc/mounts") as mounts:
        tmpfs = [line.split()[1] for line in mounts if line.split()[2] == "tmpfs"]
    assert any(source.startswith(mp + "/") for mp in tmpfs)


def test_env_interpolation_and_env_files(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    (tmp_path / "app.env").write_text("# comment\nFROM_FILE=file\nOVERRIDDEN=file\n")
    (tmp_path / ".env").write_text("FROM_DOTENV=dotenv\n")
    path = write(
        tmp_path,
        "app.yaml",
        manifest(
            app_name,
            f"""
  services:
    - name: api
      image: {BASE_IMAGE}
      pullPolicy: Never
      command: [sleep, "3600"]
      init: true
      envFiles: [app.env]
      env:
        - {{name: OVERRIDDEN, value: entry}}
        - {{name: LEVEL, value: "${{LEVEL:-info}}"}}
        - {{name: REGION, value: "${{REGION}}"}}
        - {{name: DOTENV, value: "${{FROM_DOTENV}}"}}
        - {{name: PRICE, value: "$$5"}}
""",
        ),
    )
    assert apply(path, environ={"REGION": "eu"}).result.ok
    env = docker_client.containers.get(f"{app_name}-api-1").attrs["Config"]["Env"]
    for expected in (
        "FROM_FILE=file",
        "OVERRIDDEN=entry",
        "LEVEL=info",
        "REGION=eu",
        "DOTENV=dotenv",
        "PRICE=$5",
    ):
        assert expected in env


def test_container_settings_are_passed_to_the_engine(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.conf").write_text("setting=1\n")
    path = write(
        tmp_path,
        "app.yaml",
        manifest(
            app_name,
            f"""
  services:
    - name: api
      image: {BASE_IMAGE}
      pullPolicy: Never
      entrypoint: [sh, -c]
      command: ["echo started > /scratch/x && exec sleep 3600"]
      workingDir: /tmp
      user: "1000"
      hostname: api-host
      labels: {{tier: backend}}
      resources: {{cpus: 0.5, memory: 64Mi, pids: 100}}
      stopGracePeriod: 3s
      stopSignal: SIGINT
      readOnly: true
      capDrop: [NET_RAW]
      restart: on-failure:3
      healthcheck:
        test: "test -f /scratch/x"
        interval: 1s
        timeout: 1s
        retries: 2
        startPeriod: 2s
      volumeMounts:
        - {{hostPath: ./conf, mountPath: /etc/app, readOnly: true}}
        - {{tmpfs: {{size: 8Mi}}, mountPath: /scratch}}
        - {{mountPath: /cache}}
""",
        ),
    )
    assert apply(path).result.ok
    api = docker_client.containers.get(f"{app_name}-api-1")
    cfg, host = api.attrs["Config"], api.attrs["HostConfig"]
    assert cfg["Entrypoint"] == ["sh", "-c"]
    assert cfg["WorkingDir"] == "/tmp"
    assert cfg["User"] == "1000"
    assert cfg["Hostname"] == "api-host"
    assert cfg["Labels"]["tier"] == "backend"
    assert cfg["StopTimeout"] == 3
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /scratch/x"]
    assert cfg["Healthcheck"]["Interval"] == 1_000_000_000
    assert cfg["Healthcheck"]["StartPeriod"] == 2_000_000_000
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 64 * 2**20
    assert host["PidsLimit"] == 100
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["NET_RAW"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert api.exec_run(["cat", "/etc/app/app.conf"]).output.decode() == "setting=1\n"
    assert api.exec_run(["touch", "/etc/app/new"]).exit_code != 0  # read-only bind
    mounts = {m["Destination"]: m for m in api.attrs["Mounts"]}
    assert mounts["/cache"]["Type"] == "volume"  # anonymous volume
    assert api.exec_run(["cat", "/scratch/x"]).output.decode().strip() == "started"
    df = api.exec_run(["df", "-k", "/scratch"]).output.decode().splitlines()[-1].split()
    assert int(df[1]) == 8192  # tmpfs of 8Mi


@pytest.mark.parametrize(
    ("restart", "expected"),
    [
        ("no", {"Name": "no", "MaximumRetryCount": 0}),
        ("always", {"Name": "always", "MaximumRetryCount": 0}),
        ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
        ("on-failure", {"Name": "on-failure", "MaximumRetryCount": 0}),
        ("on-failure:5", {"Name": "on-failure", "MaximumRetryCount": 5}),
    ],
)
def test_restart_policies(
    docker_client: DockerClient, app_name: str, tmp_path: Path, restart: str, expected: dict
):
    path = write(
        tmp_path,
        "app.yaml",
        manifest(
            app_name,
            f"""
  services:
    - name: api
      image: {BASE_IMAGE}
      pullPolicy: Never
      command: [sleep, "3600"]
      init: true
      restart: {restart}
""",
        ),
    )
    assert apply(path).result.ok
    policy = docker_client.containers.get(f"{app_name}-api-1").attrs["HostConfig"]["RestartPolicy"]
    assert policy == expected


def test_network_modes_host_and_none(docker_client: DockerClient, app_name: str, tmp_path: Path):
    path = write(
        tmp_path,
        "app.yaml",
        manifest(
            app_name,
            f"""
  services:
    - name: hostnet
      image: {BASE_IMAGE}
      pullPolicy: Never
      command: [sleep, "3600"]
      init: true
      networkMode: host
    - name: isolated
      image: {BASE_IMAGE}
      pullPolicy: Never
      command: [sleep, "3600"]
      init: true
      networkMode: none
""",
        ),
    )
    assert apply(path).result.ok
    hostnet = docker_client.containers.get(f"{app_name}-hostnet-1")
    isolated = docker_client.containers.get(f"{app_name}-isolated-1")
    assert hostnet.attrs["HostConfig"]["NetworkMode"] == "host"
    assert isolated.attrs["HostConfig"]["NetworkMode"] == "none"
    links = isolated.exec_run(["ip", "-o", "link"]).output.decode()
    assert "eth0" not in links
    # No default network is created for an app whose services all opt out of networking.
    assert docker_client.networks.list(names=[f"{app_name}_default"]) == []


def test_depends_on_completed_runs_one_shot_first_and_leaves_it_completed(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    path = write(
        tmp_path,
        "app.yaml",
        manifest(
            app_name,
            f"""
  services:
    - name: migrate
      image: {BASE_IMAGE}
      pullPolicy: Never
      command: [sh, -c, "sleep 1; echo done > /data/migrated"]
      volumeMounts: [{{volume: data, mountPath: /data}}]
    - name: app
      image: {BASE_IMAGE}
      pullPolicy: Never
      command: [sh, -c, "cat /data/migrated && exec sleep 3600"]
      init: true
      restart: always
      volumeMounts: [{{volume: data, mountPath: /data}}]
      dependsOn: [{{service: migrate, condition: completed}}]
      stopGracePeriod: 1s
  volumes: [{{name: data}}]
""",
        ),
    )
    assert apply(path).result.ok
    migrate = docker_client.containers.get(f"{app_name}-migrate-1")
    assert migrate.status == "exited" and migrate.attrs["State"]["ExitCode"] == 0
    app = docker_client.containers.get(f"{app_name}-app-1")
    assert app.status == "running"
    assert b"done" in app.logs()
    # Re-applying leaves the completed one-shot alone.
    assert all(p.plan.empty for p in plan(path))


def test_build_multi_stage_target_with_args_and_no_rebuild(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    ctx = tmp_path / "web"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE} AS build\nARG WORD=none\n"
        'RUN mkdir /out && echo "$WORD" > /out/word\n'
        f"FROM {BASE_IMAGE} AS runtime\nCOPY --from=build /out/word /word\n"
        "COPY page.txt /page.txt\n"
        f"FROM {BASE_IMAGE} AS unused\nRUN false\n"
    )
    (ctx / "page.txt").write_text("v1")
    path = write(
        tmp_path,
        "app.yaml",
        manifest(
            app_name,
            """
  services:
    - name: web
      build: {context: ./web, target: runtime, args: {WORD: hello}}
      command: [sleep, "3600"]
      init: true
""",
        ),
    )
    first = apply(path)
    assert first.result.ok, first.result.failed
    assert any(op.startswith("build-image:") for op in first.operations)
    web = docker_client.containers.get(f"{app_name}-web-1")
    assert web.exec_run(["cat", "/word"]).output.decode().strip() == "hello"
    image_tag = web.attrs["Config"]["Image"]
    assert image_tag.startswith(f"dockyard.local/{app_name}-web:dy-")
    # Unchanged context: nothing to build, nothing to do.
    assert apply(path).operations == []
    # A changed file in the context: a new content tag, the container is replaced.
    (ctx / "page.txt").write_text("v2")
    third = apply(path)
    assert third.result.ok
    assert any(op.startswith("build-image:") for op in third.operations)
    web = docker_client.containers.get(f"{app_name}-web-1")
    assert web.attrs["Config"]["Image"] != image_tag
    assert web.exec_run(["cat", "/page.txt"]).output.decode() == "v2"


def test_runtime_is_the_engines_runtime_by_name_and_an_unknown_one_is_refused(
    docker_client: DockerClient, app_name: str, tmp_path: Path
):
    """`runtime` (Compose's `runtime`, `docker run --runtime`): the container runs with
    that runtime; one the engine does not have fails the apply with the engine's own
    words, as under Compose, instead of running quietly on the default."""
    body = """
  services:
    - name: {svc}
      image: {image}
      pullPolicy: Never
      command: [sleep, "3600"]
      init: true
      stopGracePeriod: 1s
      networkMode: none
      runtime: {runtime}
"""
    good = write(
        tmp_path,
        "good.yaml",
        manifest(app_name, body.format(svc="std", image=BASE_IMAGE, runtime="runc")),
    )
    applied = apply(good)
    assert applied.result.ok, applied.result.failed
    std = docker_client.containers.get(f"{app_name}-std-1")
    assert std.attrs["HostConfig"]["Runtime"] == "runc"

    bad = write(
        tmp_path,
        "bad.yaml",
        manifest(app_name, body.format(svc="wasm", image=BASE_IMAGE, runtime="no-such-runtime")),
    )
    failed = apply(bad)
    assert not failed.result.ok
    (error,) = [r.error or "" for r in failed.result.failed]
    assert "no-such-runtime" in error and "runtime" in error, error
