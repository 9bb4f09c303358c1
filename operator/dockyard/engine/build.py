"""Content-addressed build tags: the same inputs give the same tag, so nothing is rebuilt."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from docker.utils.build import exclude_paths

from dockyard.spec.models import Build


def context_digest(build: Build) -> str:
    """A hash of everything a build reads: files in the context (minus .dockerignore),
    the Dockerfile, the target and the build args."""
    root = Path(build.context)
    patterns: list[str] = []
    ignore = root / ".dockerignore"
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    digest = hashlib.sha256()
    digest.update(f"dockerfile={build.dockerfile}\0target={build.target or ''}\0".encode())
    for key, value in sorted(build.args.items()):
        digest.update(f"arg {key}={value}\0".encode())
    dockerfile = root / build.dockerfile
    digest.update(b"dockerfile-content\0" + dockerfile.read_bytes() + b"\0")
    for rel in sorted(exclude_paths(str(root), patterns, dockerfile=build.dockerfile)):
        path = root / rel
        st = path.lstat()
        digest.update(f"{rel}\0{st.st_mode & 0o777}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def build_tag(app: str, service: str, image: str | None, digest: str) -> str:
    """`<repository>:dy-<hash>`: the user's repository if `image:` names one."""
    repo = f"dockyard.local/{app}-{service}"
    if image:
        name = image.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        repo = name.rsplit(":", 1)[0] if ":" in last else name
    return f"{repo}:dy-{digest[:16]}"
