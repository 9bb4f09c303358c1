"""A container's log lines from its engine: `dockyard logs` (the Docker SDK stays in engine/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import EngineError

if TYPE_CHECKING:
    from .client import Engine


def log_lines(
    engine: Engine, container_id: str, follow: bool, since: float | None, tail: str = "all"
) -> Iterator[str]:
    """stdout and stderr of one container, line by line (without the newline); with `follow`,
    until the container stops. `since`: a Unix time, as `docker logs --since` takes it."""
    import docker.errors
    import requests.exceptions

    kwargs: dict[str, object] = {"stream": True, "follow": follow, "tail": tail}
    if since is not None:
        kwargs["since"] = since
    try:
        chunks = engine.api.logs(container_id, **kwargs)
        pending = b""
        for chunk in chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace").rstrip("\r")
        if pending:
            yield pending.decode("utf-8", "replace")
    except docker.errors.NotFound:
        return  # removed while we read it: nothing more to say
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"logs of {container_id[:12]} on {engine.name}: {exc}") from None
