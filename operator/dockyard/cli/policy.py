"""`--policy FILE`: what manifest authors may not ask for (see docs/security.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def _use_policy(value: Path | None) -> Path | None:
    # Checked before any engine is asked, then handed to every load in this process
    # (folders, git, Kubernetes, MQTT payloads) through the environment variable.
    if value is None:
        return None
    from dockyard.spec.policy import ENV_VAR, PolicyError, read_policy

    try:
        read_policy(value)
    except PolicyError as exc:
        raise typer.BadParameter(f"{value}: {exc}") from None
    os.environ[ENV_VAR] = str(value.absolute())
    return value


PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        envvar="DOCKYARD_POLICY",
        metavar="FILE",
        callback=_use_policy,
        help="A policy file (kind: Policy): refuse privileged, host networking, host paths "
        "outside its list, added capabilities and devices it does not allow, at validation "
        "(see docs/security.md).",
    ),
]
