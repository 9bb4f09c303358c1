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

from collections.abc import Callable, Mapping
from typing import Any

import docker
import docker.errors
import requests.exceptions

from dockyard.state.desired import DesiredContainer, DesiredNetwork, DesiredVolume, NetworkRef
from dockyard.state.observed import ObservedState

from . import containers, drift, files, images, networks, snapshot, volumes, waits
from .errors import EngineError, EngineUnavailable
from .registry import PullAuth
from .secrets import SecretStore
from .tls import EngineTLS
from .transport import CountingAPIClient, open_api
from .unreachable import unreachable

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
        self.secrets = secrets or SecretStore()
        self._image_env: dict[str, frozenset[str]] = {}

    @property
    def requests(self) -> int:
        """HTTP requests made to the engine so far (0 before the first)."""
        return self._api.requests if self._api is not None else 0

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            try:
                self._api = open_api(
                    self.url, self.tls, self.use_ssh_client, self._timeout, self._pool_size
                )
            except docker.errors.DockerException as exc:
                raise EngineUnavailable(self._unreachable(exc)) from None
        return self._api

    def _unreachable(self, exc: Exception) -> str:
        return unreachable(self.name, self.url, self.tls, exc)

    def _call(self, what: str, fn: Callable[[], Any], gone_ok: bool = False) -> Any:
        """One engine call; Docker's errors become EngineError with `what` in front.

        With `gone_ok`, an object that is already gone (or going) is success: removals
        and stops are idempotent, so a retry or a race never fails on them."""
        try:
            return fn()
        except docker.errors.NotFound as exc:
            if gone_ok:
                return None
            raise EngineError(f"{what}: {exc.explanation or 'not found'}") from None
        except docker.errors.APIError as exc:
            if gone_ok and exc.status_code == 409 and "already in progress" in str(exc.explanation):
                return None
            raise EngineError(f"{what}: {exc.explanation or exc}") from None
        except requests.exceptions.Timeout:
            raise EngineError(
                f"{what}: engine {self.name} did not answer within {self._timeout}s"
            ) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None

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

    def snapshot(self) -> ObservedState:
        """Everything dockyard needs to plan, in four list calls."""
        return snapshot.snapshot(self)

    def events(self) -> Any:
        """A blocking stream of the engine events that can change what dockyard observes."""
        return snapshot.events(self)

    # ---- containers (containers.py, waits.py, files.py, drift.py) ----------------------

    def inspect_state(self, ref: str) -> Mapping[str, Any]:
        return containers.inspect_state(self, ref)

    def inspect_container(self, ref: str) -> Mapping[str, Any]:
        """The engine's whole view of one container (state, restart count, config)."""
        return containers.inspect_container(self, ref)

    def logs_tail(self, ref: str, lines: int = 5) -> str:
        return containers.logs_tail(self, ref, lines)

    def create_container(self, d: DesiredContainer, secrets: Mapping[str, Any]) -> str:
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
        containers.connect(self, container, network, aliases, ref, links)

    def start(self, ref: str) -> None:
        containers.start(self, ref)

    def stop(self, ref: str, timeout: float | None = None) -> None:
        containers.stop(self, ref, timeout)

    def restart(self, ref: str, timeout: float | None = None) -> None:
        containers.restart(self, ref, timeout)

    def kill(self, ref: str, signal: str) -> None:
        containers.kill(self, ref, signal)

    def rename(self, ref: str, name: str) -> None:
        containers.rename(self, ref, name)

    def remove_container(self, ref: str) -> None:
        containers.remove_container(self, ref)

    def wait_healthy(self, ref: str, timeout: float, poll: float = 0.25) -> None:
        waits.wait_healthy(self, ref, timeout, poll)

    def wait_completed(self, ref: str, timeout: float, poll: float = 0.25) -> None:
        waits.wait_completed(self, ref, timeout, poll)

    def write_secrets(self, d: DesiredContainer, secrets: Mapping[str, Any]) -> list[str]:
        """Put the container's secret files on this machine's tmpfs; returns their bind specs."""
        return files.write_secrets(self, d, secrets)

    def refresh_inputs(self, ref: str, d: DesiredContainer, secrets: Mapping[str, Any]) -> None:
        """Give container `ref` the current content of its secrets and files."""
        files.refresh_inputs(self, ref, d, secrets)

    def config_drift(self, container_id: str, d: DesiredContainer) -> str | None:
        """Why a container's real config differs from what its labels claim, or None."""
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
        images.pull(self, ref, progress, auth, context)

    def image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names on this engine, None when it has none."""
        return images.image_id(self, ref)

    def refresh_image(
        self, ref: str, auth: PullAuth | None = None, context: str = ""
    ) -> tuple[str | None, str | None]:
        """Pull `ref` again (pullPolicy Always): (image id before, image id after)."""
        return images.refresh_image(self, ref, auth, context)

    def remote_digest(self, ref: str, auth: PullAuth | None = None) -> str:
        """The digest the registry serves for `ref` now, asked without pulling."""
        return images.remote_digest(self, ref, auth)

    def local_digests(self, ref: str) -> frozenset[str]:
        """The registry digests (`sha256:…`) the local image of `ref` is known by."""
        return images.local_digests(self, ref)

    def image_env(self, image: str) -> frozenset[str]:
        """The environment `image` sets itself (asked once per image)."""
        return images.image_env(self, image)

    def build(self, app: str, spec: Any, progress: Progress | None = None) -> None:
        """Build `spec` (a plan BuildSpec) and tag it with its content tag (and `image:`)."""
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
