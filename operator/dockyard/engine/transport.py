"""The HTTP client of one engine, made on first use, counting the requests it makes."""

from __future__ import annotations

from typing import Any

import docker
import docker.tls

from .tls import EngineTLS


class CountingAPIClient(docker.APIClient):  # type: ignore[misc]
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


def open_api(
    url: str | None,
    tls: EngineTLS | None,
    use_ssh_client: bool,
    timeout: int,
    pool_size: int,
) -> CountingAPIClient:
    """A client for the engine at `url` (else DOCKER_HOST or the local socket). Making it
    asks the engine for its API version (`version="auto"`), so it fails with Docker's
    DockerException when the engine cannot be reached or the URL or TLS cannot be used."""
    kwargs: dict[str, Any] = {
        "version": "auto",
        "timeout": timeout,
        "max_pool_size": pool_size,
    }
    if tls is not None:
        kwargs["tls"] = docker.tls.TLSConfig(
            client_cert=(tls.cert, tls.key),
            ca_cert=tls.ca,
            verify=tls.verify,
        )
    if use_ssh_client:
        kwargs["use_ssh_client"] = True
    if url:
        return CountingAPIClient(base_url=url, **kwargs)
    env = docker.utils.kwargs_from_env()
    env.update(kwargs)
    return CountingAPIClient(**env)
