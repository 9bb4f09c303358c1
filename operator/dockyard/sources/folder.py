"""A folder (or one file) of manifests, polled: a snapshot of its apps when its content changes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from dockyard.controller.source import Emit, SourceUpdate
from dockyard.spec.errors import SpecError
from dockyard.spec.load import load_paths
from dockyard.spec.secret_command import refresh_interval

log = logging.getLogger("dockyard.sources.folder")

# Bigger files (data a container writes into a bind-mounted folder, build artefacts) count by
# size and mtime instead of content: hashing them on every change would cost more than it tells.
CONTENT_HASH_LIMIT = 4 * 1024 * 1024

Fingerprint = tuple[tuple[str, int, int], ...]


class FolderSource:
    """Watches a folder by polling; emits the whole folder's apps when its content changed.

    Polling a stat() of every file is cheap, works on every filesystem (network and
    bind mounts included) and needs no dependency. Directories whose name starts with
    a dot (`.git`, `.cache`) are ignored.
    """

    def __init__(
        self,
        path: Path,
        interval: float = 0.5,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.interval = interval
        self.environ = environ

    @property
    def id(self) -> str:
        return f"dir:{self.path}"

    async def run(self, emit: Emit) -> None:
        last_fingerprint: Fingerprint | None = None
        last_key: tuple[object, ...] | None = None
        first = True
        # Command secrets with `refresh`: re-read the folder this often even when no file
        # changed, so a rotated value rolls out (by each mount's onChange).
        refresh: float | None = None
        due = 0.0
        while True:
            try:
                fingerprint = await asyncio.to_thread(scan, self.path)
                now = time.monotonic()
                if first or fingerprint != last_fingerprint or (refresh and now >= due):
                    update = await asyncio.to_thread(self._snapshot)
                    first = False
                    last_fingerprint = fingerprint
                    if update.apps is not None:
                        refresh = refresh_interval(a.app for a in update.apps)
                    due = now + (refresh or 0.0)
                    key = update_key(update)
                    if key != last_key:
                        last_key = key
                        await emit(update)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug or an unexpected OS error must not end the watch: try again next time.
                log.exception("reading %s failed", self.path)
            await asyncio.sleep(self.interval)

    def _snapshot(self) -> SourceUpdate:
        """Hash and load the folder as it is now (blocking: runs in a thread)."""
        if not self.path.exists():
            return SourceUpdate(
                source=self.id,
                revision="missing",
                apps=None,
                error=f"{self.path}: no such file or folder (it is checked again every "
                f"{self.interval:g} s)",
            )
        revision = content_hash(self.path)
        try:
            result = load_paths([self.path], self.environ)
        except SpecError as exc:
            return SourceUpdate(
                source=self.id,
                revision=revision,
                apps=None,
                error=exc.render(),
                invalid_apps=tuple(exc.by_app().items()),
            )
        except Exception as exc:
            # A bug in loading: reported once for this revision, like an invalid manifest.
            log.exception("loading %s failed", self.path)
            error = f"{self.path}: cannot be loaded: {exc}"
            return SourceUpdate(source=self.id, revision=revision, apps=None, error=error)
        return SourceUpdate(
            source=self.id,
            revision=revision,
            apps=tuple(result.apps),
            hosts=tuple(result.hosts),
            warnings=tuple(result.warnings),
        )


def update_key(update: SourceUpdate) -> tuple[object, ...]:
    """What makes an update worth sending: the content's revision, and the hashes of the
    secrets read at load (a store may answer differently for the same files), or the
    error (a store that fails keeps what runs and says so once)."""
    inputs = tuple(
        (a.name, tuple(a.input_hash(f"secret:{name}") for name in sorted(a.secrets)))
        for a in update.apps or ()
    )
    return (update.revision, update.error, inputs)


def _files(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under `root` (or `root` itself), as sorted (relative path, path)."""
    if root.is_file():
        return [(root.name, root)]
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        for name in filenames:
            path = base / name
            if path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    return found


def scan(root: Path) -> Fingerprint | None:
    """A cheap fingerprint: relative path, size and mtime of every file; None when missing."""
    if not root.exists():
        return None
    entries: list[tuple[str, int, int]] = []
    for rel, path in _files(root):
        try:
            st = path.stat()
        except OSError:
            continue  # removed while we looked: the next scan sees it gone
        entries.append((rel, st.st_size, st.st_mtime_ns))
    return tuple(entries)


def content_hash(root: Path) -> str:
    """The folder's revision: sha256 of every (relative path, content), first 12 hex digits."""
    digest = hashlib.sha256()
    for rel, path in _files(root):
        try:
            st = path.stat()
            if st.st_size > CONTENT_HASH_LIMIT:
                data = f"size={st.st_size} mtime={st.st_mtime_ns}".encode()
            else:
                data = path.read_bytes()
        except OSError:
            continue
        digest.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()[:12]
