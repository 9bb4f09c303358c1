"""What the CLI answers before typer loads: `dockyard --version` and `dockyard version`.

Both are asked by scripts and people to see whether dockyard works at all, so they
answer in the time Python itself takes to start: the standard library only, and one raw
request to a local engine (engine/version_probe.py) instead of the Docker SDK.
"""

from __future__ import annotations

import sys

from dockyard import __version__


def client_version() -> str:
    return f"dockyard {__version__}"


def show_version(host: str | None) -> None:
    """The client's version first (it needs no engine), then the engine's."""
    from dockyard.engine.errors import EngineError

    from .docker_env import DockerEnvError, resolve

    sys.stdout.write(client_version() + "\n")
    sys.stdout.flush()
    try:
        target = resolve(host)
        if target.socket_path:
            from dockyard.engine.version_probe import unix_engine_version

            engine = unix_engine_version(target.socket_path)
        else:
            engine = target.engine(pool_size=2, timeout=10).version()
    except (EngineError, DockerEnvError) as exc:
        sys.stdout.write(f"engine unreachable: {exc}\n")
        return
    sys.stdout.write(f"engine {engine}\n")


def main() -> None:
    """The `dockyard` command (pyproject's script and `python -m dockyard`)."""
    args = sys.argv[1:]
    if args == ["--version"]:
        sys.stdout.write(client_version() + "\n")
        return
    if args == ["version"]:
        show_version(None)
        return
    from .main import main as run

    run()
