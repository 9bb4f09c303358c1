"""Turning a `dockyard run SOURCE` argument into a Source: a folder or a git repository."""

from __future__ import annotations

import re
from pathlib import Path

from dockyard.controller.source import Source

from .folder import FolderSource
from .git import GitSource, parse_git_source, redact

_GIT_SCHEMES = ("git+", "https://", "http://", "ssh://")
_SCP_LIKE = re.compile(r"^[^/:@\s]+@[^/:\s]+:")  # git@host:org/repo.git
_ANY_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

ACCEPTED = (
    "a folder or file path (./apps), or a git repository: git+file:///srv/apps.git, "
    "https://host/org/apps.git, http://…, ssh://git@host/org/apps.git or git@host:org/apps.git, "
    "optionally followed by #BRANCH, #BRANCH:PATH or #:PATH"
)


def source_from_arg(
    arg: str, *, interval_dir: float, interval_git: float, cache_dir: Path
) -> Source:
    """The Source a command-line argument names; ValueError saying what is accepted if none."""
    text = arg.strip()
    if not text:
        raise ValueError(f"empty source; expected {ACCEPTED}")
    if text.startswith(_GIT_SCHEMES) or _SCP_LIKE.match(text):
        url, branch, subpath = parse_git_source(text)
        return GitSource(url, branch, subpath, interval_git, cache_dir=cache_dir)
    if _ANY_SCHEME.match(text):
        raise ValueError(f"{redact(text)!r}: unsupported source; expected {ACCEPTED}")
    return FolderSource(Path(text), interval=interval_dir)
