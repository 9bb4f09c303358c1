"""Registries: the credentials to pull from one, and what a failed pull means, said
so a user knows what to do.

Credentials come from an App's `spec.registries` (a password held in one of the
app's secrets) or else from the Docker config file of the user running dockyard
(`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: what `docker login`
writes), read again at every pull so a new `docker login` counts at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import docker.auth
import docker.errors
import docker.utils.config

from dockyard.state.desired import RegistryLogin
from dockyard.state.refs import DOCKER_HUB, registry_of

from .errors import EngineError


class PullAuth:
    """Credentials for one registry, ready to send with a pull. Never shows the password."""

    def __init__(
        self, server: str, username: str, password: str, source: str, token: str = ""
    ) -> None:
        self.server = server
        self.username = username
        self._password = password
        self._token = token  # an identity token (OAuth refresh token) from `docker login`
        self.source = source  # where they came from, for error messages

    def __repr__(self) -> str:
        return f"PullAuth({self.server!r}, user {self.username!r}, from {self.source})"

    def config(self) -> dict[str, str]:
        """The X-Registry-Auth body the engine wants."""
        if self._token:
            return {"identitytoken": self._token, "serveraddress": self.server}
        return {
            "username": self.username,
            "password": self._password,
            "serveraddress": self.server,
        }


class PullError(EngineError):
    """A pull failed; `reason` says how: auth, unreachable, not-found or other."""

    def __init__(self, message: str, reason: str, image: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.image = image


def pull_auth(login: RegistryLogin | None, secrets: Mapping[str, Any]) -> PullAuth | None:
    """The credentials of a `spec.registries` entry, its password read from the app's
    secrets (values with `reveal()`); None without an entry (the Docker config file then)."""
    if login is None:
        return None
    secret = secrets.get(login.password_secret)
    if secret is None:
        raise EngineError(
            f"registry {login.server}: secret {login.password_secret} (its passwordSecret) "
            "has no value"
        )
    password = secret.reveal()
    if isinstance(password, bytes):
        password = password.decode().rstrip("\r\n")
    return PullAuth(
        login.server,
        login.username,
        str(password),
        f"spec.registries[{login.server}] (secret {login.password_secret})",
    )


def docker_config_auth(registry: str) -> PullAuth | None:
    """Credentials for `registry` from the Docker config file (and its credential
    helpers), read now; None when it has none."""
    path = docker.utils.config.find_config_file()
    if path is None:
        return None
    try:
        config = docker.auth.load_config(config_path=path)
        found: dict[str, Any] | None = config.resolve_authconfig(
            None if registry == DOCKER_HUB else registry
        )
    except (docker.errors.DockerException, OSError, ValueError) as exc:
        raise EngineError(f"cannot read the Docker config file {path}: {exc}") from None
    if not found:
        return None
    username = str(found.get("username") or found.get("Username") or "")
    password = str(found.get("password") or found.get("Password") or "")
    token = str(found.get("IdentityToken") or found.get("identitytoken") or "")
    if not username and not password and not token:
        return None
    return PullAuth(registry, username, password, f"Docker config file {path}", token)


_AUTH_REFUSED = (
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "denied",
)
# HTTP 401 as a status, never as digits inside an address ("127.0.0.1:54015" is not a 401).
_STATUS_401 = re.compile(r"(?<![\w.:/-])401(?![\w.:/-])")
_UNREACHABLE = (
    "connection refused",
    "no such host",
    "i/o timeout",
    "timeout exceeded",
    "tls handshake timeout",
    "network is unreachable",
    "no route to host",
    "dial tcp",
)


def pull_error(ref: str, auth: PullAuth | None, explanation: str, context: str = "") -> PullError:
    """A failed pull in words that say what to do next."""
    registry = registry_of(ref)
    what = f"{ref} ({context})" if context else ref
    text = explanation.strip()
    lowered = text.lower()
    if "server gave http response to https client" in lowered:
        return PullError(
            f"registry {registry} speaks plain HTTP, pulling {what}: list it in the engine's "
            "insecure-registries (dockerd allows 127.0.0.0/8 by default) or serve it over TLS",
            "unreachable",
            ref,
        )
    # A registry that cannot be reached is that, whatever words its address holds.
    if any(k in lowered for k in _UNREACHABLE):
        return PullError(
            f"registry {registry} is unreachable, pulling {what}: {_short(text)}",
            "unreachable",
            ref,
        )
    if any(k in lowered for k in _AUTH_REFUSED) or _STATUS_401.search(lowered):
        if auth is not None:
            return PullError(
                f"registry {registry} refused the credentials for user "
                f"{auth.username or '(identity token)'} "
                f"pulling {what}: check the username and password in {auth.source}",
                "auth",
                ref,
            )
        if "does not exist" in lowered:
            return PullError(
                f"registry {registry} refused to pull {what}: the repository does not exist, "
                f"or it is private and needs credentials (add {registry} to the app's "
                f"spec.registries, or run `docker login {registry}` as the user running "
                "dockyard)",
                "auth",
                ref,
            )
        return PullError(
            f"registry {registry} wants credentials to pull {what} and none were found: "
            f"add {registry} to the app's spec.registries (username and passwordSecret) "
            f"or run `docker login {registry}` as the user running dockyard",
            "auth",
            ref,
        )
    if "manifest unknown" in lowered or "not found" in lowered or "does not exist" in lowered:
        return PullError(
            f"image {what} is not in registry {registry}: check its name and tag "
            f"(the registry said: {_short(text)})",
            "not-found",
            ref,
        )
    return PullError(f"pull {what} from {registry}: {_short(text)}", "other", ref)


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:300] + "…"
