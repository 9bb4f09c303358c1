"""Images reach hosts that cannot pull them: copied over the engine API from the engine of
the machine running dockyard (or another host of the app), built on the host that needs
them, and a copy the host refuses is a failed apply that says what to do."""

from __future__ import annotations

import contextlib
import os
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker import DockerClient
from typer.testing import CliRunner

from controller_fixtures import condition, is_ready, run_controller
from dockyard.apply.converge import converge, plan_apps
from dockyard.cli.main import app as cli
from dockyard.engine.client import Engine
from dockyard.engine.registry import PullError
from dockyard.engine.transfer import Copied, deliver_image, local_sources
from dockyard.spec.load import load_paths
from engine_instance import PrivateEngine, private_engines
from helpers import BASE_IMAGE, TEST_LABEL, unique_name
from waiting import eventually

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def edge() -> Iterator[PrivateEngine]:
    with private_engines("edge") as started:
        yield started["edge"]


@pytest.fixture
def local_only_image(docker_client: DockerClient) -> Iterator[str]:
    """An image only the local engine holds: the base image with a label and an env var of
    its own (so a new image id), never pushed anywhere; removed afterwards."""
    tag = f"dockyard.local/{unique_name('copy')}:1"
    container = docker_client.containers.create(BASE_IMAGE, "true", labels={TEST_LABEL: "1"})
    try:
        container.commit(
            *tag.split(":"), changes=[f"LABEL {TEST_LABEL}=1", "ENV COPIED_FROM=local"]
        )
    finally:
        container.remove(force=True)
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag, force=True)


def manifests(folder: Path, app: str, url: str, service: str) -> list[str]:
    (folder / "hosts.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: dockyard.dev/v1alpha1
            kind: DockerHost
            metadata: {{name: edge, labels: {{role: edge}}}}
            spec: {{url: "{url}"}}
            """
        )
    )
    (folder / "app.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: dockyard.dev/v1alpha1
            kind: App
            metadata: {{name: {app}}}
            spec:
              placement: {{hostSelector: {{matchLabels: {{role: edge}}}}}}
              services:
            """
        )
        + textwrap.indent(textwrap.dedent(service), "    ")
    )
    return ["-f", str(folder / "app.yaml"), "-f", str(folder / "hosts.yaml")]


def apply(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["apply", *args])
    return result.exit_code, result.output


def containers(url: str, app: str) -> list[docker.models.containers.Container]:
    client = docker.DockerClient(base_url=url, timeout=10)
    try:
        return client.containers.list(all=True, filters={"label": f"dev.dockyard.app={app}"})
    finally:
        client.close()


def test_image_only_on_the_local_engine_is_copied_to_the_host(
    edge: PrivateEngine, local_only_image: str, app_name: str, tmp_path: Path
):
    args = manifests(
        tmp_path,
        app_name,
        edge.url,
        f"""\
        - name: web
          image: {local_only_image}
          pullPolicy: Never
          command: [sh, -c, 'echo "from $$COPIED_FROM"; exec sleep 3600']
          init: true
          stopGracePeriod: 1s
        """,
    )
    diff = CliRunner().invoke(cli, ["diff", *args])
    assert diff.exit_code == 2, diff.output
    assert (
        f"missing-image {local_only_image} — image is not present and pullPolicy is Never: "
        "copy it from local"
    ) in " ".join(diff.output.split())
    code, out = apply(args)
    assert code == 0, out
    flat = " ".join(out.split())
    assert f"missing image {local_only_image} on edge" in flat
    assert "copied from local (" in flat  # how much, how long
    [running] = containers(edge.url, app_name)
    assert running.status == "running"
    assert running.logs().decode().strip() == "from local"  # the copied image's own env
    local_id = docker.from_env().images.get(local_only_image).id
    remote = docker.DockerClient(base_url=edge.url, timeout=10)
    assert remote.images.get(local_only_image).id == local_id
    remote.close()

    code, out = apply(args)  # the host has it now: nothing is copied again
    assert code == 0 and "nothing to do" in out, out


def test_copy_reports_progress_and_happens_once_for_parallel_operations(
    edge: PrivateEngine, local_only_image: str
):
    target = Engine(edge.url, name="edge")
    messages: list[str] = []
    results: list[Copied] = []

    def copy() -> None:
        results.append(
            deliver_image(target, local_only_image, local_sources(), messages.append, "test")
        )

    threads = [threading.Thread(target=copy) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target.close()
    assert sorted(r.size > 0 for r in results) == [False, False, True]  # one streamed it
    assert {r.source for r in results} == {"local"}
    assert any(m.startswith(f"copying image {local_only_image}") for m in messages)
    assert any(m.startswith(f"copied image {local_only_image} from local") for m in messages)


def test_build_for_a_remote_host_runs_there_with_the_context_sent_over_the_api(
    edge: PrivateEngine, docker_client: DockerClient, app_name: str, tmp_path: Path
):
    context = tmp_path / "web"
    context.mkdir()
    (context / "hello.txt").write_text("built from the context on the client\n")
    # No RUN step: the build needs nothing but the base image and the context.
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nCOPY hello.txt /hello.txt\nLABEL {TEST_LABEL}=1\n"
    )
    args = manifests(
        tmp_path,
        app_name,
        edge.url,
        """\
        - name: web
          build: {context: ./web}
          command: [sh, -c, 'cat /hello.txt; exec sleep 3600']
          init: true
          stopGracePeriod: 1s
        """,
    )
    code, out = apply(args)
    assert code == 0, out
    [running] = containers(edge.url, app_name)
    assert running.logs().decode() == "built from the context on the client\n"
    image = running.attrs["Config"]["Image"]
    assert image.startswith(f"dockyard.local/{app_name}-web:dy-")
    # Built where it runs, not here and copied.
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image)


@contextlib.contextmanager
def full_host() -> Iterator[PrivateEngine]:
    """A host whose disk (its data root: a 24 MiB tmpfs) is too small for `big_local_image`."""
    engine = PrivateEngine(disk_mb=24)
    try:
        engine.start()
        yield engine
    finally:
        engine.destroy()


@pytest.fixture
def big_local_image(docker_client: DockerClient, tmp_path: Path) -> Iterator[str]:
    """A 32 MB image of random data, only on the local engine; removed afterwards."""
    tag = f"dockyard.local/{unique_name('big')}:1"
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "random.bin").write_bytes(os.urandom(32_000_000))
    tar = tmp_path / "big.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(tmp_path / "big"), "."], check=True)
    subprocess.run(
        ["docker", "import", "-c", f"LABEL {TEST_LABEL}=1", str(tar), tag],
        check=True,
        capture_output=True,
    )
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag, force=True)


def test_a_copy_the_host_refuses_fails_the_apply_with_what_to_do(
    big_local_image: str, app_name: str, tmp_path: Path
):
    with full_host() as full:
        args = manifests(
            tmp_path,
            app_name,
            full.url,
            f"""\
            - name: web
              image: {big_local_image}
              pullPolicy: Never
              command: [sleep, "3600"]
            """,
        )
        code, out = apply(args)
        assert code == 1, out
        flat = " ".join(out.split())
        assert "host edge refused image" in flat
        assert big_local_image in flat and f"app {app_name}, service web" in flat
        assert "no space left on device" in flat and "free disk space on host edge" in flat
        assert "✓ create container" not in flat and "✓ start container" not in flat
        assert f"- start container {app_name}-web-1 on edge skipped because" in flat
        assert not containers(full.url, app_name)
        assert "Traceback" not in out


def test_an_image_no_engine_has_fails_naming_host_service_and_where_it_looked(
    edge: PrivateEngine, app_name: str, tmp_path: Path
):
    missing = f"dockyard.local/{unique_name('nowhere')}:1"
    args = manifests(
        tmp_path,
        app_name,
        edge.url,
        f"""\
        - name: web
          image: {missing}
          pullPolicy: Never
          command: [sleep, "3600"]
        """,
    )
    code, out = apply(args)
    assert code == 1, out
    flat = " ".join(out.split())
    assert (
        f"image {missing} is not on engine edge and pullPolicy is Never (app {app_name}, "
        "service web), and no other engine has it (looked on local): build or load it first"
    ) in flat
    assert not containers(edge.url, app_name)


def test_an_image_only_another_host_of_the_app_has_is_copied_from_there(
    local_only_image: str, docker_client: DockerClient, app_name: str, tmp_path: Path
):
    with private_engines("edge-a", "edge-b") as hosts:
        # Only edge-a has the image: put it there, then take it off this machine's engine.
        subprocess.run(
            f"docker save {local_only_image} | docker -H {hosts['edge-a'].url} load -q",
            shell=True,
            check=True,
            capture_output=True,
        )
        docker_client.images.remove(local_only_image, force=True)
        docs = [
            f"apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
            f"metadata: {{name: {name}, labels: {{role: edge}}}}\nspec: {{url: '{h.url}'}}\n"
            for name, h in hosts.items()
        ]
        (tmp_path / "hosts.yaml").write_text("---\n".join(docs))
        (tmp_path / "app.yaml").write_text(
            textwrap.dedent(
                f"""\
                apiVersion: dockyard.dev/v1alpha1
                kind: App
                metadata: {{name: {app_name}}}
                spec:
                  placement: {{hostSelector: {{matchLabels: {{role: edge}}}}, mode: global}}
                  services:
                    - name: web
                      image: {local_only_image}
                      pullPolicy: Never
                      command: [sleep, "3600"]
                      init: true
                      stopGracePeriod: 1s
                """
            )
        )
        code, out = apply(["-f", str(tmp_path / "app.yaml"), "-f", str(tmp_path / "hosts.yaml")])
        assert code == 0, out
        assert "copied from edge-a (" in " ".join(out.split())
        for h in hosts.values():
            [running] = containers(h.url, app_name)
            assert running.status == "running"


async def test_the_controller_copies_an_image_to_a_host_that_cannot_pull_it(
    edge: PrivateEngine, local_only_image: str, app_name: str, tmp_path: Path
):
    folder = tmp_path / "apps"
    folder.mkdir()
    manifests(
        folder,
        app_name,
        edge.url,
        f"""\
        - name: web
          image: {local_only_image}
          pullPolicy: Never
          command: [sleep, "3600"]
          init: true
          stopGracePeriod: 1s
        """,
    )
    async with run_controller(folder, tmp_path / "state") as controller:
        await eventually(lambda: is_ready(controller, app_name), timeout=30)
        [running] = containers(edge.url, app_name)
        assert running.status == "running"


async def test_the_controller_marks_an_app_degraded_when_its_image_cannot_be_delivered(
    big_local_image: str, app_name: str, tmp_path: Path
):
    with full_host() as full:
        folder = tmp_path / "apps"
        folder.mkdir()
        manifests(
            folder,
            app_name,
            full.url,
            f"""\
            - name: web
              image: {big_local_image}
              pullPolicy: Never
              command: [sleep, "3600"]
            """,
        )
        async with run_controller(folder, tmp_path / "state") as controller:

            def failed_operation() -> tuple[str, str, str] | None:
                # Until its cache connects, the host may first show as unreachable.
                found = condition(controller, app_name, "Degraded")
                return found if found[1] == "OperationFailed" else None

            _, _, message = await eventually(failed_operation, timeout=30)
            assert "host edge refused image" in message and "service web" in message
            assert "free disk space on host edge" in message
            assert not containers(full.url, app_name)


class UnreachableRegistry(Engine):
    """A real engine whose registry fails the way `reason` says (tests never let an engine
    pull: the failure is what Engine.pull raises when the registry answers so)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, name="edge")
        self.reason = reason
        self.pulls: list[str] = []

    def pull(self, ref: str, *args: object, **kwargs: object) -> None:
        self.pulls.append(ref)
        raise PullError(f"registry dockyard.local is {self.reason}: {ref}", self.reason, ref)


@pytest.mark.parametrize(("reason", "copied"), [("unreachable", True), ("auth", False)])
async def test_a_failed_pull_falls_back_to_a_copy_unless_the_login_was_refused(
    edge: PrivateEngine, local_only_image: str, app_name: str, tmp_path: Path, reason, copied
):
    path = tmp_path / "app.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: dockyard.dev/v1alpha1
            kind: App
            metadata: {{name: {app_name}}}
            spec:
              services:
                - name: web
                  image: {local_only_image}
                  command: [sleep, "3600"]
                  init: true
                  stopGracePeriod: 1s
            """
        )
    )
    target = UnreachableRegistry(edge.url, reason)
    try:
        plans = plan_apps(load_paths([path]).apps, target.snapshot())
        done = await converge(target, [p.work() for p in plans], image_sources=local_sources)
        result = done.result
    finally:
        target.close()
    assert target.pulls == [local_only_image]  # pulled first (IfNotPresent), as always
    pulled = next(r for r in result.results if r.op.kind.value == "pull-image")
    if copied:
        assert result.ok, [r.error for r in result.failed]
        assert (pulled.note or "").startswith("copied from local (")
        assert [c.status for c in containers(edge.url, app_name)] == ["running"]
    else:
        assert pulled.status == "failed" and "is auth" in (pulled.error or "")
        assert not containers(edge.url, app_name)


def test_a_build_for_a_remote_host_gets_its_from_image_copied_there_first(
    edge: PrivateEngine, local_only_image: str, app_name: str, tmp_path: Path
):
    context = tmp_path / "web"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"ARG BASE=nothing\nFROM $BASE AS base\nLABEL {TEST_LABEL}=1\nFROM base\n"
    )
    args = manifests(
        tmp_path,
        app_name,
        edge.url,
        f"""\
        - name: web
          build: {{context: ./web, args: {{BASE: "{local_only_image}"}}}}
          command: [sh, -c, 'echo "from $$COPIED_FROM"; exec sleep 3600']
          init: true
          stopGracePeriod: 1s
        """,
    )
    code, out = apply(args)
    assert code == 0, out
    [running] = containers(edge.url, app_name)
    assert running.logs().decode().strip() == "from local"  # built on the copied base
    remote = docker.DockerClient(base_url=edge.url, timeout=10)
    assert (
        remote.images.get(local_only_image).id == docker.from_env().images.get(local_only_image).id
    )
    remote.close()
