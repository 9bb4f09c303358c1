"""A real registry for tests: Debian's `docker-registry` (distribution), started by the
tests on 127.0.0.1 with a free port and a temporary storage folder; one open, one behind
htpasswd basic auth. The engine pushes to them (dockerd treats 127.0.0.0/8 as an
insecure registry by default: plain HTTP is allowed there).

Loaded as a pytest plugin (tests/conftest.py), so the session fixtures are shared by
every tests/test_registry_*.py module.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

from helpers import BASE_IMAGE, TEST_LABEL, free_port
from waiting import TIMEOUT, GiveUp, wait_until

# Images carry the test label with their own value: a container inherits its image's labels,
# and the session sweep of `dev.dockyard.test=1` (any session's, on a shared engine) must not
# take the apps' containers from under a running test. `make clean` (the key alone) still
# sweeps them after a crash; each registry removes its images when it stops.
IMAGE_LABELS = {TEST_LABEL: "registry"}

REGISTRY_BINARY = "docker-registry"


@dataclass
class Registry:
    """One running registry. `host` is how images name it: `127.0.0.1:PORT`."""

    dir: Path
    port: int
    username: str | None = None
    password: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    pushed: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return {"username": self.username, "password": self.password}

    def start(self, timeout: float = TIMEOUT) -> None:
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.dir / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host},
        }
        if self.username is not None:
            htpasswd = self.dir / "htpasswd"
            line = subprocess.run(
                ["htpasswd", "-Bbn", self.username, str(self.password)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            htpasswd.write_text(line + "\n")
            config["auth"] = {"htpasswd": {"realm": "dockyard-tests", "path": str(htpasswd)}}
        # YAML is a superset of JSON: the registry reads this as its config.yml.
        (self.dir / "config.yml").write_text(json.dumps(config))
        log = open(self.dir / "log", "ab")  # noqa: SIM115 - kept open for the process's life
        self.proc = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(self.dir / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = self.proc

        def answers() -> bool:
            if proc.poll() is not None:
                raise GiveUp(f"docker-registry exited: {(self.dir / 'log').read_text()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
            except urllib.error.HTTPError as exc:
                if exc.code != 401:  # 401: auth on: it answers, and wants credentials
                    raise
            return True

        wait_until(answers, timeout, what=f"docker-registry answering on {self.host}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def close(self, client: DockerClient) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        names = (f"{self.host}/", f"localhost:{self.port}/")
        for image in client.images.list(filters={"label": f"{TEST_LABEL}=registry"}):
            refs = [*image.attrs.get("RepoTags", []), *image.attrs.get("RepoDigests", [])]
            if any(str(r).startswith(names) for r in refs):
                with contextlib.suppress(docker.errors.DockerException):
                    client.images.remove(image.id, force=True)


def start_registry(auth: bool = False) -> Registry:
    if shutil.which(REGISTRY_BINARY) is None or (auth and shutil.which("htpasswd") is None):
        pytest.fail(
            "docker-registry / htpasswd are missing: run scripts/ensure-deps.sh "
            "(installs Debian's docker-registry and apache2-utils)"
        )
    folder = Path(tempfile.mkdtemp(prefix="dy-reg-", dir="/tmp"))
    registry = Registry(folder, free_port())
    if auth:
        registry.username = "alice"
        registry.password = "pw-" + secrets.token_hex(8)
    registry.start()
    return registry


@pytest.fixture(scope="session")
def registry(docker_client: DockerClient) -> Iterator[Registry]:
    """An open registry on 127.0.0.1, shared by the session."""
    reg = start_registry()
    try:
        yield reg
    finally:
        reg.close(docker_client)


@pytest.fixture(scope="session")
def auth_registry(docker_client: DockerClient) -> Iterator[Registry]:
    """A registry that wants user `alice` and its password (htpasswd, bcrypt)."""
    reg = start_registry(auth=True)
    try:
        yield reg
    finally:
        reg.close(docker_client)


@pytest.fixture
def own_registry(docker_client: DockerClient) -> Iterator[Registry]:
    """A registry of the test's own, which it may stop (an unreachable registry)."""
    reg = start_registry()
    try:
        yield reg
    finally:
        reg.close(docker_client)


# ---- images ----------------------------------------------------------------------------


def build_image(client: DockerClient, tag: str, content: str) -> str:
    """A small image FROM the base image with one file of `content`; returns its id."""
    dockerfile = f"FROM {BASE_IMAGE}\nCOPY version /version\n"
    buf = io.BytesIO()
    unique = f"{content}\n{secrets.token_hex(8)}\n"  # never an image some container runs
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in (("Dockerfile", dockerfile), ("version", unique)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(
        fileobj=buf, custom_context=True, tag=tag, labels=IMAGE_LABELS, rm=True
    )
    return str(image.id)


def push(
    client: DockerClient,
    registry: Registry,
    repo: str,
    tag: str,
    content: str,
    via: str | None = None,
) -> str:
    """Build an image with `content`, push it as `REGISTRY/repo:tag`, and take it off this
    engine again (as if it had been pushed from elsewhere). Returns the registry digest.

    `via` is the name the push uses for the registry (default `registry.host`)."""
    host = via or registry.host
    ref = f"{host}/{repo}:{tag}"
    image_id = build_image(client, ref, content)
    digest = ""
    for event in client.api.push(
        f"{host}/{repo}", tag, stream=True, decode=True, auth_config=registry.auth
    ):
        if "error" in event:
            raise RuntimeError(f"push {ref}: {event['error']}")
        digest = (event.get("aux") or {}).get("Digest", digest)
    assert digest.startswith("sha256:"), f"push {ref} gave no digest"
    registry.pushed.append(ref)
    client.images.remove(image_id, force=True)
    return str(digest)


def move_tag(client: DockerClient, registry: Registry, repo: str, tag: str, content: str) -> str:
    """Push new content under an existing tag without touching this engine's copy of
    `127.0.0.1:PORT/repo:tag` (nobody here pulled yet): the push goes through the
    registry's other name, `localhost:PORT` (dockerd lets both speak plain HTTP).
    Returns the new digest."""
    return push(client, registry, repo, tag, content, via=f"localhost:{registry.port}")


def image_id(client: DockerClient, ref: str) -> str | None:
    try:
        return str(client.images.get(ref).id)
    except Exception:
        return None


def container_image(client: DockerClient, name: str) -> str:
    """The id of the image a container was created from."""
    return str(client.api.inspect_container(name)["Image"])
