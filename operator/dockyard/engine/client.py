"""One Docker engine: reads (a snapshot of what it holds) and writes (one call per operation).

This is the only module that imports the Docker SDK; everything it returns is
dockyard's own frozen values or plain strings.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import docker
import docker.errors
import docker.tls
import requests.exceptions

from dockyard.engine.objects import (
    ContainerConfig,
    DesiredContainer,
    DesiredNetwork,
    DesiredVolume,
    NetworkRef,
)
from dockyard.spec import naming

from .delivery import Delivery, copied, delivery
from .errors import EngineError, EngineUnavailable
from .observed import (
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
    normalize_image_ref,
)
from .refs import registry_of, split_ref
from .registry import PullAuth, docker_config_auth, pull_error
from .secrets import SecretStore
from .tls import EngineTLS

Progress = Callable[[str], None]

_EXIT = re.compile(r"Exited \((-?\d+)\)")
_NS = 1_000_000_000


class _CountingAPIClient(docker.APIClient):  # type: ignore[misc]
    """Counts HTTP requests to the engine: the proof that a no-op reconcile makes none."""

    requests = 0

    def _get(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return super()._get(*args, **kwargs)

    def _post(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return super()._post(*args, **kwargs)

    def _put(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return super()._put(*args, **kwargs)

    def _delete(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return super()._delete(*args, **kwargs)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the CA we were given:
            # the engine would then be checked against the system CAs, not spec.tls.caFile.
            settings["verify"] = self.verify
        return settings


EVENT_ACTIONS = [
    "create",
    "start",
    "die",
    "destroy",
    "rename",
    "health_status",
    "pause",
    "unpause",
    "update",
    "oom",
    "connect",
    "disconnect",
    "tag",
    "untag",
    "delete",
    "pull",
    "load",
    "import",
]


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
        self._api: _CountingAPIClient | None = None
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
                kwargs: dict[str, Any] = {
                    "version": "auto",
                    "timeout": self._timeout,
                    "max_pool_size": self._pool_size,
                }
                if self.tls is not None:
                    kwargs["tls"] = docker.tls.TLSConfig(
                        client_cert=(self.tls.cert, self.tls.key),
                        ca_cert=self.tls.ca,
                        verify=self.tls.verify,
                    )
                if self.use_ssh_client:
                    kwargs["use_ssh_client"] = True
                if self.url:
                    self._api = _CountingAPIClient(base_url=self.url, **kwargs)
                else:
                    env = docker.utils.kwargs_from_env()
                    env.update(kwargs)
                    self._api = _CountingAPIClient(**env)
            except docker.errors.DockerException as exc:
                raise EngineUnavailable(self._unreachable(exc)) from None
        return self._api

    def _unreachable(self, exc: Exception) -> str:
        where = self.url or "the local engine (DOCKER_HOST or /var/run/docker.sock)"
        tls_problem = _tls_problem(exc, self.tls)
        if tls_problem is not None:
            return f"cannot reach Docker engine {self.name} at {where}: {tls_problem}"
        if "HTTP request to an HTTPS server" in str(exc):
            return (
                f"cannot reach Docker engine {self.name} at {where}: the engine expects TLS "
                "on this port; give the host spec.tls (caFile, certFile, keyFile)"
            )
        if self.url and not self.url.startswith("unix://"):
            hint = "is dockerd running there, listening on that address, and reachable from here?"
        else:
            hint = "is dockerd running? (`make engine` starts one)"
        return f"cannot reach Docker engine {self.name} at {where}: {_reason(exc)}; {hint}"

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
        containers = self._call("list containers", lambda: self.api.containers(all=True))
        networks = self._call("list networks", lambda: self.api.networks())
        volumes = self._call("list volumes", lambda: self.api.volumes())
        images = self._call("list images", lambda: self.api.images())
        return ObservedState(
            containers=tuple(_container(c) for c in containers),
            networks=tuple(
                ObservedNetwork(id=n["Id"], name=n["Name"], labels=n.get("Labels") or {})
                for n in networks
            ),
            volumes=tuple(
                ObservedVolume(name=v["Name"], labels=v.get("Labels") or {})
                for v in (volumes.get("Volumes") or [])
            ),
            images=frozenset(_image_refs(images)),
            image_ids=_image_ids(images),
        )

    def inspect_state(self, ref: str) -> Mapping[str, Any]:
        data = self._call(f"inspect {ref}", lambda: self.api.inspect_container(ref))
        state: Mapping[str, Any] = data.get("State", {})
        return state

    def inspect_container(self, ref: str) -> Mapping[str, Any]:
        """The engine's whole view of one container (state, restart count, config)."""
        data: Mapping[str, Any] = self._call(
            f"inspect {ref}", lambda: self.api.inspect_container(ref)
        )
        return data

    def rename(self, ref: str, name: str) -> None:
        self._call(f"rename {ref} to {name}", lambda: self.api.rename(ref, name))

    def logs_tail(self, ref: str, lines: int = 5) -> str:
        try:
            raw = self.api.logs(ref, tail=lines)
        except docker.errors.DockerException:
            return ""
        return bytes(raw).decode(errors="replace").strip()

    # ---- images ------------------------------------------------------------------------

    def pull(
        self,
        ref: str,
        progress: Progress | None = None,
        auth: PullAuth | None = None,
        context: str = "",
    ) -> None:
        """Pull `ref` (a tag, a digest, or `repo:tag@sha256:…`) with `auth`, else with the
        Docker config file's credentials for its registry. `context` (e.g. "service web")
        is named in errors. A failure is a PullError that says what to do."""
        repo, tag = split_ref(ref)
        if auth is None:
            auth = docker_config_auth(registry_of(ref))
        # An explicit (possibly empty) auth: the SDK would otherwise fall back to the
        # credentials it read when the client was made, which may be stale.
        auth_config = auth.config() if auth is not None else {}
        try:
            stream = self.api.pull(repo, tag=tag, stream=True, decode=True, auth_config=auth_config)
            for event in stream:
                if "error" in event:
                    raise pull_error(ref, auth, str(event["error"]), context)
                if progress and event.get("status"):
                    progress(str(event["status"]))
        except docker.errors.APIError as exc:
            raise pull_error(ref, auth, str(exc.explanation or exc), context) from None
        except requests.exceptions.Timeout:
            raise EngineError(
                f"pull {ref}: engine {self.name} did not answer within {self._timeout}s"
            ) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None

    def image_id(self, ref: str) -> str | None:
        """The id of the image `ref` names on this engine, None when it has none."""
        try:
            data = self.api.inspect_image(ref)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspect image {ref}: {exc.explanation or exc}") from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None
        return str(data.get("Id") or "") or None

    def refresh_image(
        self, ref: str, auth: PullAuth | None = None, context: str = ""
    ) -> tuple[str | None, str | None]:
        """Pull `ref` again (pullPolicy Always): (image id before, image id after). The two
        differ when the tag moved to a new digest in its registry."""
        before = self.image_id(ref)
        self.pull(ref, auth=auth, context=context)
        return before, self.image_id(ref)

    def remote_digest(self, ref: str, auth: PullAuth | None = None) -> str:
        """The digest the registry serves for `ref` now, asked without pulling."""
        if auth is None:
            auth = docker_config_auth(registry_of(ref))
        try:
            data = self.api.inspect_distribution(
                ref, auth_config=auth.config() if auth is not None else {}
            )
        except docker.errors.APIError as exc:
            raise pull_error(ref, auth, str(exc.explanation or exc)) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None
        return str((data.get("Descriptor") or {}).get("digest") or "")

    def local_digests(self, ref: str) -> frozenset[str]:
        """The registry digests (`sha256:…`) the local image of `ref` is known by."""
        try:
            data = self.api.inspect_image(ref)
        except docker.errors.NotFound:
            return frozenset()
        except docker.errors.APIError as exc:
            raise EngineError(f"inspect image {ref}: {exc.explanation or exc}") from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None
        return frozenset(
            str(d).partition("@")[2] for d in data.get("RepoDigests") or [] if "@" in str(d)
        )

    def build(self, app: str, spec: Any, progress: Progress | None = None) -> None:
        """Build `spec` (a plan BuildSpec) and tag it with its content tag (and `image:`)."""
        labels = naming.owner_labels(app)
        labels[naming.BUILD_HASH] = spec.tag.rsplit(":", 1)[-1]
        stream = self._call(
            f"build {spec.tag}",
            lambda: self.api.build(
                path=spec.context,
                dockerfile=spec.dockerfile,
                target=spec.target,
                buildargs=dict(spec.args),
                tag=spec.tag,
                rm=True,
                forcerm=True,
                decode=True,
                labels=labels,
            ),
        )
        tail: list[str] = []
        for event in self._stream(f"build {spec.tag}", stream):
            if "error" in event:
                detail = "\n".join(tail[-5:])
                raise EngineError(f"build of {spec.tag} failed: {event['error'].strip()}\n{detail}")
            text = str(event.get("stream", "")).strip()
            if text:
                tail.append(text)
                if progress:
                    progress(text)
        if spec.also_tag:
            repo, _, tag = spec.also_tag.rpartition(":")
            if not repo or "/" in tag:
                repo, tag = spec.also_tag, "latest"
            self._call(
                f"tag {spec.also_tag}", lambda: self.api.tag(spec.tag, repo, tag, force=True)
            )

    def _stream(self, what: str, stream: Any) -> Any:
        try:
            yield from stream
        except docker.errors.APIError as exc:
            raise EngineError(f"{what}: {exc.explanation or exc}") from None
        except requests.exceptions.RequestException as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None

    # ---- networks and volumes ----------------------------------------------------------

    def create_network(self, net: DesiredNetwork) -> None:
        labels = dict(net.labels)
        labels.update(naming.owner_labels(net.app))
        labels[naming.CONFIG_HASH] = net.config_hash
        self._call(
            f"create network {net.name}",
            lambda: self.api.create_network(
                net.name,
                driver=net.driver,
                options=dict(net.driver_opts) or None,
                ipam=_ipam_body(net),
                internal=net.internal,
                labels=labels,
                enable_ipv6=net.enable_ipv6,
                check_duplicate=True,
            ),
        )

    def remove_network(self, ref: str) -> None:
        self._call(f"remove network {ref}", lambda: self.api.remove_network(ref), gone_ok=True)

    def create_volume(self, vol: DesiredVolume) -> None:
        labels = dict(vol.labels)
        labels.update(naming.owner_labels(vol.app))
        self._call(
            f"create volume {vol.name}",
            lambda: self.api.create_volume(
                vol.name,
                driver=vol.driver,
                driver_opts=dict(vol.driver_opts) or None,
                labels=labels,
            ),
        )

    def remove_volume(self, name: str) -> None:
        self._call(f"remove volume {name}", lambda: self.api.remove_volume(name), gone_ok=True)

    # ---- containers --------------------------------------------------------------------

    def write_secrets(self, d: DesiredContainer, secrets: Mapping[str, Any]) -> list[str]:
        """Put the container's secret files on this machine's tmpfs; returns their bind specs.

        Done before every create and start: a tmpfs does not survive a reboot, and a
        missing bind source would make Docker create an empty directory instead. Nothing
        to do for an engine on another machine: its containers hold their own copy."""
        binds: list[str] = []
        if self.copies_files:
            return binds
        for mount in d.config.mounts:
            if mount.kind != "secret":
                continue
            secret = secrets.get(mount.source or "")
            if secret is None:
                raise EngineError(f"{d.name}: secret {mount.source} has no value")
            host = self.secrets.write(
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

    def create_container(self, d: DesiredContainer, secrets: Mapping[str, Any]) -> str:
        # Packed before the create: a secret without a value leaves nothing behind.
        pack = self._delivery(d, secrets) if self.copies_files else None
        binds = self.write_secrets(d, secrets)
        body = container_body(d.config, d.labels, binds, self.copies_files)
        container_id = self._create(d, body)
        if pack is not None:
            try:
                self._put_archive(container_id, d, pack)
            except EngineError:
                # A container without its secrets must never be started by a later pass.
                self.remove_container(container_id)
                raise
        return container_id

    def refresh_inputs(self, ref: str, d: DesiredContainer, secrets: Mapping[str, Any]) -> None:
        """Give container `ref` the current content of its secrets and files (an
        `onChange: restart | signal` input changed), before it is restarted or signalled."""
        if not self.copies_files:
            self.write_secrets(d, secrets)
            return
        pack = self._delivery(d, secrets)
        if pack is not None:
            self._put_archive(ref, d, pack)

    def _delivery(self, d: DesiredContainer, secrets: Mapping[str, Any]) -> Delivery | None:
        pack = delivery(d, secrets)
        if pack is not None and d.config.read_only:
            raise EngineError(
                f"{d.name}: engine {self.name} is another machine, so secrets and files from "
                f"the manifest's folder ({', '.join(pack.targets)}) are copied into the "
                "container, and a read-only root filesystem cannot receive them: set "
                f"readOnly: false on service {d.service}, or keep these files in a volume"
            )
        return pack

    def _put_archive(self, ref: str, d: DesiredContainer, pack: Delivery) -> None:
        what = f"copy {', '.join(pack.targets)} into {d.name} on engine {self.name}"
        try:
            ok = self.api.put_archive(ref, "/", pack.archive)
        except docker.errors.APIError as exc:
            raise EngineError(
                f"{what}: {exc.explanation or exc}; the container was not started "
                "(check the host's disk space and that the paths are writable in the image)"
            ) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(self._unreachable(exc)) from None
        if not ok:
            raise EngineError(f"{what}: the engine refused the archive")

    def _create(self, d: DesiredContainer, body: dict[str, Any]) -> str:
        deadline = time.monotonic() + 5.0
        while True:
            try:
                result = self.api.create_container_from_config(body, name=d.name)
                return str(result["Id"])
            except docker.errors.APIError as exc:
                # A container removed a moment ago can hold its name until the engine
                # finishes removing it: wait for that, never for anyone else's container.
                if (
                    exc.status_code == 409
                    and time.monotonic() < deadline
                    and self._name_being_released(d.name)
                ):
                    time.sleep(0.05)
                    continue
                raise EngineError(f"create container {d.name}: {exc.explanation or exc}") from None
            except requests.exceptions.Timeout:
                raise EngineError(
                    f"create container {d.name}: engine {self.name} did not answer within "
                    f"{self._timeout}s"
                ) from None
            except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
                raise EngineUnavailable(self._unreachable(exc)) from None

    def _name_being_released(self, name: str) -> bool:
        try:
            state = self.api.inspect_container(name).get("State") or {}
        except docker.errors.NotFound:
            return True  # gone now: try again
        except docker.errors.DockerException:
            return False
        return bool(state.get("Status") in ("removing", "dead"))

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
        self._call(
            f"connect {container} to {network}",
            lambda: self.api.connect_container_to_network(
                container,
                network,
                aliases=list(aliases),
                ipv4_address=ref.ipv4_address if ref else None,
                ipv6_address=ref.ipv6_address if ref else None,
                mac_address=ref.mac_address if ref else None,
                links=[tuple(link.split(":", 1)) for link in links] or None,
            ),
        )

    def start(self, ref: str) -> None:
        self._call(f"start {ref}", lambda: self.api.start(ref))

    def stop(self, ref: str, timeout: float | None = None) -> None:
        t = None if timeout is None else max(0, round(timeout))
        self._call(f"stop {ref}", lambda: self.api.stop(ref, timeout=t), gone_ok=True)

    def remove_container(self, ref: str) -> None:
        # v=True removes anonymous volumes only; named volumes are never removed here.
        self._call(
            f"remove {ref}",
            lambda: self.api.remove_container(ref, v=True, force=True),
            gone_ok=True,
        )

    def restart(self, ref: str, timeout: float | None = None) -> None:
        t = 10 if timeout is None else max(0, round(timeout))
        self._call(f"restart {ref}", lambda: self.api.restart(ref, timeout=t))

    def kill(self, ref: str, signal: str) -> None:
        self._call(f"signal {signal} to {ref}", lambda: self.api.kill(ref, signal=signal))

    def events(self) -> Any:
        """A blocking stream of the engine events that can change what dockyard observes.

        Exec events (every healthcheck run) are filtered out by the engine itself."""
        return self._call(
            "watch events",
            lambda: self.api.events(decode=True, filters={"event": EVENT_ACTIONS}),
        )

    def config_drift(self, container_id: str, d: DesiredContainer) -> str | None:
        """Why a container's real config differs from what its labels claim, or None.

        Catches a container recreated by hand with dockyard's labels copied onto it."""
        data = self._call(
            f"inspect {container_id}", lambda: self.api.inspect_container(container_id)
        )
        cfg, host = data.get("Config") or {}, data.get("HostConfig") or {}
        want = container_body(d.config, d.labels, [], self.copies_files)
        if cfg.get("Image") != want["Image"]:
            return f"image is {cfg.get('Image')}, not {want['Image']}"
        for key in ("Cmd", "Entrypoint"):
            if key in want and cfg.get(key) != want[key]:
                return f"{key.lower()} was changed outside dockyard"
        # Only what dockyard set: the image fills in WorkingDir/User/Cmd when the spec is silent.
        for key in ("WorkingDir", "User"):
            if key in want and (cfg.get(key) or "") != want[key]:
                return f"{key} was changed outside dockyard"
        actual_env = set(cfg.get("Env") or [])
        wanted_env = set(want["Env"])
        if not wanted_env <= actual_env:
            missing = sorted(e.split("=", 1)[0] for e in wanted_env - actual_env)
            return f"environment differs ({', '.join(missing)})"
        extra = actual_env - wanted_env - self.image_env(str(cfg.get("Image")))
        if extra:
            return f"environment differs ({', '.join(sorted(e.split('=', 1)[0] for e in extra))})"
        want_host = want["HostConfig"]
        if _port_set(host.get("PortBindings")) != _port_set(want_host.get("PortBindings")):
            return "published ports were changed outside dockyard"
        mounted = {m.get("Destination") for m in data.get("Mounts") or []}
        mounts = d.config.mounts
        if self.copies_files:  # copied in, not mounted
            mounts = tuple(m for m in mounts if not copied(m))
        missing_mounts = {m.target for m in mounts} - mounted
        if missing_mounts:
            return f"mounts were changed outside dockyard ({', '.join(sorted(missing_mounts))})"
        for key in ("RestartPolicy", "Memory", "NanoCpus", "ReadonlyRootfs", "Privileged"):
            if key in want_host and host.get(key) != want_host[key]:
                if (
                    key == "RestartPolicy"
                    and host.get(key, {}).get("Name") == want_host[key]["Name"]
                    and int(host[key].get("MaximumRetryCount") or 0)
                    == int(want_host[key].get("MaximumRetryCount") or 0)
                ):
                    continue
                return f"{key} was changed outside dockyard"
        # Compose's host settings, where the engine shows back exactly what it was given
        # (ones a kernel may drop with a warning, such as swappiness, are left out).
        for key in _KEPT_AS_SENT:
            if key in want_host and host.get(key) != want_host[key]:
                return f"{key} was changed outside dockyard"
        for key in ("Tty", "OpenStdin"):
            if key in want and cfg.get(key) != want[key]:
                return f"{key} was changed outside dockyard"
        return None

    def image_env(self, image: str) -> frozenset[str]:
        if image not in self._image_env:
            try:
                data = self.api.inspect_image(image)
            except docker.errors.DockerException:
                return frozenset()
            self._image_env[image] = frozenset((data.get("Config") or {}).get("Env") or [])
        return self._image_env[image]

    def wait_healthy(self, ref: str, timeout: float, poll: float = 0.25) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.inspect_state(ref)
            health = (state.get("Health") or {}).get("Status")
            if health is None:
                raise EngineError(
                    f"{ref} has no healthcheck, so it can never become healthy: add a "
                    "healthcheck to its service or depend on it with condition: started"
                )
            if health == "healthy":
                return
            if state.get("Status") in ("exited", "dead"):
                raise EngineError(
                    f"{ref} exited with code {state.get('ExitCode')} before it became healthy"
                    + _logs_hint(self.logs_tail(ref))
                )
            if time.monotonic() > deadline:
                log = (state.get("Health") or {}).get("Log") or []
                last = log[-1].get("Output", "").strip() if log else ""
                raise EngineError(
                    f"{ref} did not become healthy within {timeout:.0f}s (status {health})"
                    + (f"; last check said: {last[:200]}" if last else "")
                )
            time.sleep(poll)

    def wait_completed(self, ref: str, timeout: float, poll: float = 0.25) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.inspect_state(ref)
            if state.get("Status") in ("exited", "dead"):
                code = state.get("ExitCode")
                if code == 0:
                    return
                raise EngineError(
                    f"{ref} exited with code {code}, not 0" + _logs_hint(self.logs_tail(ref))
                )
            if time.monotonic() > deadline:
                raise EngineError(f"{ref} did not complete within {timeout:.0f}s")
            time.sleep(poll)


def container_body(
    config: ContainerConfig,
    labels: Mapping[str, str],
    binds: list[str],
    copies_files: bool = False,
) -> dict[str, Any]:
    """The Engine API's create-container body for one container of a service.
    `copies_files`: files from the manifest's folder are copied in, not bind-mounted."""
    host: dict[str, Any] = {}
    body: dict[str, Any] = {
        "Image": config.image,
        "Labels": dict(labels),
        "Env": [f"{k}={v}" for k, v in config.env],
        "HostConfig": host,
    }
    if config.command is not None:
        body["Cmd"] = list(config.command)
    if config.entrypoint is not None:
        body["Entrypoint"] = list(config.entrypoint)
    for key, value in (
        ("WorkingDir", config.working_dir),
        ("User", config.user),
        ("Hostname", config.hostname),
        ("StopSignal", config.stop_signal),
    ):
        if value:
            body[key] = value
    if config.stop_grace_period is not None:
        body["StopTimeout"] = max(0, round(config.stop_grace_period))
    if config.healthcheck is not None:
        hc = config.healthcheck
        health: dict[str, Any] = {}
        if hc.test:
            health["Test"] = list(hc.test)
        for key, seconds in (
            ("Interval", hc.interval),
            ("Timeout", hc.timeout),
            ("StartPeriod", hc.start_period),
        ):
            if seconds is not None:
                health[key] = int(seconds * _NS)
        if hc.retries is not None:
            health["Retries"] = hc.retries
        body["Healthcheck"] = health

    if config.ports:
        exposed: dict[str, dict[str, Any]] = {}
        bindings: dict[str, list[dict[str, str]]] = {}
        for p in config.ports:
            key = f"{p.target}/{p.protocol}"
            exposed[key] = {}
            bindings.setdefault(key, []).append(
                {"HostIp": p.host_ip or "", "HostPort": str(p.published or "")}
            )
        body["ExposedPorts"] = exposed
        host["PortBindings"] = bindings

    mounts: list[dict[str, Any]] = []
    for m in config.mounts:
        if m.kind == "volume":
            mounts.append(
                {"Type": "volume", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
            )
        elif m.kind == "anonymous":
            mounts.append({"Type": "volume", "Target": m.target, "ReadOnly": m.read_only})
        if m.nocopy and m.kind in ("volume", "anonymous"):
            mounts[-1]["VolumeOptions"] = {"NoCopy": True}
        elif m.kind == "tmpfs":
            opts: dict[str, Any] = {}
            if m.tmpfs_size is not None:
                opts["SizeBytes"] = m.tmpfs_size
            if m.mode is not None:
                opts["Mode"] = m.mode
            mounts.append(
                {"Type": "tmpfs", "Target": m.target, "ReadOnly": m.read_only, "TmpfsOptions": opts}
            )
        elif m.kind == "bind" and not (copies_files and copied(m)):
            options = ",".join((*(("ro",) if m.read_only else ()), *m.bind_options))
            binds.append(f"{m.source}:{m.target}" + (f":{options}" if options else ""))
    if mounts:
        host["Mounts"] = mounts
    if binds:
        host["Binds"] = binds

    name, _, count = config.restart.partition(":")
    policy: dict[str, Any] = {"Name": name}
    if name == "on-failure" and count:
        policy["MaximumRetryCount"] = int(count)
    host["RestartPolicy"] = policy

    if config.network_mode is not None:
        host["NetworkMode"] = config.network_mode
    elif config.networks:
        first = config.networks[0]
        host["NetworkMode"] = first.name
        endpoint: dict[str, Any] = {"Aliases": list(first.aliases)}
        ipam = {
            k: v
            for k, v in (("IPv4Address", first.ipv4_address), ("IPv6Address", first.ipv6_address))
            if v
        }
        if ipam:
            endpoint["IPAMConfig"] = ipam
        if config.links:
            endpoint["Links"] = list(config.links)
        if first.mac_address:
            # Engines before API 1.44 read the primary network's MAC from the config.
            body["MacAddress"] = first.mac_address
            endpoint["MacAddress"] = first.mac_address
        body["NetworkingConfig"] = {"EndpointsConfig": {first.name: endpoint}}

    if config.cpus is not None:
        host["NanoCpus"] = int(config.cpus * _NS)
    if config.memory is not None:
        host["Memory"] = config.memory
    if config.memory_reservation is not None:
        host["MemoryReservation"] = config.memory_reservation
    if config.pids is not None:
        host["PidsLimit"] = config.pids
    if config.init is not None:
        host["Init"] = config.init
    if config.cap_add:
        host["CapAdd"] = list(config.cap_add)
    if config.cap_drop:
        host["CapDrop"] = list(config.cap_drop)
    if config.devices:
        host["Devices"] = [
            {"PathOnHost": h, "PathInContainer": c, "CgroupPermissions": p}
            for h, c, p in config.devices
        ]
    if config.read_only:
        host["ReadonlyRootfs"] = True
    if config.privileged:
        host["Privileged"] = True
    _compose_keys(config, body, host)
    return body


_KEPT_AS_SENT = (
    "LogConfig",
    "Ulimits",
    "Sysctls",
    "ShmSize",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "ExtraHosts",
    "SecurityOpt",
    "IpcMode",
    "GroupAdd",
    "OomScoreAdj",
    "CpuShares",
    "CpusetCpus",
    "DeviceCgroupRules",
)


def _ipam_body(net: DesiredNetwork) -> dict[str, Any] | None:
    if net.ipam is None:
        return None
    pools = []
    for p in net.ipam.pools:
        pool: dict[str, Any] = {"Subnet": p.subnet}
        if p.gateway:
            pool["Gateway"] = p.gateway
        if p.ip_range:
            pool["IPRange"] = p.ip_range
        if p.aux_addresses:
            pool["AuxiliaryAddresses"] = dict(p.aux_addresses)
        pools.append(pool)
    return {
        "Driver": net.ipam.driver or "default",
        "Config": pools,
        "Options": dict(net.ipam.options),
    }


def _compose_keys(config: ContainerConfig, body: dict[str, Any], host: dict[str, Any]) -> None:
    """The settings that Compose services carry beyond the first release's set."""
    if config.tty:
        body["Tty"] = True
    if config.stdin_open:
        body["OpenStdin"] = True
    if config.domainname:
        body["Domainname"] = config.domainname
    if config.log_driver or config.log_options:
        host["LogConfig"] = {
            "Type": config.log_driver or "",
            "Config": dict(config.log_options),
        }
    if config.ulimits:
        host["Ulimits"] = [{"Name": n, "Soft": s, "Hard": h} for n, s, h in config.ulimits]
    if config.sysctls:
        host["Sysctls"] = dict(config.sysctls)
    if config.shm_size is not None:
        host["ShmSize"] = config.shm_size
    for key, values in (
        ("Dns", config.dns),
        ("DnsSearch", config.dns_search),
        ("DnsOptions", config.dns_options),
        ("SecurityOpt", config.security_opt),
        ("GroupAdd", config.group_add),
    ):
        if values:
            host[key] = list(values)
    if config.extra_hosts:
        host["ExtraHosts"] = [f"{name}:{ip}" for name, ip in config.extra_hosts]
    if config.pid_mode:
        host["PidMode"] = config.pid_mode
    if config.ipc_mode:
        host["IpcMode"] = config.ipc_mode
    if config.oom_score_adj is not None:
        host["OomScoreAdj"] = config.oom_score_adj
    if config.cgroup_parent:
        host["CgroupParent"] = config.cgroup_parent
    for key, value in (
        ("CpuShares", config.cpu_shares),
        ("CpuQuota", config.cpu_quota),
        ("CpuPeriod", config.cpu_period),
        ("CpusetCpus", config.cpuset),
        ("MemorySwap", config.memory_swap),
        ("MemorySwappiness", config.memory_swappiness),
        ("UsernsMode", config.userns_mode),
        ("UTSMode", config.uts_mode),
        ("CgroupnsMode", config.cgroupns_mode),
    ):
        if value is not None:
            host[key] = value
    if config.oom_kill_disable:
        host["OomKillDisable"] = True
    if config.device_cgroup_rules:
        host["DeviceCgroupRules"] = list(config.device_cgroup_rules)
    if config.storage_opt:
        host["StorageOpt"] = dict(config.storage_opt)
    if config.device_requests:
        host["DeviceRequests"] = [
            {
                "Driver": r.driver,
                "Count": r.count,
                "DeviceIDs": list(r.device_ids),
                "Capabilities": [list(r.capabilities)] if r.capabilities else [],
                "Options": dict(r.options),
            }
            for r in config.device_requests
        ]


def _container(raw: Mapping[str, Any]) -> ObservedContainer:
    status = str(raw.get("Status", ""))
    health = None
    if "(healthy)" in status:
        health = "healthy"
    elif "(unhealthy)" in status:
        health = "unhealthy"
    elif "(health: starting)" in status:
        health = "starting"
    exit_match = _EXIT.search(status)
    names = raw.get("Names") or ["/"]
    nets = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    return ObservedContainer(
        id=str(raw["Id"]),
        name=str(names[0]).lstrip("/"),
        state=str(raw.get("State", "")),
        labels=dict(raw.get("Labels") or {}),
        health=health,
        exit_code=int(exit_match.group(1)) if exit_match else None,
        image=str(raw.get("Image", "")),
        image_id=str(raw.get("ImageID", "")),
        networks=tuple(sorted(nets)),
        status=status,
    )


def _port_set(bindings: Any) -> set[tuple[str, str, str]]:
    return {
        (key, b.get("HostIp") or "", b.get("HostPort") or "")
        for key, binds in (bindings or {}).items()
        for b in binds or []
    }


def _image_refs(images: list[Mapping[str, Any]]) -> set[str]:
    refs: set[str] = set()
    for image in images:
        refs.add(str(image.get("Id", "")))
        for tag in image.get("RepoTags") or []:
            if tag != "<none>:<none>":
                refs.add(normalize_image_ref(tag))
        for digest in image.get("RepoDigests") or []:
            if not digest.startswith("<none>"):
                refs.add(normalize_image_ref(digest))
    return refs


def _image_ids(images: list[Mapping[str, Any]]) -> dict[str, str]:
    """Each tag and digest reference (normalized) -> the id of the image it names."""
    ids: dict[str, str] = {}
    for image in images:
        image_id = str(image.get("Id", ""))
        for ref in [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]:
            if not str(ref).startswith("<none>"):
                ids[normalize_image_ref(str(ref))] = image_id
    return ids


# TLS alerts a server sends when it does not accept the client's certificate.
_CLIENT_CERT_ALERTS = (
    "bad certificate",
    "unknown ca",
    "certificate required",
    "certificate unknown",
)


def _inner(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (docker, requests and urllib3 each add a layer), outer first."""
    seen: set[int] = set()
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested.extend(current.args)
        todo.extend(e for e in nested if isinstance(e, BaseException))
    return found


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ssl.SSLError somewhere inside the wrappers of `exc`."""
    return next((e for e in _inner(exc) if isinstance(e, ssl.SSLError)), None)


def _reason(exc: Exception) -> str:
    """The root cause of a failed connection in a few words, else the (shortened) error."""
    for inner in _inner(exc):
        if isinstance(inner, ConnectionRefusedError):
            return "connection refused"
        if isinstance(inner, FileNotFoundError) and inner.errno is not None:
            return "no such socket"
        if isinstance(inner, socket.gaierror):
            return f"cannot resolve the host name ({inner.strerror})"
        if isinstance(inner, TimeoutError | requests.exceptions.Timeout):
            return "timed out"
    return _short(exc).removeprefix("Error while fetching server API version: ")


def _tls_problem(exc: BaseException, tls: EngineTLS | None) -> str | None:
    """What went wrong in a TLS handshake, said in terms of the host's spec.tls files."""
    err = _ssl_error(exc)
    ca = f" ({tls.ca})" if tls is not None else ""
    cert = f" ({tls.cert})" if tls is not None else ""
    hung_up = (
        "the engine hung up during the handshake, which is how it refuses a client "
        f"certificate it does not trust: check that spec.tls.certFile{cert} is signed by "
        "the CA given to dockerd --tlscacert"
    )
    if err is None:
        if tls is not None and any(isinstance(e, ConnectionResetError) for e in _inner(exc)):
            return f"TLS handshake failed: {hung_up}"
        return None
    text = str(err)
    lowered = text.lower()
    if isinstance(err, ssl.SSLEOFError):
        # With TLS 1.3 the server checks our certificate after the client finished its part
        # of the handshake; a refusal then shows up as EOF or as the alert, whichever wins.
        detail = hung_up
    elif isinstance(err, ssl.SSLCertVerificationError):
        why = str(err.verify_message or err.reason or text)
        if "local issuer" in why or "self-signed" in why or "self signed" in why:
            detail = f"the engine's certificate is not signed by spec.tls.caFile{ca}"
        elif "mismatch" in why:
            detail = (
                "the engine's certificate does not name the address in spec.url "
                f"({why}); reissue it with that address in its subjectAltName"
            )
        elif "expired" in why:
            detail = "the engine's certificate has expired"
        else:
            detail = f"the engine's certificate was rejected: {why}"
    elif any(alert in lowered for alert in _CLIENT_CERT_ALERTS):
        detail = (
            f"the engine refused our client certificate spec.tls.certFile{cert}: it is not "
            "signed by a CA the engine trusts (dockerd --tlscacert)"
        )
    elif "wrong version number" in lowered or "record layer failure" in lowered:
        detail = "the engine does not speak TLS on this port (is dockerd started with --tlsverify?)"
    else:
        detail = str(err.reason or text)
    return f"TLS handshake failed: {detail}"


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"


def _logs_hint(logs: str) -> str:
    return f"; its last log lines:\n{logs}" if logs else ""
