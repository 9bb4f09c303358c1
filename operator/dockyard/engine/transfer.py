"""Copying an image from one engine to another over their APIs: streamed, checked, once.

A host that cannot pull an image (no registry, pullPolicy Never, the registry is down)
gets it from an engine dockyard drives that has it: `GET /images/{name}/get` of the
source is piped into `POST /images/load` of the target, one chunk at a time, so memory
stays bounded whatever the image's size. The copy counts as done only when the target
holds the tag with the source's image id.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import docker.errors
import requests.exceptions

from dockyard.state.refs import pinned

from .client import Engine
from .errors import EngineError, EngineUnavailable
from .pull_progress import bar

Progress = Callable[[str], None]
# Where a host that lacks an image may get it from: called only when one is needed, so a
# plan that needs no copy connects to nothing.
ImageSources = Callable[[], Sequence[Engine]]

CHUNK = 1 << 20
_REPORT_EVERY = 1.0  # seconds between progress lines
_MB = 1_000_000


@dataclass(frozen=True)
class Copied:
    image: str
    image_id: str
    source: str  # the engine's name
    size: int  # bytes streamed; 0 when the target already had it (a parallel copy won)
    seconds: float


class ImageUnavailable(EngineError):
    """No engine dockyard can reach has the image; the message says where it looked."""


_guard = threading.Lock()
_local: list[Engine] = []


def local_sources() -> Sequence[Engine]:
    """The engine on the machine running dockyard (DOCKER_HOST or /var/run/docker.sock),
    one client for the whole process."""
    with _guard:
        if not _local:
            _local.append(Engine(name="local"))
        return list(_local)


_ids: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
_locks: dict[tuple[str, str], threading.Lock] = {}


def engine_id(engine: Engine) -> str:
    """Who the engine is, whatever URL reaches it: `docker info` ID, host name and data
    root. (dockerd derives ID from /etc/docker/key.json, which engines sharing a machine,
    or cloned from one disk image, share; the data root and host name tell them apart.)"""
    with _guard:
        known = _ids.get(engine)
    if known is None:
        info = engine.info()
        known = "|".join(str(info.get(k) or "") for k in ("ID", "Name", "DockerRootDir"))
        with _guard:
            _ids[engine] = known
    return known


def _lock_for(target: Engine, image_id: str) -> threading.Lock:
    key = (engine_id(target), image_id)
    with _guard:
        return _locks.setdefault(key, threading.Lock())


def deliver_image(
    target: Engine,
    ref: str,
    sources: Sequence[Engine],
    progress: Progress | None = None,
    context: str = "",
) -> Copied:
    """Copy `ref` to `target` from the first of `sources` that has it (the target itself,
    and engines that do not answer, are passed over). ImageUnavailable when none has it;
    EngineError when the copy fails."""
    if pinned(ref):
        raise ImageUnavailable(
            "it is pinned by digest, which only a registry can serve (push it to a registry "
            f"host {target.name} can pull from)"
        )
    looked: list[str] = []
    target_id = engine_id(target)
    seen: set[str] = {target_id}
    for source in sources:
        try:
            sid = engine_id(source)
            if sid in seen:
                continue
            seen.add(sid)
            has = source.image_id(ref)
        except EngineUnavailable:
            looked.append(f"{source.name} (not reachable)")
            continue
        if has is None:
            looked.append(source.name)
            continue
        return copy_image(source, target, ref, progress, context)
    checked = f" (looked on {', '.join(looked)})" if looked else ""
    raise ImageUnavailable(f"no other engine has it{checked}")


def copy_image(
    source: Engine,
    target: Engine,
    ref: str,
    progress: Progress | None = None,
    context: str = "",
) -> Copied:
    """Stream `ref` from `source` to `target`; once per (target, image id) even when
    several operations ask at the same time."""
    started = time.monotonic()
    inspected = _inspect(source, ref)
    image_id = str(inspected.get("Id") or "")
    with _lock_for(target, image_id):
        if target.image_id(ref) == image_id:
            return Copied(ref, image_id, source.name, 0, time.monotonic() - started)
        total = int(inspected.get("Size") or 0)
        reader = _Reader(source, ref, total, progress, f"copying image {ref} from {source.name}")
        if progress:
            progress(f"copying image {ref} ({total / _MB:.0f} MB) from {source.name}")
        _load(target, ref, reader, source.name, context)
        arrived = target.image_id(ref)
        if arrived != image_id:
            raise EngineError(
                f"image {ref} copied from {source.name} to host {target.name} arrived as "
                f"{arrived or 'nothing'}, not {image_id}: the load did not give the image "
                f"that was sent; load it by hand (docker save {ref} | docker -H … load)"
            )
    seconds = time.monotonic() - started
    if progress:
        rate = reader.count / _MB / seconds if seconds > 0 else 0.0
        progress(
            f"copied image {ref} from {source.name} in {seconds:.1f}s "
            f"({reader.count / _MB:.0f} MB, {rate:.0f} MB/s)"
        )
    return Copied(ref, image_id, source.name, reader.count, seconds)


def _inspect(engine: Engine, ref: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = engine.api.inspect_image(ref)
    except docker.errors.NotFound:
        raise ImageUnavailable(f"engine {engine.name} has no image {ref}") from None
    except docker.errors.APIError as exc:
        raise EngineError(f"inspect image {ref} on {engine.name}: {exc.explanation}") from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise EngineUnavailable(f"engine {engine.name} is not reachable: {exc}") from None
    return data


class _Reader:
    """The source's image tarball as an iterable of chunks, counted as they pass; an error
    on the source side is kept, since the HTTP client sending them to the target would
    otherwise report it as a broken upload."""

    def __init__(
        self, source: Engine, ref: str, total: int, progress: Progress | None, what: str
    ) -> None:
        self.source = source
        self.ref = ref
        self.total = total
        self.progress = progress
        self.what = what
        self.count = 0
        self.error: str | None = None
        try:
            self._chunks: Iterator[bytes] = iter(source.api.get_image(ref, chunk_size=CHUNK))
            self._first = next(self._chunks, b"")  # the request is made on the first read
        except docker.errors.APIError as exc:
            raise EngineError(
                f"export image {ref} from {source.name}: {exc.explanation or exc}"
            ) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(f"engine {source.name} is not reachable: {exc}") from None

    def __iter__(self) -> Iterator[bytes]:
        last = time.monotonic()
        try:
            chunk = self._first
            while chunk:
                self.count += len(chunk)
                yield chunk
                now = time.monotonic()
                if self.progress and now - last >= _REPORT_EVERY:
                    last = now
                    done = f"{self.count / _MB:.0f} of {self.total / _MB:.0f} MB"
                    self.progress(f"{self.what}: {done}\n{bar(self.count, self.total)}")
                chunk = next(self._chunks, b"")
        except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
            self.error = f"reading image {self.ref} from {self.source.name} failed: {exc}"
            raise


def _load(target: Engine, ref: str, reader: _Reader, source: str, context: str) -> None:
    """POST the stream to the target; its refusal becomes an error that says what to do."""
    try:
        for event in target.api.load_image(reader, quiet=True):
            if isinstance(event, dict) and event.get("error"):
                raise _refused(target, ref, source, str(event["error"]), context)
    except docker.errors.APIError as exc:
        raise _refused(target, ref, source, str(exc.explanation or exc), context) from None
    except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
        if reader.error is not None:
            raise EngineError(f"copy image {ref} to host {target.name}: {reader.error}") from None
        detail = f"the engine hung up after {reader.count / _MB:.0f} MB ({type(exc).__name__})"
        raise _refused(target, ref, source, detail, context) from None


def _refused(target: Engine, ref: str, source: str, reason: str, context: str) -> EngineError:
    where = f" ({context})" if context else ""
    lowered = reason.lower()
    if "no space left" in lowered or "disk quota" in lowered:
        todo = (
            f"free disk space on host {target.name} (docker -H … system prune, or a larger "
            "disk for dockerd's data root) and apply again"
        )
    else:
        todo = (
            f"look at the dockerd log of host {target.name}; or load the image there by hand "
            f"(docker save {ref} | docker -H … load), or push it to a registry the host can "
            "pull from"
        )
    return EngineError(
        f"host {target.name} refused image {ref}{where}, sent from {source} because the "
        f"host cannot pull it: {reason.strip()}; {todo}"
    )
