"""One Docker engine: reads (a snapshot of what it holds) and writes (one call per operation).

`Engine` holds the connection (the HTTP client, made on first use, and the wrapper that
turns Docker's errors into EngineError); each concern lives in a module of its own, and
the methods here delegate to them so callers keep one surface, `engine.method(...)`:
containers.py (create, inspect, lifecycle), waits.py, files.py (secrets and files),
networks.py, volumes.py, images.py (pull, inspect, build), drift.py (config drift),
snapshot.py (what the engine holds, its events).

The engine package is the only one that imports the Docker SDK; everything it returns
is dockyard's own frozen values or plain strings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dockyard.state.desired import DesiredContainer, DesiredNetwork, DesiredVolume, NetworkRef
from dockyard.state.observed import ObservedState

from . import networks, snapshot, volumes, waits
from .errors import EngineError, EngineUnavailable
from .secrets import SecretStore
from .tls import EngineTLS
from .unix_http import UnixHTTPError, UnixReader, socket_path

if TYPE_CHECKING:
    import docker

    from .registry import PullAuth
    from .transport import CountingAPIClient

# The Docker SDK (with requests and urllib3) is imported on the first call that needs it:
# a snapshot of a local engine is read without it (engine/unix_http.py), and so a no-op
# `apply` or `diff` never loads it. containers.py, files.py and images.py import it, so
# they are imported by the methods that use them (drift.py too: only the controller asks).

Progress = Callable[[str], None]


class Engine:
    def __init__(
        self,
        url: str | None = None,
        name: str = "local",
        pool_size: int = 48,
        timeout: int = 120,
        secrets: SecretStore | None = None,
        tls: EngineTLS | None = None,
        use_ssh_client: bool = False,
        copies_files: bool | None = None,
    ) -> None:
        """`tls`: mutual TLS to a `tcp://` URL. `use_ssh_client`: for `ssh://` URLs, run the
        system `ssh` binary (keys from ssh-agent and ~/.ssh/config) rather than paramiko.

        `copies_files`: the engine is on another machine, so secrets and files from the
        manifest's folder are copied into containers through the API (engine/delivery.py)
        rather than bind-mounted from this machine's paths. Default: only for tcp:// and
        ssh:// URLs; every DockerHost is another machine (fleet/hosts.py)."""
        self.name = name
        if copies_files is None:
            copies_files = bool(url) and not str(url).startswith("unix://")
        self.copies_files = copies_files
        self.url = url
        self.tls = tls
        self.use_ssh_client = use_ssh_client
        self._pool_size = pool_size
        self._timeout = timeout
        self._api: CountingAPIClient | None = None
        path = None if tls is not None or use_ssh_client else socket_path(url)
        self._reader = UnixReader(path, timeout) if path else None
        self.secrets = secrets or SecretStore()
        self._image_env: dict[str, frozenset[str]] = {}

    @property
    def local_socket(self) -> str | None:
        """The unix socket this engine is read on without the SDK, else None."""
        return self._reader.path if self._reader is not None else None

    @property
    def requests(self) -> int:
        """HTTP requests made to the engine so far (0 before the first)."""
        sdk = self._api.requests if self._api is not None else 0
        return sdk + (self._reader.requests if self._reader is not None else 0)

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            import docker.errors

            from .transport import open_api

            try:
                self._api = open_api(
                    self.url, self.tls, self.use_ssh_client, self._timeout, self._pool_size
                )
            except docker.errors.DockerException as exc:
                raise EngineUnavailable(self._unreachable(exc)) from None
        return self._api

    def _unreachable(self, exc: Exception) -> str:
        from .unreachable import unreachable

        return unreachable(self.name, self.url, self.tls, exc)

    def get(self, what: str, url: str, sdk: Callable[[], Any]) -> Any:
        """One read-only call: GET `url` straight on a local engine's unix socket, else
        `sdk()` through the Docker SDK; errors as `_call` phrases them."""
        if self._reader is None:
            return self._call(what, sdk)
        try:
            return self._reader.get(url)
        except UnixHTTPError as exc:
            raise EngineError(f"{what}: {exc.explanation or 'not found'}") from None
        except TimeoutError:
            raise EngineError(
                f"{what}: engine {self.name} did not answer within {self._timeout}s"
            ) from None
        except OSError as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None

    def _call(self, what: str, fn: Callable[[], Any], gone_ok: bool = False) -> Any:
        """One engine call; Docker's errors become EngineError with `what` in front.

        With `gone_ok`, an object that is already gone (or going) is success: removals
        and stops are idempotent, so a retry or a race never fails on them."""
        try:
            return fn()
        except Exception as exc:
            if "docker" not in sys.modules:
                raise  # not the SDK's: it is not loaded
            return self._failed(what, exc, gone_ok)

    def _failed(self, what: str, exc: Exception, gone_ok: bool) -> Any:
        """What `_call` makes of `exc` raised by a call through the SDK."""
        import docker.errors
        import requests.exceptions

        if isinstance(exc, docker.errors.NotFound):
            if gone_ok:
                return None
            raise EngineError(f"{what}: {exc.explanation or 'not found'}") from None
        if isinstance(exc, docker.errors.APIError):
            if gone_ok and exc.status_code == 409 and "already in progress" in str(exc.explanation):
                return None
            raise EngineError(f"{what}: {exc.explanation or exc}") from None
        if isinstance(exc, requests.exceptions.Timeout):
            raise EngineError(
                f"{what}: engine {self.name} did not answer within {self._timeout}s"
            ) from None
        if isinstance(exc, requests.exceptions.ConnectionError | docker.errors.DockerException):
            raise EngineUnavailable(self._unreachable(exc)) from None
        raise exc

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # ---- reads -------------------------------------------------------------------------

    def version(self) -> str:
        info = self._call("version", lambda: self.api.version())
        return str(info.get("Version", "?"))

    def info(self) -> Mapping[str, Any]:
        """The engine's `docker info`: ServerVersion, ContainersRunning and the rest."""
        info: Mapping[str, Any] = self._call("info", lambda: self.api.info())
        return info

    def snapshot(self, answers: dict[str, Any] | None = None) -> ObservedState:
        """Everything dockyard needs to plan, in four list calls (`answers`: see there)."""
        return snapshot.snapshot(self, answers)

    def events(self) -> Any:
        """A blocking stream of the engine events that can change what dockyard observes."""
        return snapshot.events(self)

    # ---- containers (containers.py, waits.py, files.py, drift.py) ----------------------

    def inspect_state(self, ref: str) -> Mapping[str, Any]:
        from . import containers

        return containers.inspect_state(self, ref)

    def inspect_container(self, ref: str) -> Mapping[str, Any]:
        """The engine's whole view of one container (state, restart count, config)."""
        from . import containers

        return containers.inspect_container(self, ref)

    def logs_tail(self, ref: str, lines: int = 5) -> str:
        from . import containers

        return containers.logs_tail(self, ref, lines)

    def create_container(self, d: DesiredContainer, secrets: Mapping[str, Any]) -> str:
        from . import containers

        return containers.create_container(self, d, secrets)

    def connect(
        self,
        container: str,
        network: str,
        aliases: tuple[str, ...],
        ref: NetworkRef | None = None,
        links: tuple[str, ...] = (),
    ) -> None:
        """Attach a created container to one more network (`ref`: its static addresses;
        `links`: Compose links, `container:alias`)."""
        from . import containers

        containers.connect(self, container, network, aliases, ref, links)

    def start(self, ref: str) -> None:
        from . import containers

        containers.start(self, ref)

    def stop(self, ref: str, timeout: float | None = None) -> None:
        from . import containers

        containers.stop(self, ref, timeout)

    def restart(self, ref: str, timeout: float | None = None) -> None:
        from . import containers

        containers.restart(self, ref, timeout)

    def kill(self, ref: str, signal: str) -> None:
        from . import containers

        containers.kill(self, ref, signal)

    def rename(self, ref: str, name: str) -> None:
        from . import containers

        containers.rename(self, ref, name)

    def remove_container(self, ref: str) -> None:
        from . import containers

        containers.remove_container(self, ref)

    def wait_healthy(self, ref: str, timeout: float, poll: float = 0.25) -> None:
        waits.wait_healthy(self, ref, timeout, poll)

    def wait_completed(self, ref: str, timeout: float, poll: float = 0.25) -> None:
        waits.wait_completed(self, ref, timeout, poll)

    def write_secrets(self, d: DesiredContainer, secrets: Mapping[str, Any]) -> list[str]:
        """Put the container's secret files on this machine's tmpfs; returns their bind specs."""
        from . import files

        return files.write_secrets(self, d, secrets)

    def refresh_inputs(self, ref: str, d: DesiredContainer, secrets: Mapping[str, Any]) -> None:
        """Give container `ref` the current content of its secrets and files."""
        from . import files

        files.refresh_inputs(self, ref, d, secrets)

    def config_drift(self, container_id: str, d: DesiredContainer) -> str | None:
        """Why a container's real config differs from what its labels claim, or None."""
        from . import drift

        return drift.config_drift(self, container_id, d)

    # ---- images (images.py) -------------------------------------------------------------

    def pull(
        self,
        ref: str,
        progress: Progress | None = None,
        auth: PullAuth | None = None,
        context: str = "",
    ) -> None:
        """Pull `ref` (images.pull says how); a failure is a PullError that says what to do."""
        from . import images

        images.pull(self, ref, progress, auth, context)

    def image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names on this engine, None when it has none."""
        from . import images

        return images.image_id(self, ref)

    def refresh_image(
        self, ref: str, auth: PullAuth | None = None, context: str = ""
    ) -> tuple[str | None, str | None]:
        """Pull `ref` again (pullPolicy Always): (image id before, image id after)."""
        from . import images

        return images.refresh_image(self, ref, auth, context)

    def remote_digest(self, ref: str, auth: PullAuth | None = None) -> str:
        """The digest the registry serves for `ref` now, asked without pulling."""
        from . import images

        return images.remote_digest(self, ref, auth)

    def local_digests(self, ref: str) -> frozenset[str]:
        """The registry digests (`sha256:…`) the local image of `ref` is known by."""
        from . import images

        return images.local_digests(self, ref)

    def image_env(self, image: str) -> frozenset[str]:
        """The environment `image` sets itself (asked once per image)."""
        from . import images

        return images.image_env(self, image)

    def build(self, app: str, spec: Any, progress: Progress | None = None) -> None:
        """Build `spec` (a plan BuildSpec) and tag it with its content tag (and `image:`)."""
        from . import images

        images.build(self, app, spec, progress)

    # ---- networks and volumes (networks.py, volumes.py) ---------------------------------

    def create_network(self, net: DesiredNetwork) -> None:
        networks.create_network(self, net)

    def remove_network(self, ref: str) -> None:
        networks.remove_network(self, ref)

    def create_volume(self, vol: DesiredVolume) -> None:
        volumes.create_volume(self, vol)

    def remove_volume(self, name: str) -> None:
        volumes.remove_volume(self, name)
