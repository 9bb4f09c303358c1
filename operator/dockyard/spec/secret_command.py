"""Secrets read from a store's own CLI: `command: [aws, secretsmanager, …]`.

The command runs without a shell, in the manifest's folder, with no standard input and
a timeout. Its standard output is the value. Neither stdout nor stderr is ever logged
or repeated in an error (a store's CLI may echo the secret in an error message): a
failure names the secret, the program and its exit code only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from .errors import FieldError
from .models import App, AppSecret


def run_secret_command(sec: AppSecret, base_dir: Path, path: str) -> bytes | FieldError:
    """The value, or the error to report at `path` (the secret's field path)."""
    assert sec.command is not None
    program = sec.command[0]
    where = f"{path}.command"
    try:
        done = subprocess.run(
            sec.command,
            cwd=base_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=sec.timeout,
            check=False,
        )
    except FileNotFoundError:
        return FieldError(
            where,
            f"secret {sec.name}: program {program!r} not found",
            "install the store's CLI on this machine (on PATH), or give its full path",
        )
    except subprocess.TimeoutExpired:
        return FieldError(
            where,
            f"secret {sec.name}: {program} did not answer within {sec.timeout:g}s",
            "check the store is reachable, or raise the secret's timeout",
        )
    except OSError as exc:
        return FieldError(where, f"secret {sec.name}: cannot run {program}: {exc.strerror}")
    if done.returncode != 0:
        return FieldError(
            where,
            f"secret {sec.name}: {program} exited {done.returncode} "
            "(its output is not shown: it could hold the secret)",
            f"run the command by hand as this user to see why ({program} logged in? "
            "allowed to read it?)",
        )
    value = done.stdout
    if value.endswith(b"\r\n"):
        return value[:-2]
    return value[:-1] if value.endswith(b"\n") else value


def refresh_interval(apps: Iterable[App]) -> float | None:
    """How often the shortest `refresh` of these apps' command secrets asks a re-read."""
    periods = [s.refresh for a in apps for s in a.spec.secrets if s.refresh is not None]
    return min(periods) if periods else None
