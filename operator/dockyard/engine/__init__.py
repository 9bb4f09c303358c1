"""Everything that talks to a Docker engine: the client per host, the observed-state cache
fed by its events, pulls, builds, image copies between engines, delivery of secrets and
files to the host. Only this package imports the Docker SDK. (What an engine holds, as
plain values, is `dockyard.state`.)

The names below are the package's public surface. They are loaded on first use, so
`import dockyard.engine` (and a CLI command that needs only an error type) does not pay
for the Docker SDK.
"""

# typing.TYPE_CHECKING without importing typing (mypy reads this name the same way);
# no other import either: this module is on the CLI's start-up path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .cache import EngineCache
    from .client import Engine
    from .errors import EngineError, EngineUnavailable
    from .registry import PullAuth, PullError, pull_auth
    from .secrets import SecretStore
    from .tls import EngineTLS
    from .transfer import ImageSources, ImageUnavailable, local_sources

# public name -> the module (of this package) that defines it
_WHERE = {
    "Engine": "client",
    "EngineCache": "cache",
    "EngineError": "errors",
    "EngineUnavailable": "errors",
    "EngineTLS": "tls",
    "ImageSources": "transfer",
    "ImageUnavailable": "transfer",
    "PullAuth": "registry",
    "PullError": "registry",
    "SecretStore": "secrets",
    "local_sources": "transfer",
    "pull_auth": "registry",
}

__all__ = [
    "Engine",
    "EngineCache",
    "EngineError",
    "EngineTLS",
    "EngineUnavailable",
    "ImageSources",
    "ImageUnavailable",
    "PullAuth",
    "PullError",
    "SecretStore",
    "local_sources",
    "pull_auth",
]


def __getattr__(name: str) -> "Any":
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value  # found once; later reads do not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
