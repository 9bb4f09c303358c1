"""What watching images costs: a --poll-images round, and pullPolicy Always at apply.

Starts Debian's docker-registry on 127.0.0.1 (free port, temporary storage), pushes N
small images to it, and times, against the local engine:

- one registry check of an unchanged tag (the digest the registry serves, asked through
  the engine without pulling, and the digests of the local copy): what --poll-images
  pays per image and host each round;
- a whole poll round over the N images (ImageWatch.poll_once), none moved, and with one
  moved (the round then also pulls it);
- pulling an unchanged tag again (Engine.refresh_image): what `dockyard apply` pays per
  pullPolicy Always image.

Run by hand (pytest never collects it):

    .venv/bin/python bench/images_bench.py --images 20 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from dockyard.controller.image_poll import ImageWatch
from dockyard.engine.client import Engine
from dockyard.plan.desired import DesiredApp
from dockyard.state.desired import ContainerConfig, DesiredContainer
from dockyard.state.observed import ObservedContainer, ObservedState

BASE = "dockyard.local/busybox:latest"
LABEL = {"dev.dockyard.bench": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(folder: Path, port: int) -> subprocess.Popen[bytes]:
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    (folder / "config.yml").write_text(json.dumps(config))
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(folder / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("docker-registry did not start") from None
            time.sleep(0.05)


def push(client: docker.DockerClient, ref: str) -> str:
    """Build a one-file image FROM the base image, push it as `ref`; returns its id."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in (
            ("Dockerfile", f"FROM {BASE}\nCOPY v /v\n"),
            ("v", secrets.token_hex(8)),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, tag=ref, labels=LABEL)
    repo, tag = ref.rsplit(":", 1)
    for event in client.api.push(repo, tag, stream=True, decode=True):
        if "error" in event:
            raise SystemExit(f"push {ref}: {event['error']}")
    return str(image.id)


def desired_for(images: list[str]) -> DesiredApp:
    def container(i: int, image: str) -> DesiredContainer:
        config = ContainerConfig(
            image, None, None, (), None, None, None, (), (), (), (), None, None, "no",
            None, None, None, None, None, None, None, (), (), (), False, False,
        )  # fmt: skip
        return DesiredContainer("bench", f"s{i}", 1, f"bench-s{i}-1", config, "h", "Always")

    return DesiredApp("bench", tuple(container(i, img) for i, img in enumerate(images)), (), ())


class _Host:
    """What the image poller reads of a controller host."""

    def __init__(self, engine: Engine, state: ObservedState) -> None:
        self.name, self.engine, self.dark = "local", engine, False
        self.cache = type("Cache", (), {"state": state, "synced": True})()


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("docker-registry") is None:
        print("docker-registry is missing: scripts/ensure-deps.sh installs it", file=sys.stderr)
        return 1
    client = docker.from_env()
    engine = Engine()
    folder = Path(tempfile.mkdtemp(prefix="dy-bench-reg-"))
    port = free_port()
    proc = start_registry(folder, port)
    refs = [f"127.0.0.1:{port}/bench/img{i}:1" for i in range(args.images)]
    ids: list[str] = []
    try:
        print(f"pushing {len(refs)} images to 127.0.0.1:{port} …", file=sys.stderr)
        ids = [push(client, ref) for ref in refs]
        ref = refs[0]

        def check() -> None:
            remote = engine.remote_digest(ref)
            assert remote in engine.local_digests(ref)

        check_s = timed(check, args.repeat * 4)
        refresh_s = timed(lambda: engine.refresh_image(ref), args.repeat * 4)

        # The poller checks images that run: each has a container (as the cache lists it).
        desired = desired_for(refs)
        state = ObservedState(
            containers=tuple(
                ObservedContainer(
                    f"id{i}",
                    d.name,
                    "running",
                    {"dev.dockyard.managed-by": "dockyard", "dev.dockyard.app": "bench"},
                )
                for i, d in enumerate(desired.containers)
            ),
        )
        host = _Host(engine, state)
        apps = {"bench": (desired, {})}
        watch = ImageWatch(lambda app: None, lambda app, delay: None)

        async def round_once() -> set[str]:
            return await watch.poll_once([host], apps)  # type: ignore[list-item]

        quiet_s = timed(lambda: asyncio.run(round_once()), args.repeat)
        assert watch.pulls == 0, "nothing moved, yet the poller pulled"

        moved_s: list[float] = []
        for _ in range(args.repeat):
            # Move the first tag in the registry, leaving the local tag where it was.
            old = engine.image_id(refs[0])
            ids.append(push(client, refs[0]))
            client.api.tag(old, refs[0].rsplit(":", 1)[0], "1", force=True)
            t0 = time.perf_counter()
            touched = asyncio.run(round_once())
            moved_s.append(time.perf_counter() - t0)
            assert touched == {"bench"}, touched

        n = len(refs)
        print(f"\n## Images ({n} images, local registry, repeat {args.repeat})\n")
        print("| what | median |")
        print("|---|---|")
        print(f"| one registry check, tag unchanged (remote + local digest) | {ms(check_s)} |")
        print(f"| pull again, tag unchanged (`pullPolicy: Always` at apply) | {ms(refresh_s)} |")
        print(f"| poll round over {n} images, none moved | {ms(quiet_s)} |")
        print(f"| poll round over {n} images, one moved (checks + one pull) | {ms(moved_s)} |")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for ref in refs:
            with contextlib.suppress(docker.errors.DockerException):
                client.images.remove(ref, force=True)
        for image_id in ids:
            with contextlib.suppress(docker.errors.DockerException):
                client.images.remove(image_id, force=True)
        shutil.rmtree(folder, ignore_errors=True)
        engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
