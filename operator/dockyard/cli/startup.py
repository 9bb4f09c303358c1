"""What the CLI answers before typer loads: `--help`, `dockyard --version`, `dockyard version`,
and a no-op `apply` or `diff` whose memo still holds (cli/noop_memo.py).

They are asked by scripts and people to see whether dockyard works at all, so they answer
in the time Python itself takes to start: the standard library only, one raw request to a
local engine (engine/version_probe.py) instead of the Docker SDK, and help pages rendered
by typer ahead of time (cli/help_pages.py; a test keeps them equal to typer's output).
"""

from __future__ import annotations

import os
import sys

from dockyard import __version__

# Click wraps help to min(terminal width, 80) - 2 columns: the same page on any terminal at
# least this wide (and when not a terminal: 80 then).
HELP_COLUMNS = 80


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


def help_page(args: list[str]) -> str | None:
    """The pre-rendered page of `dockyard [COMMAND...] --help`, when it is what typer would
    print here; None sends the question to typer."""
    if not args or args[-1] != "--help" or os.path.basename(sys.argv[0]) != "dockyard":
        return None  # `python -m dockyard` names itself differently in its usage line
    import shutil

    if shutil.get_terminal_size().columns < HELP_COLUMNS:
        return None
    from .help_pages import PAGES

    return PAGES.get(" ".join(args[:-1]))


def main() -> None:
    """The `dockyard` command (pyproject's script and `python -m dockyard`)."""
    args = sys.argv[1:]
    page = help_page(args)
    if page is not None:
        sys.stdout.write(page)
        return
    if args == ["--version"]:
        sys.stdout.write(client_version() + "\n")
        return
    if args == ["version"]:
        show_version(None)
        return
    if args[:1] in (["apply"], ["diff"], ["plan"]):
        from .noop_memo import answer

        if answer(args):  # nothing it reads has changed since it last found nothing to do
            return
    from .main import main as run

    run()
