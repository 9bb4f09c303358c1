"""An app's revision record kept on the engine itself, so any machine that reaches the
engine's API reads the same history (docs/rollouts.md, "Where revisions live").

The record is one JSON file in a small named volume, `dockyard.history.<app>`, labelled
`dev.dockyard.managed-by=dockyard` and `dev.dockyard.history=<app>` but not with the app
label: no plan of the app counts it as one of its volumes, so deleting the app (even
with --volumes) keeps its history, as a re-created app takes it up again. A volume has
no API to read or write its content, and labels cannot hold a growing history
(they are fixed at creation), so the file goes in and out through the archive API of a
helper container that is created, never started, and removed at once: it mounts the
volume, is made from an image already on the engine (nothing is pulled) and carries no
dockyard app label, so no plan ever sees it. A volume outlives `docker container prune`;
only removing it (`docker volume rm dockyard.history.<app>`) forgets the history.
"""

from __future__ import annotations

import functools
import io
import json
import secrets
import tarfile
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dockyard.spec import naming

from .errors import EngineError

if TYPE_CHECKING:
    from .client import Engine

HISTORY_LABEL = "dev.dockyard.history"
HELPER_LABEL = "dev.dockyard.history-helper"
MOUNT = "/dockyard-record"
FILE = "history.json"
# Kept far below what an engine accepts in one archive; a history of 20 revisions is ~100 KiB.
MAX_BYTES = 8 * 1024 * 1024
STALE_AFTER = 30.0


def volume_name(app: str) -> str:
    # A dot never appears in an app name, so this cannot be one of the app's own volumes
    # (`<app>_<name>`) or containers (`<app>-…`).
    return f"dockyard.history.{app}"


def read_record(engine: Engine, app: str) -> dict[str, Any] | None:
    """The app's record on this engine, or None when it has none."""
    api = engine.api
    vol = volume_name(app)
    found = engine._call(f"inspect volume {vol}", lambda: api.inspect_volume(vol), gone_ok=True)
    if not found:
        return None
    data = _with_helper(engine, app, (), lambda ref: _get_file(engine, ref))
    if data is None:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        raise EngineError(
            f"engine {engine.name}: the history of app {app} in volume {vol} is not JSON; "
            f"remove it (docker volume rm {vol}) to start a new history"
        ) from None
    return record if isinstance(record, dict) else None


def write_record(
    engine: Engine, app: str, record: Mapping[str, Any], images: Sequence[str] = ()
) -> None:
    """Store `record` as the app's record on this engine (replacing the one there).

    `images`: images to make the helper container from, tried first (the app's own are on
    the host already); otherwise any image the engine holds."""
    data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    if len(data) > MAX_BYTES:
        raise EngineError(f"the history of app {app} is too large to store ({len(data)} bytes)")
    api = engine.api
    vol = volume_name(app)
    labels = {naming.MANAGED_BY: naming.MANAGED_BY_VALUE, HISTORY_LABEL: app}
    engine._call(f"create volume {vol}", lambda: api.create_volume(vol, labels=labels))
    _remove_stale_helpers(engine, app)
    _with_helper(engine, app, images, lambda ref: _put_file(engine, ref, data))


def remove_record(engine: Engine, app: str) -> None:
    vol = volume_name(app)
    engine._call(f"remove volume {vol}", lambda: engine.api.remove_volume(vol), gone_ok=True)


def _with_helper(engine: Engine, app: str, images: Sequence[str], use: Any) -> Any:
    api = engine.api
    vol = volume_name(app)
    # Not named after the app (its label says whose it is): a helper a killed writer left
    # is never taken for one of the app's containers by name.
    name = f"dockyard.history-helper.{secrets.token_hex(6)}"
    ref: str | None = None
    host_config = api.create_host_config(binds=[f"{vol}:{MOUNT}"], network_mode="none")
    # A container takes its image's labels, and an image dockyard built carries the app's
    # owner labels: blanked here, so the helper is never taken for one of the app's.
    labels = {naming.MANAGED_BY: "", naming.APP: "", naming.SERVICE: "", HELPER_LABEL: app}

    def create(image: str) -> str:
        return str(
            api.create_container(
                image,
                command=["/dockyard-never-started"],
                entrypoint=[],
                name=name,
                labels=labels,
                network_disabled=True,
                host_config=host_config,
            )["Id"]
        )

    for image in [*images, *_any_images(engine)]:
        try:
            ref = engine._call(f"create helper {name}", functools.partial(create, image))
            break
        except EngineError as exc:
            if "no such image" not in str(exc).lower():
                raise
    if ref is None:
        raise EngineError(
            f"engine {engine.name} holds no image to read or write the history of app {app} "
            "with (the record is read through a container made from one)"
        )
    try:
        return use(ref)
    finally:
        engine._call(
            f"remove helper {name}", lambda: api.remove_container(ref, v=True), gone_ok=True
        )


def _remove_stale_helpers(engine: Engine, app: str) -> None:
    """Helpers a killed writer left behind (older than 30 s: a live one is gone by then)."""
    found = engine._call(
        "list history helpers",
        lambda: engine.api.containers(all=True, filters={"label": f"{HELPER_LABEL}={app}"}),
    )
    for c in found:
        if time.time() - float(c.get("Created") or 0) > STALE_AFTER:
            ref = str(c["Id"])
            remove = functools.partial(engine.api.remove_container, ref, v=True, force=True)
            engine._call(f"remove helper {ref[:12]}", remove, gone_ok=True)


def _any_images(engine: Engine) -> list[str]:
    found = engine._call("list images", lambda: engine.api.images(quiet=True))
    return [str(i) for i in found[:3]]


def _put_file(engine: Engine, ref: str, data: bytes) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(FILE)
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
    ok = engine._call(
        f"write history into {ref[:12]}", lambda: engine.api.put_archive(ref, MOUNT, buf.getvalue())
    )
    if not ok:
        raise EngineError(f"engine {engine.name} refused the history archive")


def _get_file(engine: Engine, ref: str) -> bytes | None:
    path = f"{MOUNT}/{FILE}"
    got = engine._call(f"read {path}", lambda: engine.api.get_archive(ref, path), gone_ok=True)
    if got is None:
        return None
    stream, _ = got
    raw = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        member = tar.extractfile(FILE)
        return member.read() if member is not None else None
