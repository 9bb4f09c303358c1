"""What a container reads besides its image and config, delivered to an engine on another
machine: secret files and files from the manifest's folder, packed as one tar archive
that the engine unpacks into the container (`PUT /containers/{id}/archive`).

An engine elsewhere cannot see a path on dockyard's side: a bind mount of it would give
an empty folder. So on such a host these inputs are copied into the container's own
filesystem, before it starts (and again, in place, when an `onChange: restart | signal`
input changes). On the engine dockyard itself runs on, secrets stay on a tmpfs and files
are bind-mounted (engine/secrets.py, engine/files.py).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.state.desired import DesiredContainer, MountSpec

from .errors import EngineError


@dataclass(frozen=True)
class Delivery:
    """A container's inputs to copy in: the tar archive (to unpack at `/`) and what it holds."""

    archive: bytes
    targets: tuple[str, ...]


def copied(m: MountSpec) -> bool:
    """Whether `m` is delivered by copy to an engine on another machine."""
    return m.kind == "secret" or (m.kind == "bind" and m.manifest_path is not None)


def delivery(d: DesiredContainer, secrets: Mapping[str, Any]) -> Delivery | None:
    """The archive of `d`'s secrets and manifest-side files, or None when it has none.

    EngineError (naming the container and the input) when a secret has no value or a file
    cannot be read: the container must not start without it."""
    mounts = [m for m in d.config.mounts if copied(m)]
    if not mounts:
        return None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in mounts:
            if m.kind == "secret":
                secret = secrets.get(m.source or "")
                if secret is None:
                    raise EngineError(f"{d.name}: secret {m.source} has no value")
                _add_bytes(tar, m, secret.reveal())
            else:
                _add_path(tar, d, m)
    return Delivery(buf.getvalue(), tuple(m.target for m in mounts))


def _arcname(target: str) -> str:
    return target.strip("/")


def _add_bytes(tar: tarfile.TarFile, m: MountSpec, data: bytes) -> None:
    info = tarfile.TarInfo(_arcname(m.target))
    info.size = len(data)
    info.mode = m.mode if m.mode is not None else 0o400
    info.uid = m.uid if m.uid is not None else 0
    info.gid = m.gid if m.gid is not None else 0
    tar.addfile(info, io.BytesIO(data))


def _add_path(tar: tarfile.TarFile, d: DesiredContainer, m: MountSpec) -> None:
    """A file or folder of the manifest's side, with its modes and numeric owners, as a
    bind mount would show it."""
    source = Path(m.source or "")

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uname = info.gname = ""
        if m.read_only:
            info.mode &= ~0o222
        return info

    try:
        tar.add(str(source), arcname=_arcname(m.target), recursive=True, filter=owned)
    except OSError as exc:
        raise EngineError(
            f"{d.name}: cannot read {m.manifest_path} (from the manifest's folder) to copy it "
            f"to {m.target}: {exc.strerror or exc}; create it or remove the mount"
        ) from None
