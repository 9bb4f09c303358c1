"""Containers on one engine: create (secrets and files delivered first), inspect, and the
lifecycle calls (connect, start, stop, restart, signal, rename, remove), one API call each."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import docker.errors
import requests.exceptions

from dockyard.state.desired import DesiredContainer, NetworkRef

from .container_body import container_body
from .errors import EngineError, EngineUnavailable
from .files import packed, put_archive

if TYPE_CHECKING:
    from .client import Engine


def create_container(engine: Engine, d: DesiredContainer, secrets: Mapping[str, Any]) -> str:
    # Packed before the create: a secret without a value leaves nothing behind.
    pack = packed(engine, d, secrets) if engine.copies_files else None
    binds = engine.write_secrets(d, secrets)
    body = container_body(d.config, d.labels, binds, engine.copies_files)
    # As Compose: the container's own name resolves on its networks too.
    for endpoint in ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).values():
        if d.name not in endpoint.setdefault("Aliases", []):
            endpoint["Aliases"].append(d.name)
    container_id = _create(engine, d, body)
    if pack is not None:
        try:
            put_archive(engine, container_id, d, pack)
        except EngineError:
            # A container without its secrets must never be started by a later pass.
            engine.remove_container(container_id)
            raise
    return container_id


def _create(engine: Engine, d: DesiredContainer, body: dict[str, Any]) -> str:
    deadline = time.monotonic() + 5.0
    while True:
        try:
            result = engine.api.create_container_from_config(body, name=d.name)
            return str(result["Id"])
        except docker.errors.APIError as exc:
            # A container removed a moment ago can hold its name until the engine
            # finishes removing it: wait for that, never for anyone else's container.
            if (
                exc.status_code == 409
                and time.monotonic() < deadline
                and _name_being_released(engine, d.name)
            ):
                time.sleep(0.05)
                continue
            raise EngineError(f"create container {d.name}: {exc.explanation or exc}") from None
        except requests.exceptions.Timeout:
            raise EngineError(
                f"create container {d.name}: engine {engine.name} did not answer within "
                f"{engine._timeout}s"
            ) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(engine._unreachable(exc)) from None


def _name_being_released(engine: Engine, name: str) -> bool:
    try:
        state = engine.api.inspect_container(name).get("State") or {}
    except docker.errors.NotFound:
        return True  # gone now: try again
    except docker.errors.DockerException:
        return False
    return bool(state.get("Status") in ("removing", "dead"))


def connect(
    engine: Engine,
    container: str,
    network: str,
    aliases: tuple[str, ...],
    ref: NetworkRef | None = None,
    links: tuple[str, ...] = (),
) -> None:
    """Attach a created container to one more network (`ref`: its static addresses;
    `links`: Compose links, `container:alias`)."""
    engine._call(
        f"connect {container} to {network}",
        lambda: engine.api.connect_container_to_network(
            container,
            network,
            aliases=list(aliases),
            ipv4_address=ref.ipv4_address if ref else None,
            ipv6_address=ref.ipv6_address if ref else None,
            mac_address=ref.mac_address if ref else None,
            links=[tuple(link.split(":", 1)) for link in links] or None,
        ),
    )


def start(engine: Engine, ref: str) -> None:
    engine._call(f"start {ref}", lambda: engine.api.start(ref))


def stop(engine: Engine, ref: str, timeout: float | None = None) -> None:
    t = None if timeout is None else max(0, round(timeout))
    engine._call(f"stop {ref}", lambda: engine.api.stop(ref, timeout=t), gone_ok=True)


def remove_container(engine: Engine, ref: str) -> None:
    # v=True removes anonymous volumes only; named volumes are never removed here.
    engine._call(
        f"remove {ref}",
        lambda: engine.api.remove_container(ref, v=True, force=True),
        gone_ok=True,
    )


def restart(engine: Engine, ref: str, timeout: float | None = None) -> None:
    t = 10 if timeout is None else max(0, round(timeout))
    engine._call(f"restart {ref}", lambda: engine.api.restart(ref, timeout=t))


def kill(engine: Engine, ref: str, signal: str) -> None:
    engine._call(f"signal {signal} to {ref}", lambda: engine.api.kill(ref, signal=signal))


def inspect_state(engine: Engine, ref: str) -> Mapping[str, Any]:
    data = engine._call(f"inspect {ref}", lambda: engine.api.inspect_container(ref))
    state: Mapping[str, Any] = data.get("State", {})
    return state


def inspect_container(engine: Engine, ref: str) -> Mapping[str, Any]:
    """The engine's whole view of one container (state, restart count, config)."""
    data: Mapping[str, Any] = engine._call(
        f"inspect {ref}", lambda: engine.api.inspect_container(ref)
    )
    return data


def rename(engine: Engine, ref: str, name: str) -> None:
    engine._call(f"rename {ref} to {name}", lambda: engine.api.rename(ref, name))


def logs_tail(engine: Engine, ref: str, lines: int = 5) -> str:
    try:
        raw = engine.api.logs(ref, tail=lines)
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return ""
    return bytes(raw).decode(errors="replace").strip()
