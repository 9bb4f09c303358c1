"""A container's secrets and files from the manifest's folder, put where it reads them:
this machine's tmpfs for a local engine (bind-mounted), the container itself through
the API for an engine on another machine (engine/delivery.py packs the archive)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import docker.errors
import requests.exceptions

from dockyard.state.desired import DesiredContainer

from .delivery import Delivery, delivery
from .errors import EngineError, EngineUnavailable

if TYPE_CHECKING:
    from .client import Engine


def write_secrets(engine: Engine, d: DesiredContainer, secrets: Mapping[str, Any]) -> list[str]:
    """Put the container's secret files on this machine's tmpfs; returns their bind specs.

    Done before every create and start: a tmpfs does not survive a reboot, and a
    missing bind source would make Docker create an empty directory instead. Nothing
    to do for an engine on another machine: its containers hold their own copy."""
    binds: list[str] = []
    if engine.copies_files:
        return binds
    for mount in d.config.mounts:
        if mount.kind != "secret":
            continue
        secret = secrets.get(mount.source or "")
        if secret is None:
            raise EngineError(f"{d.name}: secret {mount.source} has no value")
        host = engine.secrets.write(
            d.app,
            d.service,
            str(mount.source),
            secret.reveal(),
            mount.mode if mount.mode is not None else 0o400,
            mount.uid,
            mount.gid,
        )
        binds.append(f"{host}:{mount.target}:ro")
    return binds


def refresh_inputs(
    engine: Engine, ref: str, d: DesiredContainer, secrets: Mapping[str, Any]
) -> None:
    """Give container `ref` the current content of its secrets and files (an
    `onChange: restart | signal` input changed), before it is restarted or signalled."""
    if not engine.copies_files:
        engine.write_secrets(d, secrets)
        return
    pack = packed(engine, d, secrets)
    if pack is not None:
        put_archive(engine, ref, d, pack)


def packed(engine: Engine, d: DesiredContainer, secrets: Mapping[str, Any]) -> Delivery | None:
    pack = delivery(d, secrets)
    if pack is not None and d.config.read_only:
        raise EngineError(
            f"{d.name}: engine {engine.name} is another machine, so secrets and files from "
            f"the manifest's folder ({', '.join(pack.targets)}) are copied into the "
            "container, and a read-only root filesystem cannot receive them: set "
            f"readOnly: false on service {d.service}, or keep these files in a volume"
        )
    return pack


def put_archive(engine: Engine, ref: str, d: DesiredContainer, pack: Delivery) -> None:
    what = f"copy {', '.join(pack.targets)} into {d.name} on engine {engine.name}"
    try:
        ok = engine.api.put_archive(ref, "/", pack.archive)
    except docker.errors.APIError as exc:
        raise EngineError(
            f"{what}: {exc.explanation or exc}; the container was not started "
            "(check the host's disk space and that the paths are writable in the image)"
        ) from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise EngineUnavailable(engine._unreachable(exc)) from None
    if not ok:
        raise EngineError(f"{what}: the engine refused the archive")
