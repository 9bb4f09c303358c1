"""Which engine a command talks to, decided as the docker CLI decides it.

`--host` first, then `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), then
the `docker context` named by `DOCKER_CONTEXT` or by `currentContext` in the docker
config (`$DOCKER_CONFIG`, else `~/.docker`), else the local socket. An engine reached
over tcp:// or ssh:// is another machine: files are copied to it, never bind-mounted.
Standard library only: `dockyard version` reads this before anything heavy loads.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing.TYPE_CHECKING (mypy knows the name), without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dockyard.engine.client import Engine
    from dockyard.engine.tls import EngineTLS

# Imports stay inside the functions that need them (json, hashlib, dataclasses): this
# module is on the path of `dockyard version`, which must start as fast as Python.

LOCAL_SOCKET = "unix:///var/run/docker.sock"


class DockerEnvError(ValueError):
    """The environment or the docker config names an engine that cannot be used."""


class EngineTarget:
    """What `Engine(url, tls=…, use_ssh_client=…, copies_files=…)` takes, and why."""

    __slots__ = ("source", "tls", "url", "use_ssh_client")

    def __init__(
        self,
        url: str | None,  # None: the local socket, as the Docker SDK finds it
        tls: EngineTLS | None = None,
        use_ssh_client: bool = False,
        source: str = "default",  # --host, DOCKER_HOST, context NAME, default
    ) -> None:
        self.url = url
        self.tls = tls
        self.use_ssh_client = use_ssh_client
        self.source = source

    def __repr__(self) -> str:
        return f"EngineTarget({self.url!r}, tls={self.tls!r}, source={self.source!r})"

    @property
    def copies_files(self) -> bool:
        return self.url is not None and not self.url.startswith("unix://")

    @property
    def socket_path(self) -> str:
        """The unix socket's path, or "" for an engine on another machine."""
        if self.url is None:
            return LOCAL_SOCKET.removeprefix("unix://")
        return self.url.removeprefix("unix://") if self.url.startswith("unix://") else ""

    def engine(self, **kwargs: Any) -> Engine:
        from dockyard.engine.client import Engine

        return Engine(
            self.url,
            tls=self.tls,
            use_ssh_client=self.use_ssh_client,
            copies_files=self.copies_files,
            **kwargs,
        )


def config_dir(env: Mapping[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def resolve(host: str | None, env: Mapping[str, str] | None = None) -> EngineTarget:
    """The engine for `--host HOST` (None when not given) in environment `env`."""
    env = os.environ if env is None else env
    if host:
        return _from_url(host, "--host", _env_tls(env))
    if env.get("DOCKER_HOST"):
        return _from_url(env["DOCKER_HOST"], "DOCKER_HOST", _env_tls(env))
    name = env.get("DOCKER_CONTEXT") or _current_context(env)
    if name and name != "default":
        return _from_context(name, env)
    return EngineTarget(None)


def _from_url(url: str, source: str, tls: EngineTLS | None) -> EngineTarget:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "unix":
        return EngineTarget(url, source=source)
    if scheme == "ssh":
        # As for a DockerHost: the system ssh (keys from ssh-agent and ~/.ssh/config).
        return EngineTarget(url, use_ssh_client=True, source=source)
    if scheme in ("tcp", "http", "https"):
        return EngineTarget("tcp://" + url.partition("://")[2], tls=tls, source=source)
    raise DockerEnvError(
        f"{source} {url!r} is not an engine address: use unix:///path/to/docker.sock, "
        "tcp://HOST:PORT or ssh://USER@HOST"
    )


def _env_tls(env: Mapping[str, str]) -> EngineTLS | None:
    """DOCKER_TLS_VERIFY (any non-empty value) with the PEM files in DOCKER_CERT_PATH."""
    if not env.get("DOCKER_TLS_VERIFY"):
        return None
    certs = env.get("DOCKER_CERT_PATH") or config_dir(env)
    return _tls_files(certs, verify=True, what="DOCKER_CERT_PATH")


def _tls_files(folder: str, verify: bool, what: str) -> EngineTLS:
    from dockyard.engine.tls import EngineTLS

    files = [os.path.join(folder, n) for n in ("ca.pem", "cert.pem", "key.pem")]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DockerEnvError(
            f"TLS to the engine needs {', '.join(missing)} ({what}: ca.pem, cert.pem, key.pem)"
        )
    return EngineTLS(ca=files[0], cert=files[1], key=files[2], verify=verify)


def _current_context(env: Mapping[str, str]) -> str | None:
    import json

    path = os.path.join(config_dir(env), "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DockerEnvError(f"cannot read the docker config {path}: {exc}") from None
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def _from_context(name: str, env: Mapping[str, str]) -> EngineTarget:
    import hashlib
    import json

    # The docker CLI keeps a context under the sha256 of its name.
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    root = os.path.join(config_dir(env), "contexts")
    meta = os.path.join(root, "meta", digest, "meta.json")
    try:
        with open(meta, encoding="utf-8") as f:
            data = json.load(f)
        endpoint = data["Endpoints"]["docker"]
        url = str(endpoint["Host"])
    except FileNotFoundError:
        raise DockerEnvError(
            f"docker context {name!r} does not exist (no {meta}); see `docker context ls`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DockerEnvError(f"docker context {name!r}: cannot read {meta} ({exc})") from None
    tls_dir = os.path.join(root, "tls", digest, "docker")
    tls = None
    if url.startswith(("tcp://", "https://")) and os.path.isdir(tls_dir):
        verify = not bool(endpoint.get("SkipTLSVerify"))
        tls = _tls_files(tls_dir, verify=verify, what=f"docker context {name}")
    return _from_url(url, f"context {name}", tls)
