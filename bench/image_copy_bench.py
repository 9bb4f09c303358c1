"""Image copy throughput: dockyard's engine-to-engine copy vs `docker save | docker load`.

Run by hand (not part of pytest); see bench/README.md. In one run:

  1. an image of --size-mb MB is made on the local engine: the base image's files plus a file
     of random data (incompressible), by `docker import`, labelled dev.dockyard.bench=1;
  2. a private dockerd is started (tests/engine_instance.py's PrivateEngine);
  3. --repeat times, alternating which goes first, the image is removed from the private
     engine and copied to it again, once by each of:
       raw       `docker save IMG | docker -H unix://… load -q` (two CLI processes, a pipe)
       dockyard  dockyard.engine.transfer.copy_image(Engine(), Engine(url), IMG): GET
                 /images/IMG/get streamed into POST /images/load, then the image id checked
  4. medians are printed side by side (seconds, MB/s, dockyard / raw throughput).

The image and the private engine are removed at the end, even on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dockyard.engine.client import Engine  # noqa: E402
from dockyard.engine.transfer import copy_image  # noqa: E402
from engine_instance import PrivateEngine  # noqa: E402

BASE = "dockyard.local/busybox:latest"
BENCH_LABEL = "dev.dockyard.bench"  # not dev.dockyard.test: a test session sweeps that one


@contextlib.contextmanager
def bench_image(size_mb: int) -> Iterator[tuple[str, int]]:
    """(tag, tarball bytes) of a fresh image on the local engine; removed afterwards."""
    client = docker.from_env()
    tag = f"dockyard.local/copy-bench:{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="dy-copy-bench-") as tmp:
        root = Path(tmp) / "root.tar"
        container = client.containers.create(BASE, "true", labels={BENCH_LABEL: "1"})
        try:
            with root.open("wb") as fh:
                for chunk in container.export():
                    fh.write(chunk)
        finally:
            container.remove(force=True)
        extra = Path(tmp) / "extra"
        extra.mkdir()
        with (extra / "random.bin").open("wb") as fh:
            for _ in range(size_mb):
                fh.write(os.urandom(1_000_000))
        subprocess.run(["tar", "-rf", str(root), "-C", str(extra), "random.bin"], check=True)
        subprocess.run(
            ["docker", "import", "-c", f"LABEL {BENCH_LABEL}=1", str(root), tag],
            check=True,
            capture_output=True,
        )
    try:
        size = sum(len(c) for c in client.api.get_image(tag))
        yield tag, size
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, force=True)
        client.close()


def clear(url: str, tag: str) -> None:
    client = docker.APIClient(base_url=url, timeout=60)
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.remove_image(tag, force=True)
    client.close()


def raw_copy(url: str, tag: str) -> float:
    started = time.perf_counter()
    save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
    subprocess.run(
        ["docker", "-H", url, "load", "-q"], stdin=save.stdout, check=True, capture_output=True
    )
    if save.wait() != 0:
        raise RuntimeError("docker save failed")
    return time.perf_counter() - started


def dockyard_copy(url: str, tag: str) -> float:
    started = time.perf_counter()
    source, target = Engine(name="local"), Engine(url, name="bench")
    try:
        copied = copy_image(source, target, tag)
    finally:
        source.close()
        target.close()
    seconds = time.perf_counter() - started
    if copied.size == 0:
        raise RuntimeError("the target already had the image: nothing was copied")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=150, help="random data in the image")
    parser.add_argument("--repeat", type=int, default=5, help="copies per method (median)")
    args = parser.parse_args()

    engine = PrivateEngine()
    try:
        engine.start()
        with bench_image(args.size_mb) as (tag, size):
            times: dict[str, list[float]] = {"raw": [], "dockyard": []}
            for run in range(args.repeat):
                order = ["raw", "dockyard"] if run % 2 == 0 else ["dockyard", "raw"]
                for method in order:
                    clear(engine.url, tag)
                    copy = raw_copy if method == "raw" else dockyard_copy
                    seconds = copy(engine.url, tag)
                    times[method].append(seconds)
                    print(f"run {run + 1} {method}: {seconds:.2f}s", file=sys.stderr)
            clear(engine.url, tag)
    finally:
        engine.destroy()

    mb = size / 1e6
    raw, dy = statistics.median(times["raw"]), statistics.median(times["dockyard"])
    print(f"image: {mb:.0f} MB tarball, median of {args.repeat} copies each\n")
    print("| method | seconds | MB/s |")
    print("|---|---|---|")
    print(f"| `docker save \\| docker -H unix://… load` | {raw:.2f} | {mb / raw:.0f} |")
    print(f"| dockyard `copy_image` (engine API to engine API) | {dy:.2f} | {mb / dy:.0f} |")
    print(f"\ndockyard / raw throughput: {raw / dy:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
